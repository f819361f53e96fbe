/* The process around a model: start-up, listeners, signals, stats at exit.
 *
 * Shutdown is one mechanism for every model: SIGINT and SIGTERM are blocked in
 * every thread and taken by sigwait() in a thread of their own, which sets
 * `draining` and makes the eventfd `shutdown_fd` readable.  Each event loop
 * already waits on its sockets, so it waits on that descriptor too: no signal
 * handler, no EINTR games, no race between checking a flag and going to sleep.
 * A thread blocked in recv waits on one socket only; for those the signal
 * thread also calls the wake-up a model registered (server_on_drain), which
 * for the blocking models interrupts them (blocking.c).
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dbpool.h"
#include "net.h"
#include "server.h"
#include "work.h"

static char prog[64] = "srv";
/* Posted by the signal thread once it has started and is about to wait for a
 * signal (see server_init). */
static sem_t signal_thread_parked;
static atomic_flag stats_written = ATOMIC_FLAG_INIT;

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void note(const struct server *srv, const char *fmt, ...)
{
	va_list ap;

	if (srv->opts.quiet)
		return;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *proto_name(enum proto p)
{
	return p == PROTO_ECHO ? "echo" : "http";
}

/* Once per process, whoever gets here first (main, or the signal thread
 * giving up on a drain). */
static void write_stats(struct server *srv)
{
	FILE *f = stderr;

	if (atomic_flag_test_and_set(&stats_written))
		return;
	if (srv->opts.stats_file) {
		f = fopen(srv->opts.stats_file, "we");
		if (!f) {
			fprintf(stderr, "%s: --stats-file %s: %s (stats follow on stderr)\n",
				prog, srv->opts.stats_file, strerror(errno));
			f = stderr;
		}
	}
	int r = stats_write_json(&srv->stats, f, srv->model,
				 proto_name(srv->opts.proto), srv->cpu_iters_per_us);
	if (r < 0)
		fprintf(stderr, "%s: writing stats: %s\n", prog, strerror(-r));
	if (f != stderr)
		fclose(f);
}

void server_finish(struct server *srv)
{
	write_stats(srv);
}

static void *signal_thread(void *arg)
{
	struct server *srv = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sem_post(&signal_thread_parked);
	while (sigwait(&set, &sig) != 0)
		;
	int limit_ms = srv->opts.drain_timeout_ms;

	note(srv, "%s: draining (a second signal, or %d ms, forces the exit)",
	     strsignal(sig), limit_ms);
	atomic_store(&srv->draining, true);
	/* Cannot fail: the counter is nowhere near overflowing. */
	uint64_t one = 1;
	ssize_t w = write(srv->shutdown_fd, &one, sizeof one);
	(void)w;
	server_wake_fn wake = atomic_load(&srv->wake);
	if (wake)
		wake();

	struct timespec limit = {
		.tv_sec = limit_ms / 1000,
		.tv_nsec = (limit_ms % 1000) * 1000000L,
	};
	int again;
	while ((again = sigtimedwait(&set, NULL, &limit)) < 0 && errno == EINTR)
		;	/* an unrelated signal restarts the wait; harmless */
	fprintf(stderr, "%s: %s, exiting without finishing the drain (%llu waits cut)\n",
		prog, again > 0 ? "second signal" : "drain took too long",
		(unsigned long long)atomic_load(&srv->stats.waiting));
	write_stats(srv);
	_exit(1);
	return NULL;
}

void server_on_drain(struct server *srv, server_wake_fn fn)
{
	atomic_store(&srv->wake, fn);
}

void server_init(struct server *srv, int argc, char **argv, const char *model,
		 unsigned supported)
{
	char err[256];
	pthread_t t;
	sigset_t set;

	memset(srv, 0, sizeof *srv);
	snprintf(prog, sizeof prog, "srv-%s", model);
	srv->model = model;
	atomic_init(&srv->draining, false);
	atomic_init(&srv->wake, NULL);

	int r = opts_parse(&srv->opts, argc, argv, supported, err, sizeof err);
	if (r == 1) {
		opts_usage(stdout, prog, supported);
		exit(0);
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		opts_usage(stderr, prog, supported);
		exit(2);
	}

	signal(SIGPIPE, SIG_IGN);
	srv->shutdown_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->shutdown_fd < 0)
		die("eventfd: %s", strerror(errno));

	/* Blocked here, so in every thread created from now on. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* server_init returns only once the signal thread is parked in sigwait,
	 * where it holds no lock: prefork forks its workers right after, and a
	 * child inherits every lock as the parent's threads held it at the fork.
	 * glibc's malloc is fork-safe, but the sanitizers' allocator in gcc 12
	 * is not (LLVM made it so in 2023): a worker forked while the signal
	 * thread was still starting up hung for good in its first malloc of
	 * some size, on an allocator lock (docs/reliability.md). */
	if (sem_init(&signal_thread_parked, 0, 0) < 0)
		die("sem_init: %s", strerror(errno));
	if ((r = pthread_create(&t, NULL, signal_thread, srv)) != 0)
		die("signal thread: %s", strerror(r));
	pthread_detach(t);
	while (sem_wait(&signal_thread_parked) < 0 && errno == EINTR)
		;

	if (srv->opts.cpu_iters_per_us) {
		srv->cpu_iters_per_us = srv->opts.cpu_iters_per_us;
	} else {
		srv->cpu_iters_per_us = work_calibrate();
		note(srv, "calibrated --cpu-iters-per-us %llu",
		     (unsigned long long)srv->cpu_iters_per_us);
	}
	if ((r = net_reserve_init()) < 0)
		die("reserve descriptor: %s", strerror(-r));
	/* Opens nothing yet: a blocking model opens its connections as requests
	 * need them; an event model has a client per loop instead (dbloop.h). */
	if (srv->opts.db && dbpool_init(srv->opts.db, srv->opts.db_conns) < 0)
		die("out of memory");
}

void server_listen(struct server *srv, int *fds, int n, bool nonblock)
{
	int port = srv->opts.port;

	for (int i = 0; i < n; i++) {
		fds[i] = net_listen(srv->opts.host, port, srv->opts.backlog, n > 1, nonblock);
		if (fds[i] < 0)
			die("listen on %s:%d: %s", srv->opts.host, port, strerror(-fds[i]));
		if (i == 0 && port == 0) {
			port = net_local_port(fds[0]);
			if (port < 0)
				die("getsockname: %s", strerror(-port));
		}
	}
	if (port == 0)
		port = net_local_port(fds[0]);
	if (strchr(srv->opts.host, ':'))
		printf("listening on [%s]:%d\n", srv->opts.host, port);
	else
		printf("listening on %s:%d\n", srv->opts.host, port);
	fflush(stdout);
}
