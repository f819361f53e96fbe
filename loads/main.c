/* loadgen: the load generator of loopbench (docs/contract.md, "Load generator").
 *
 * main parses the command line, sets up one worker thread per -t (each with its
 * own epoll loop, see loop.c), fixes the phases once every connection is up, marks
 * the measured window's edges on stderr, then merges and reports the results.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "addr.h"
#include "loop.h"
#include "report.h"
#include "sched.h"
#include "util.h"
#include "worker.h"

#define FD_RESERVE	64	/* stdio, epoll, output files */

static struct run run;

/* The soft limit goes up to the hard one; if even that is too small, say so
 * before starting rather than fail connection by connection. */
static void raise_nofile(const struct lg_opts *o)
{
	struct rlimit rl;
	unsigned long long need = (unsigned long long)o->conns + o->threads + FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
		die("-c %u needs about %llu file descriptors but the limit is %llu "
		    "(hard limit %llu): raise it (ulimit -Hn / limits.conf) or use fewer connections",
		    o->conns, need, (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
}

static void build_requests(const struct lg_opts *o)
{
	run.mix_deck = 0;
	run.req = xcalloc(o->npaths, sizeof(*run.req));
	run.req_len = xcalloc(o->npaths, sizeof(*run.req_len));
	for (unsigned i = 0; i < o->npaths; i++) {
		size_t cap = strlen(o->paths[i].path) + strlen(o->target) + 64;
		char *b = xcalloc(1, cap);
		int n = snprintf(b, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", o->paths[i].path,
				 o->target, o->close ? "Connection: close\r\n" : "");

		run.req[i] = b;
		run.req_len[i] = (uint32_t)n;
		run.mix_deck += o->paths[i].weight;
	}
}

static void run_free(const struct lg_opts *o)
{
	for (unsigned i = 0; run.req && i < o->npaths; i++)
		free((char *)run.req[i]);
	free(run.req);
	free(run.req_len);
	echo_pattern_free(&run.echo);
	pthread_barrier_destroy(&run.barrier);
}

/* Sleeps until CLOCK_MONOTONIC time t, or until SIGINT/SIGTERM (blocked in every
 * thread, taken here).  Returns 1 if a signal came. */
static int wait_until(uint64_t t, const sigset_t *sigs)
{
	for (;;) {
		uint64_t now = mono_ns();
		struct timespec ts;

		if (now >= t)
			return 0;
		ts.tv_sec = (time_t)((t - now) / NS_PER_S);
		ts.tv_nsec = (long)((t - now) % NS_PER_S);
		if (sigtimedwait(sigs, NULL, &ts) > 0)
			return 1;
	}
}

static void measure_line(const char *what)
{
	fprintf(stderr, "measure %s\n", what);
	fflush(stderr);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* -n in closed loop: the window ends when every thread has started its share, or
 * early on a signal or when nothing has been answered for two timeouts (a dead or
 * hung server must not keep the run alive forever).  Returns the end time. */
static uint64_t wait_quota(struct worker *ws, unsigned nw, const sigset_t *sigs, int *early)
{
	uint64_t last = 0, last_change = mono_ns();
	uint64_t stall = 2 * (uint64_t)run.o->timeout_ms * NS_PER_MS;

	for (;;) {
		uint64_t now = mono_ns(), latest = 0, progress = 0;
		int all = 1;

		if (wait_until(now + NS_PER_MS, sigs)) {
			*early = 1;
			return mono_ns();
		}
		now = mono_ns();
		for (unsigned i = 0; i < nw; i++) {
			uint64_t d = atomic_load(&ws[i].quota_done_at);
			if (!d)
				all = 0;
			else if (d > latest)
				latest = d;
			progress += atomic_load_explicit(&ws[i].progress, memory_order_relaxed);
		}
		if (all)
			return latest;
		if (progress != last) {
			last = progress;
			last_change = now;
		} else if (now - last_change >= stall) {
			fprintf(stderr, "loadgen: nothing answered for %u ms; ending the window early\n",
				2 * run.o->timeout_ms);
			*early = 1;
			return now;
		}
	}
}

static double real_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --start-at: every connection is up; now wait for the wall-clock instant that
 * several generators were given, so that their windows coincide.  A generator
 * whose set-up took longer starts at once and says how late it is.  Returns 1 if
 * a signal came while waiting. */
static int wait_start_at(const sigset_t *sigs, struct result *res)
{
	double now = real_s(), at = run.o->start_at;

	res->start_late_ms = -1;
	if (at <= 0)
		return 0;
	if (now >= at) {
		res->start_late_ms = (now - at) * 1e3;
		return 0;
	}
	res->start_late_ms = 0;
	return wait_until(mono_ns() + (uint64_t)((at - now) * 1e9), sigs);
}

/* The times of the phases, fixed once every connection is up: the load (and the
 * open-loop schedule) starts now, the window after the warm-up. */
static void set_phases(void)
{
	const struct lg_opts *o = run.o;
	uint64_t t_end;

	run.t_start = mono_ns();
	run.real_minus_mono_s = real_s() - (double)run.t_start / 1e9;
	run.t_win = run.t_start + (uint64_t)(o->warmup_s * 1e9);
	if (o->duration_s > 0) {
		t_end = run.t_win + (uint64_t)(o->duration_s * 1e9);
	} else if (run.rate_mrps) {
		/* Open loop, -n: the window holds exactly the next N requests due. */
		struct sched g = { .t0 = run.t_start, .rate_mrps = run.rate_mrps, .stride = 1 };
		uint64_t k0 = run.t_win > g.t0 ? sched_count_global(&g, run.t_win - 1) : 0;
		t_end = sched_due_global(&g, k0 + o->nrequests);
	} else {
		t_end = UINT64_MAX;	/* closed loop, -n: when the threads are done */
	}
	atomic_store(&run.t_end, t_end);
}

/* Marks the window's edges on stderr and measures the process's CPU between
 * them, then waits for the drain.  Fills the window's part of res.  `stopped`:
 * a signal came before the load began. */
static void watch_window(struct worker *ws, const sigset_t *sigs, struct result *res,
			 int stopped)
{
	const struct lg_opts *o = run.o;
	uint64_t t_win = run.t_win, t_end = atomic_load(&run.t_end);
	struct rusage ru0, ru1;
	int in_window = 0;

	getrusage(RUSAGE_SELF, &ru0);
	if (stopped || wait_until(t_win, sigs)) {
		atomic_store(&run.abort, 1);	/* stopped during the warm-up: no window */
		res->ended_early = 1;
		t_end = t_win = mono_ns();
	} else {
		measure_line("start");
		getrusage(RUSAGE_SELF, &ru0);
		in_window = 1;
		if (t_end == UINT64_MAX) {
			t_end = wait_quota(ws, o->threads, sigs, &res->ended_early);
			atomic_store(&run.t_end, t_end);
		} else if (wait_until(t_end, sigs)) {
			res->ended_early = 1;
			t_end = mono_ns();
			atomic_store(&run.t_end, t_end);
		}
	}
	getrusage(RUSAGE_SELF, &ru1);
	if (in_window)
		measure_line("end");
	res->duration_s = t_end > t_win ? (double)(t_end - t_win) / 1e9 : 0;
	res->window_unix[0] = (double)t_win / 1e9 + run.real_minus_mono_s;
	res->window_unix[1] = res->window_unix[0] + res->duration_s;
	res->cpu_user_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
	res->cpu_sys_s = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
	/* The drain: a second signal stops it. */
	while (atomic_load(&run.finished) < o->threads)
		if (wait_until(mono_ns() + 10 * NS_PER_MS, sigs))
			atomic_store(&run.abort, 1);
	for (unsigned i = 0; i < o->threads; i++)
		pthread_join(ws[i].thread, NULL);
}

static void add_counts(struct counts *d, const struct counts *s)
{
	d->requests += s->requests;
	d->started += s->started;
	d->abandoned += s->abandoned;
	d->late += s->late;
	d->bytes_in += s->bytes_in;
	d->bytes_out += s->bytes_out;
	d->reconnects += s->reconnects;
	d->connect_local += s->connect_local;
	for (int k = 0; k < ERR_KINDS; k++)
		d->errors[k] += s->errors[k];
}

/* Sums the threads' counters and merges their histograms into the first
 * thread's, then applies the contract's rule for generator_bound. */
static void merge(struct worker *ws, struct result *res, double *busy)
{
	const struct lg_opts *o = run.o;

	for (unsigned i = 0; i < o->threads; i++) {
		struct worker *w = &ws[i];

		for (int a = 0; a < ACC_N; a++)
			add_counts(&res->cnt[a], &w->cnt[a]);
		if (run.rate_mrps) {
			uint64_t started = w->cnt[ACC_WARMUP].started + w->cnt[ACC_WINDOW].started;
			res->unsent += w->m_due > started ? w->m_due - started : 0;
		}
		for (int st = 0; st < CONN_NSTATES; st++)
			res->at_window[st] += w->at_window[st];
		busy[i] = w->busy;
		if (w->timeline_oom)
			fprintf(stderr, "loadgen: out of memory for the timeline; it is incomplete\n");
		if (!i)
			continue;
		hist_merge(ws[0].lat, w->lat);
		hist_merge(ws[0].lag, w->lag);
		if (w->lat_unc)
			hist_merge(ws[0].lat_unc, w->lat_unc);
		for (unsigned p = 0; o->mix && p < o->npaths; p++)
			hist_merge(ws[0].path_lat[p], w->path_lat[p]);
	}
	res->o = o;
	res->open_loop = run.rate_mrps != 0;
	res->lat = ws[0].lat;
	res->lat_unc = ws[0].lat_unc;
	res->lag = ws[0].lag;
	res->path_lat = ws[0].path_lat;
	res->busy = busy;
	res->nthreads = o->threads;
	res->generator_bound = hist_percentile(res->lag, 99.0) >= 1000;
	for (unsigned i = 0; i < o->threads; i++)
		if (busy[i] >= 0.9)
			res->generator_bound = 1;
}

/* Returns 0, or 1 if a file could not be written. */
static int write_outputs(struct worker *ws, const struct result *res, FILE *json, FILE *tlf)
{
	const struct lg_opts *o = run.o;
	int rc = 0;

	if (!o->quiet)
		report_summary(stdout, res);
	/* '|', not '||': the file is closed whatever happened before. */
	if (json && (report_json(json, res) | fclose(json))) {
		fprintf(stderr, "loadgen: writing %s failed\n", o->json);
		rc = 1;
	}
	if (tlf) {
		struct timeline **tls = xcalloc(o->threads, sizeof(*tls));

		for (unsigned i = 0; i < o->threads; i++)
			tls[i] = ws[i].tl;
		if (timeline_write_csv(tlf, tls, o->threads) | fclose(tlf)) {
			fprintf(stderr, "loadgen: writing %s failed\n", o->timeline);
			rc = 1;
		}
		free(tls);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static struct lg_opts o;
	static struct result res;
	char err[512];
	struct worker *ws;
	sigset_t sigs;
	FILE *json = NULL, *tlf = NULL;
	double *busy;
	int rc, stopped;

	rc = opts_parse(&o, argc, argv, err, sizeof(err));
	if (rc == 1) {
		fputs(opts_usage, stdout);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "loadgen: %s\n%s", err, opts_usage);
		return 2;
	}
	run.o = &o;
	if (addr_parse_target(o.target, &run.addr, &run.addrlen, err, sizeof(err))) {
		fprintf(stderr, "loadgen: %s\n", err);
		return 2;
	}
	addr_format((struct sockaddr *)&run.addr, res.addr, sizeof(res.addr));
	/* The guard: nothing is sent anywhere but loopback unless asked for. */
	if (!addr_is_loopback((struct sockaddr *)&run.addr) && !o.allow_remote) {
		fprintf(stderr, "loadgen: refusing target %s (%s): not a loopback address "
			"(127.0.0.0/8, ::1); --allow-remote loads another host\n", o.target, res.addr);
		return 2;
	}
	run.rate_mrps = o.rate > 0 ? sched_rate_mrps(o.rate) : 0;
	run.spread_src = run.addr.ss_family == AF_INET &&
			 addr_is_loopback((struct sockaddr *)&run.addr) && o.conns > 1000;
	raise_nofile(&o);
	if (o.json && !(json = fopen(o.json, "w")))
		die("cannot write %s: %s", o.json, strerror(errno));
	if (o.timeline && !(tlf = fopen(o.timeline, "w")))
		die("cannot write %s: %s", o.timeline, strerror(errno));
	if (o.proto == LG_HTTP)
		build_requests(&o);
	else if (echo_pattern_init(&run.echo, o.size))
		die("out of memory for %llu-byte echo messages", (unsigned long long)o.size);

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);	/* inherited: only main takes them */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	ws = xcalloc(o.threads, sizeof(*ws));
	for (unsigned i = 0; i < o.threads; i++) {
		uint32_t n = o.conns / o.threads + (i < o.conns % o.threads);
		uint64_t q = o.nrequests / o.threads + (i < o.nrequests % o.threads);
		worker_init(&ws[i], &run, i, n, q);
	}
	atomic_store(&run.t_end, UINT64_MAX);
	pthread_barrier_init(&run.barrier, NULL, o.threads + 1);
	for (unsigned i = 0; i < o.threads; i++) {
		rc = pthread_create(&ws[i].thread, NULL, loop_thread, &ws[i]);
		if (rc)
			die("pthread_create: %s", strerror(rc));
	}
	pthread_barrier_wait(&run.barrier);	/* connections are up (or failed once) */
	stopped = wait_start_at(&sigs, &res);
	set_phases();
	pthread_barrier_wait(&run.barrier);	/* the threads start the load */
	watch_window(ws, &sigs, &res, stopped);

	busy = xcalloc(o.threads, sizeof(*busy));
	merge(ws, &res, busy);
	rc = write_outputs(ws, &res, json, tlf);
	for (unsigned i = 0; i < o.threads; i++)
		worker_free(&ws[i]);
	free(ws);
	free(busy);
	run_free(&o);
	opts_free(&o);
	return rc;
}
