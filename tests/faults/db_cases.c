/* The database goes away under load: a fault outside the server that every
 * model meets the day PostgreSQL restarts.  What must hold, in every model:
 *
 * - a request whose query was in flight, or that comes while the database is
 *   away, is answered 503 at once (the load generator counts it as
 *   `unavailable`, its own kind) -- never a hang, a reset or a timeout;
 * - the server reconnects by itself, and /db answers 200 again within a
 *   second of the database's return (dbconn.h caps the back-off at 500 ms);
 * - the other routes are served all the while: a loop never waits for the
 *   database (GET / keeps its p99 while the database is down);
 * - nothing leaks: the server's descriptors and threads come back to what
 *   they were under the same load before the fault; SIGTERM still exits 0
 *   with the counts the contract's counting rule asks for.
 *
 * The database is $LOOPBENCH_DB, the cluster of `harness/pg run` that
 * mk/faults.mk runs the suite under; the cases stop and start its server with
 * `harness/pg ctl` ($LOOPBENCH_PG_CLUSTER), and leave it running.  "Away"
 * means shut down (pg_ctl stop -m fast: its sessions end, new connects are
 * refused), or hung (SIGSTOP: nothing closes, connects are accepted by the
 * kernel, nothing is answered -- only the clients' own deadlines,
 * DB_SILENT_MS and connect_timeout, turn that into 503s).
 *
 * iterative serves one connection at a time, so its loads use a new
 * connection per request (--close): the probe and the GET / stream then wait
 * behind one request at most, not behind a keep-alive client forever. */
#include "faults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "Within a second of the database's return". */
#define RECONNECT_MS	1000
/* The load generator's timeout: far above any answer a working server gives
 * here (a 503 is immediate), so a timeout is a request that hung. */
#define LG_TIMEOUT_MS	"3000"
/* With the database hung, a request is answered 503 once its query has
 * heard nothing for DB_SILENT_MS (2 s, servers/common/dbconn.h), or a
 * connect has timed out (2 s); a blocking model's request can meet both, one
 * after the other, waiting for a pooled connection and then connecting; node's
 * Pool bounds a request's wait for a connection at 5 s, after a query
 * timeout of 2 s.  So the hang lasts 10 s, and a request still unanswered
 * after 8 s is one the server held for as long as the database was away. */
#define HUNG_TIMEOUT_MS	"8000"
/* GET / beside the /db load, open loop, while the database is up and while it
 * is down.  A loop that waited for the database would hold it for a connect
 * or a silence (connect_timeout, DB_SILENT_MS: 2 s each), or sleep out a
 * back-off (100-500 ms) at each of 2,000 /db requests a second; a machine
 * shared with make test's other parts (sanitizer builds under load) moves a
 * p99 of a few ms by up to 400 ms (seen with threads, whose GET / never
 * touches the database).  So "keeps its p99": at most 3x its p99 with the
 * database up, plus 500 ms. */
#define BESIDE_RATE	"200"
#define DB_RATE		"2000"
#define STALL_FACTOR	3
#define STALL_SLACK_US	500000
/* 2,000 requests/s of 503 and 200 of GET / cost a C model a few percent of a
 * core and node a few tens; a loop spinning on a dead socket costs a whole one. */
#define SPIN_CORES	0.6
#define STOP_S		10
#define HUNG_S		10

struct lg {
	pid_t pid;
	char json[40];
	char timeline[40];
};

static const char *db_uri(void)
{
	return getenv("LOOPBENCH_DB");
}

/* False (and says why) when the suite runs without a database to take away. */
static bool db_present(const char *name)
{
	if (db_uri() && getenv("LOOPBENCH_PG_CLUSTER"))
		return true;
	f_not_applicable(name, "no database: $LOOPBENCH_DB and $LOOPBENCH_PG_CLUSTER are unset "
			 "(make test-faults runs the suite under harness/pg run)");
	return false;
}

/* harness/pg ctl WHAT on the suite's cluster: 0 once done. */
static int pg_ctl(const char *what)
{
	const char *argv[] = { "ctl", what, NULL };
	char err[512];
	int rc = child_run(fcfg.pg, argv, 60000, NULL, 0, err, sizeof err);

	if (rc != 0)
		fprintf(stderr, "\n    faults: harness/pg ctl %s: exit %d: %s", what, rc, err);
	return rc;
}

/* loadgen on path in a closed loop (rate NULL) or open loop, for secs seconds.
 * Its JSON and timeline go to temporary files. */
static int lg_start_t(struct lg *g, int port, const char *path, int conns, const char *rate,
		      int secs, const char *timeout_ms)
{
	char target[32], c[16], d[16];
	const char *argv[32];
	int n = 0, fd;

	snprintf(g->json, sizeof g->json, "/tmp/lb-faults-db-XXXXXX");
	snprintf(g->timeline, sizeof g->timeline, "/tmp/lb-faults-tl-XXXXXX");
	if ((fd = mkstemp(g->json)) < 0)
		return -1;
	close(fd);
	if ((fd = mkstemp(g->timeline)) < 0)
		return -1;
	close(fd);
	snprintf(target, sizeof target, "127.0.0.1:%d", port);
	snprintf(c, sizeof c, "%d", conns);
	snprintf(d, sizeof d, "%d", secs);
	argv[n++] = fcfg.loadgen;
	argv[n++] = "--proto";
	argv[n++] = "http";
	argv[n++] = "--target";
	argv[n++] = target;
	argv[n++] = "--path";
	argv[n++] = path;
	argv[n++] = "-c";
	argv[n++] = c;
	argv[n++] = "-d";
	argv[n++] = d;
	if (rate) {
		argv[n++] = "--rate";
		argv[n++] = rate;
	}
	if (fcfg.serializes)
		argv[n++] = "--close";
	argv[n++] = "--timeout-ms";
	argv[n++] = timeout_ms;
	argv[n++] = "--quiet";
	argv[n++] = "--json";
	argv[n++] = g->json;
	argv[n++] = "--timeline";
	argv[n++] = g->timeline;
	argv[n] = NULL;
	g->pid = f_spawn(argv);
	return g->pid > 0 ? 0 : -1;
}

static int lg_start(struct lg *g, int port, const char *path, int conns, const char *rate,
		    int secs)
{
	return lg_start_t(g, port, path, conns, rate, secs, LG_TIMEOUT_MS);
}

/* Waits for it (secs of load, its drain and some); its JSON, malloc'd, or NULL. */
static char *lg_finish(struct lg *g, int ms)
{
	int rc = g->pid > 0 ? f_wait_pid(g->pid, ms) : -1;

	g->pid = 0;
	return rc == 0 ? read_text(g->json) : NULL;
}

static void lg_discard(struct lg *g)
{
	if (g->pid > 0)
		f_wait_pid(g->pid, 0);
	g->pid = 0;
	if (g->json[0])
		unlink(g->json);
	if (g->timeline[0])
		unlink(g->timeline);
	g->json[0] = g->timeline[0] = '\0';
}

/* Every error kind but unavailable (503): each one a request that hung, was
 * reset, or got another answer. */
static long long other_errors(const char *json)
{
	static const char *const kinds[] = { "connect", "read", "write", "timeout", "status", NULL };
	long long n = 0;

	for (int i = 0; kinds[i]; i++)
		n += json_num_in(json, "errors", kinds[i]) + json_num_in(json, "warmup_errors", kinds[i]);
	return n;
}

/* The timeline's last complete second: its answers and errors (-1: none). */
static void last_second(const char *path, long long *answered, long long *errors, int window_s)
{
	char *t = read_text(path), *line;

	*answered = *errors = -1;
	for (line = t ? strchr(t, '\n') : NULL; line && *++line; line = strchr(line, '\n')) {
		int s;
		long long a, e;
		if (sscanf(line, "%d,%lld,%lld", &s, &a, &e) == 3 && s == window_s - 1) {
			*answered = a;
			*errors = e;
		}
	}
	free(t);
}

/* GET /db on a new connection every 20 ms until one answers 200: the ms it
 * took from `since`, or -1 after 5 s.  *asked counts the requests sent (each
 * answered, 200 or 503, and counted by the server).  When it took longer
 * than RECONNECT_MS / 2, the probes' outcomes are printed, each with the ms
 * from `since` at which it ended (503, or an error such as a timeout), so a
 * slow return says whether the server answered 503s or did not answer. */
static long long first_db_answer(int port, uint64_t since, int *asked)
{
	char trace[512] = "";
	size_t used = 0;
	long long back = -1;

	for (uint64_t end = now_ms() + 5000; now_ms() < end; sleep_ms(20)) {
		int rc = get_status(port, "/db", 200, 2000);
		long long at = (long long)(now_ms() - since);

		if (rc == 0 || rc == -EPROTO)
			(*asked)++;
		if (rc == 0) {
			back = at;
			break;
		}
		if (used < sizeof trace - 32) {
			int n = snprintf(trace + used, sizeof trace - used, " %s@%lld",
					 rc == -EPROTO ? "503" : strerror(-rc), at);
			used += n > 0 ? (size_t)n : 0;
		}
	}
	if (back < 0 || back > RECONNECT_MS / 2)
		printf("\n    probes of /db before its first 200 (outcome@ms):%s", trace);
	return back;
}

/* The server under a short /db load like the case's, so that the blocking
 * models' pools have opened their database connections: then its descriptors
 * and threads, which the case must come back to.  The load's JSON (for the
 * counting rule: it and settled_fds's one GET / are the server's first
 * requests), or NULL. */
static char *warmed(struct child *c, int conns, int *fds, int *threads)
{
	struct lg g = { 0 };
	char *j = NULL;
	bool ok = settled_fds(c) > 0 && lg_start(&g, c->port, "/db", conns, NULL, 1) == 0 &&
		  (j = lg_finish(&g, 10000)) != NULL && json_num(j, "requests") > 0;

	lg_discard(&g);
	sleep_ms(300);
	*fds = proc_fds(c->pid);
	*threads = proc_threads(c->pid);
	if (!ok || *fds <= 0 || *threads <= 0) {
		free(j);
		return NULL;
	}
	return j;
}

/* After the load: descriptors and threads back to the warmed-up figures
 * (within 5 s: lingering closes, exiting threads). */
static void nothing_leaked(struct child *c, int fds0, int threads0, const char *what)
{
	int fds = wait_fds_at_most(c->pid, fds0, 5000), th = proc_threads(c->pid);

	for (uint64_t end = now_ms() + 5000; th > threads0 && now_ms() < end; sleep_ms(50))
		th = proc_threads(c->pid);
	printf("\n    %s: descriptors %d before, %d after; threads %d before, %d after", what,
	       fds0, fds, threads0, th);
	CU_ASSERT(fds <= fds0);
	CU_ASSERT(th <= threads0);
}

/* The contract's counting rule over every load generator of the case, plus
 * `extra` requests the case sent and saw answered itself. */
static void counts_agree(const char *stats, const char *const jsons[], int n, int extra)
{
	long long srv = json_num(stats, "requests"), done = extra, maybe = 0;

	for (int i = 0; i < n; i++) {
		done += json_num(jsons[i], "requests") + json_num(jsons[i], "warmup_requests");
		maybe += json_num(jsons[i], "abandoned") + json_sum_object(jsons[i], "errors") +
			 json_sum_object(jsons[i], "warmup_errors");
	}
	printf("\n    counting rule: server %lld, clients answered %lld, errors or abandoned %lld",
	       srv, done, maybe);
	CU_ASSERT(srv >= done);
	CU_ASSERT(srv <= done + maybe);
}

static int load_conns(void)
{
	return fcfg.serializes ? 1 : 16;
}

/* prefork: 20 worker processes -- the 16 of the /db load, 2 of the GET / beside
 * it and a probe each have one -- all warmed up at once (one connection per
 * worker), since each worker opens its own database connection at its first
 * query: a worker that first met /db after the warm-up would look like a
 * leak. */
#define PREFORK_PROCS 20
static const char *const prefork_more[] = { "--procs", "20", NULL };

static const char *const *more_args(void)
{
	return fcfg.procs ? prefork_more : NULL;
}

static int warm_conns(void)
{
	return fcfg.procs ? PREFORK_PROCS : load_conns();
}

/* ---- the database restarted mid-run ---- */

/* 16 connections of /db for 6 s, open loop at DB_RATE requests/s; the
 * database restarts (pg_ctl restart -m fast) 1.5 s in.  Open loop, as in the
 * cases below: a closed loop of instant 503s keeps both cores busy, and the
 * database's new sessions then start slowly -- measured with prefork, whose 20
 * processes each reopen a connection: 100-530 ms per connect on a quiet
 * machine, over connect_timeout's 2 s under make test's parallel parts.  "Back
 * within a second" is about the server's reconnecting, not about a CPU its
 * own load has taken from the database. */
static void test_db_restart(void)
{
	const char *args[] = { "--db", db_uri(), NULL };
	struct child c = { 0 };
	struct lg g = { 0 };
	char *stats = NULL, *j = NULL, *jw = NULL;
	int fds0, th0, probes = 0;

	if (!db_present("the database restarted mid-run"))
		return;
	REQUIRE(f_start(&c, "http", args, more_args()) == 0);
	REQUIRE((jw = warmed(&c, warm_conns(), &fds0, &th0)) != NULL);
	REQUIRE(lg_start(&g, c.port, "/db", load_conns(), DB_RATE, 6) == 0);
	sleep_ms(1500);
	uint64_t t_down = now_ms();
	REQUIRE(pg_ctl("restart") == 0);
	uint64_t t_back = now_ms();
	long long back_ms = first_db_answer(c.port, t_back, &probes);
	j = lg_finish(&g, 20000);
	REQUIRE(j != NULL);

	long long unavailable = json_num_in(j, "errors", "unavailable"), la, le;
	last_second(g.timeline, &la, &le, 6);
	printf("\n    database restart: away %llu ms; /db answered again %lld ms after its return; "
	       "load: %lld answered, %lld unavailable (503), %lld other errors, %lld abandoned; "
	       "its last second %lld answered, %lld errors",
	       (unsigned long long)(t_back - t_down), back_ms, json_num(j, "requests"), unavailable,
	       other_errors(j), json_num(j, "abandoned"), la, le);
	CU_ASSERT(back_ms >= 0 && back_ms <= RECONNECT_MS);
	CU_ASSERT(unavailable > 0);		/* in flight or during the restart: 503 */
	CU_ASSERT_EQUAL(other_errors(j), 0);	/* nothing hung, reset or failed otherwise */
	CU_ASSERT_EQUAL(json_num(j, "abandoned"), 0);
	CU_ASSERT(la > 0 && le == 0);		/* the load is served again */
	nothing_leaked(&c, fds0, th0, "database restart");
	CU_ASSERT(f_stop(&c, "database restart"));
	stats = read_text(c.stats_path);
	{
		const char *jsons[] = { jw, j };
		counts_agree(stats, jsons, 2, 1 + probes);
	}
out:
	lg_discard(&g);
	child_stop(&c, F_STOP_MS);
	pg_ctl("start");		/* whatever happened, the database is up after */
	free(stats);
	free(j);
	free(jw);
}

/* ---- the database away under load: stopped, or hung ---- */

struct away {
	const char *name;	/* for the messages */
	const char *away, *back;	/* harness/pg ctl ... */
	int secs;		/* how long it is away */
	const char *timeout_ms;	/* the /db load's --timeout-ms */
	bool waits;		/* a request waits (up to 2 s) to learn it is away */
	int tail_s;		/* the /db load's seconds after the away ones */
};

/* /db at DB_RATE requests/s (open loop) for secs + tail_s s; 1.3 s in, the
 * database goes away for secs.  The load's last second must be all 200s:
 * tail_s leaves room after the return for the answers of requests that were
 * waiting on the database when it came back (a 503 for a connect that timed
 * out just then is answered up to 2 s later).  A GET / stream at 200 requests/s runs for
 * 1 s before, and twice for secs/2 - 1 s while it is away.  The /db load is
 * an open loop well below any model's capacity, so that GET / measures the
 * server's loop rather than a CPU shared with a closed loop of 503s.
 *
 * "Keeps its p99": the better of the two streams while it is away stays
 * within STALL_FACTOR x + STALL_SLACK_US of the stream before.  A server that
 * stalls while the database is away stalls in both (its state does not change
 * meanwhile); a machine shared with other work disturbs one now and then,
 * which is why there are two.  And no spinning: meanwhile the server's CPU
 * stays under SPIN_CORES (a loop watching a dead socket level-triggered, or
 * retrying a connect without pause, would use a whole core). */
static void db_away_under_load(const struct away *w)
{
	const char *args[] = { "--db", db_uri(), NULL };
	struct child c = { 0 };
	struct lg a = { 0 }, before = { 0 }, during[2] = { { 0 }, { 0 } };
	char *stats = NULL, *ja = NULL, *jb = NULL, *jd[2] = { NULL, NULL }, *jw = NULL;
	int fds0, th0, probes = 0;

	if (!db_present(w->name))
		return;
	REQUIRE(f_start(&c, "http", args, more_args()) == 0);
	REQUIRE((jw = warmed(&c, warm_conns(), &fds0, &th0)) != NULL);
	REQUIRE(lg_start_t(&a, c.port, "/db", load_conns(), DB_RATE, w->secs + w->tail_s,
			   w->timeout_ms) == 0);
	sleep_ms(300);
	REQUIRE(lg_start(&before, c.port, "/", 2, BESIDE_RATE, 1) == 0);
	jb = lg_finish(&before, 10000);
	REQUIRE(jb != NULL);
	uint64_t t_away = now_ms();
	REQUIRE(pg_ctl(w->away) == 0);
	double cpu0 = proc_cpu_s(c.pid);
	uint64_t t0 = now_ms();
	for (int i = 0; i < 2; i++) {
		REQUIRE(lg_start(&during[i], c.port, "/", 2, BESIDE_RATE, w->secs / 2 - 1) == 0);
		jd[i] = lg_finish(&during[i], 20000);
		REQUIRE(jd[i] != NULL);
	}
	double cores = (proc_cpu_s(c.pid) - cpu0) / ((double)(now_ms() - t0) / 1000.0);
	while (now_ms() < t_away + (uint64_t)w->secs * 1000)
		sleep_ms(20);
	REQUIRE(pg_ctl(w->back) == 0);
	uint64_t t_back = now_ms();
	long long back_ms = first_db_answer(c.port, t_back, &probes);
	ja = lg_finish(&a, 30000);
	REQUIRE(ja != NULL);

	long long p99b = json_num_in(jb, "latency_us", "p99");
	long long p99d[2] = { json_num_in(jd[0], "latency_us", "p99"),
			      json_num_in(jd[1], "latency_us", "p99") };
	long long best = p99d[0] < p99d[1] ? p99d[0] : p99d[1], la, le;
	last_second(a.timeline, &la, &le, w->secs + w->tail_s);
	printf("\n    %s %d s (/db at %s/s): GET / at %s/s p99 %lld us before, %lld and "
	       "%lld us meanwhile; server CPU meanwhile %.2f cores; /db answered again "
	       "%lld ms after its return; /db load: %lld answered, %lld unavailable, %lld other "
	       "errors, %lld abandoned, its last second %lld answered, %lld errors", w->name,
	       w->secs, DB_RATE, BESIDE_RATE, p99b, p99d[0], p99d[1], cores, back_ms,
	       json_num(ja, "requests"), json_num_in(ja, "errors", "unavailable"),
	       other_errors(ja), json_num(ja, "abandoned"), la, le);
	/* Other routes: every GET / answered, no stall in their p99, no spin. */
	for (int i = 0; i < 2; i++) {
		CU_ASSERT(json_num(jd[i], "requests") > 0);
		CU_ASSERT_EQUAL(json_sum_object(jd[i], "errors"), 0);
		CU_ASSERT_EQUAL(json_num(jd[i], "abandoned"), 0);
	}
	CU_ASSERT_EQUAL(json_sum_object(jb, "errors") + json_num(jb, "abandoned"), 0);
	if (fcfg.serializes && w->waits)
		f_not_applicable("GET / keeps its p99 while the database is hung",
				 "iterative serves one connection at a time: while a /db request "
				 "waits up to 2 s to learn that the database is hung, every other "
				 "client waits too, as behind /block");
	else
		CU_ASSERT(p99b > 0 && best > 0 && best <= STALL_FACTOR * p99b + STALL_SLACK_US);
	CU_ASSERT(cores >= 0 && cores < SPIN_CORES);
	/* /db: 503 while it was away, nothing else (no request hung); back
	 * within a second. */
	CU_ASSERT(json_num_in(ja, "errors", "unavailable") > 0);
	CU_ASSERT_EQUAL(other_errors(ja), 0);
	CU_ASSERT_EQUAL(json_num(ja, "abandoned"), 0);
	CU_ASSERT(back_ms >= 0 && back_ms <= RECONNECT_MS);
	CU_ASSERT(la > 0 && le == 0);
	nothing_leaked(&c, fds0, th0, w->name);
	CU_ASSERT(f_stop(&c, w->name));
	stats = read_text(c.stats_path);
	{
		const char *jsons[] = { jw, ja, jb, jd[0], jd[1] };
		counts_agree(stats, jsons, 5, 1 + probes);
	}
out:
	lg_discard(&a);
	lg_discard(&before);
	lg_discard(&during[0]);
	lg_discard(&during[1]);
	child_stop(&c, F_STOP_MS);
	pg_ctl("resume");	/* whatever happened, the database is up after */
	pg_ctl("start");
	free(stats);
	free(ja);
	free(jb);
	free(jd[0]);
	free(jd[1]);
	free(jw);
}

/* pg_ctl stop -m fast: its sessions end, new connects are refused. */
static void test_db_stopped(void)
{
	static const struct away w = { "database stopped", "stop", "start", STOP_S,
				       LG_TIMEOUT_MS, false, 4 };
	db_away_under_load(&w);
}

/* SIGSTOP to the server and its backends: connections stay open, connects
 * are accepted by the kernel, and nothing is answered.  Only the clients'
 * own deadline (DB_SILENT_MS, connect_timeout) turns that into a 503. */
static void test_db_hung(void)
{
	static const struct away w = { "database hung", "pause", "resume", HUNG_S,
				       HUNG_TIMEOUT_MS, true, 6 };
	db_away_under_load(&w);
}

void register_db_fault_suites(void)
{
	CU_pSuite s = CU_add_suite("database faults", NULL, NULL);

	CU_add_test(s, "the database restarted mid-run: 503s, back within a second, nothing leaked",
		    test_db_restart);
	CU_add_test(s, "the database stopped for 10 s under load: other routes keep their p99",
		    test_db_stopped);
	CU_add_test(s, "the database hung (stopped by SIGSTOP) for 10 s under load: 503s, not hangs",
		    test_db_hung);
}
