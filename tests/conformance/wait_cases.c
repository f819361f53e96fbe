/* Requests that wait: GET /sleep?ms=N (docs/contract.md, the routes table and
 * "Waits and pipelining"), each case with a server of its own.
 *
 * The point of C8, checked as ordering, never as speed: a request that waits
 * does not hold up another connection on an event loop or on a thread of its
 * own, it does on iterative (and on pool once every worker is held); a wait
 * never goes to the --offload pool; pipelined requests are answered in order; a
 * client that leaves while it waits costs nothing; the drain waits for pending
 * waits up to --drain-timeout-ms and counts what it cuts. */
#include "suite.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char HELLO[] = "Hello, World!";

/* Event models: a loop that waits on timers (and an --offload option). */
static bool event_model(void)
{
	return (cfg.supports & SUP_OFFLOAD) != 0;
}

/* True when a response (or EOF) is ready on fd right now. */
static bool readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static int send_str(struct hconn *h, const char *req)
{
	return cl_send_all(h->fd, req, strlen(req), IO_MS);
}

/* Reads one response and checks it is `200 text/plain ok` (conn: NULL or
 * "close"). */
static bool read_ok(struct hconn *h, const char *what, const char *conn)
{
	struct hresp r;
	bool ok;

	if (hconn_read(h, &r, false, IO_MS) != 0) {
		fprintf(stderr, "\n    %s: %s: no response\n", cfg.model, what);
		return false;
	}
	ok = check_resp(what, &r, 200, "text/plain", NULL, conn, "ok", 2, false);
	hresp_free(&r);
	return ok;
}

static bool read_hello(struct hconn *h, const char *what)
{
	struct hresp r;
	bool ok;

	if (hconn_read(h, &r, false, IO_MS) != 0) {
		fprintf(stderr, "\n    %s: %s: no response\n", cfg.model, what);
		return false;
	}
	ok = check_resp(what, &r, 200, "text/plain", NULL, NULL, HELLO, 13, false);
	hresp_free(&r);
	return ok;
}

/* The stats a server wrote at exit (malloc'd), or NULL. */
static char *stats_of(const struct child *c)
{
	return read_stats_file(c->stats_path);
}

/* ---- never early ---- */

/* /sleep?ms=0 is answered; /sleep?ms=200 no sooner than 200 ms after it was
 * sent (a lower bound only: a busy machine may answer later, never earlier).
 * Node counts its timers in whole milliseconds of libuv's loop clock, so it
 * may be up to 1 ms early. */
static void test_not_early(void)
{
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	uint64_t t0, dt, floor_ms = cfg.exact ? 200 : 199;

	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	REQUIRE(send_str(&h, "GET /sleep?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	CU_ASSERT(read_ok(&h, "GET /sleep?ms=0", NULL));
	t0 = now_ms();
	REQUIRE(send_str(&h, "GET /sleep?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	CU_ASSERT(read_ok(&h, "GET /sleep?ms=200", NULL));
	dt = now_ms() - t0;
	if (dt < floor_ms)
		fprintf(stderr, "\n    %s: /sleep?ms=200 answered after %llu ms\n", cfg.model,
			(unsigned long long)dt);
	CU_ASSERT(dt >= floor_ms);
	hconn_close(&h);
	CU_ASSERT(stop_server(&c, "sleep") == 0);
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
}

/* ---- a wait does not delay another connection ---- */

/* GET /sleep?ms=500 on one connection, GET / on a second 20 ms later: the
 * GET / is answered first on every model that serves connections at once (an
 * event loop keeps going; threads and pool serve it in a thread of its own).
 * Iterative makes it wait: nothing on the second connection while the first
 * is open, then its answer once the first closes.  The opposite of /block on
 * the loop (misc_cases.c, /cpu).
 *
 * Which answer came first is read by this client, which can itself be held
 * off the CPU: when the GET / was read more than SLEEP_MS - SLACK_MS after the
 * /sleep was sent, both answers may be in and the order is unknown.  Such a
 * try is inconclusive and tried again, up to TRIES; a server that holds the
 * GET / behind the sleep makes every try inconclusive, and fails. */
#define ORDER_SLEEP_MS 500
#define ORDER_SLACK_MS 100
#define ORDER_TRIES 3

/* 1: the GET / came first, 0: the sleep came first, -1: unknown (client late). */
static int wait_order_try(void)
{
	struct child c = { 0 };
	struct hconn a = { .fd = -1 }, b = { .fd = -1 };
	int order = 0;
	uint64_t t0, dt;
	bool sleep_first;

	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&a, c.port, IO_MS) == 0);
	REQUIRE(hconn_open(&b, c.port, IO_MS) == 0);
	t0 = now_ms();
	REQUIRE(send_str(&a, "GET /sleep?ms=500 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	sleep_ms(20);
	REQUIRE(send_str(&b, "GET / HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	CU_ASSERT(read_hello(&b, "GET / beside a sleeping connection"));
	dt = now_ms() - t0;
	sleep_first = readable_now(a.fd);

	if (!sleep_first)
		order = 1;
	else if (dt >= ORDER_SLEEP_MS - ORDER_SLACK_MS)
		order = -1;
	if (order < 0)
		fprintf(stderr, "\n    %s: GET / read %llu ms after the /sleep was sent, its answer "
			"there too: order unknown (this client was held off the CPU, or the "
			"server held the GET /), trying again\n",
			cfg.model, (unsigned long long)dt);
	else if (order == 0)
		fprintf(stderr, "\n    %s: GET / was answered after the /sleep?ms=500 of "
			"another connection\n", cfg.model);
	CU_ASSERT(read_ok(&a, "the sleeping connection", NULL));
	hconn_close(&a);
	hconn_close(&b);
	CU_ASSERT(stop_server(&c, "sleep ordering") == 0);
out:
	hconn_close(&a);
	hconn_close(&b);
	child_stop(&c, STOP_MS);
	return order;
}

static void test_wait_does_not_delay_others(void)
{
	if (!cfg.serializes) {
		int order = -1;

		for (int i = 0; i < ORDER_TRIES && order < 0; i++)
			order = wait_order_try();
		CU_ASSERT(order == 1);
		return;
	}

	struct child c = { 0 };
	struct hconn a = { .fd = -1 }, b = { .fd = -1 };
	char x;

	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&a, c.port, IO_MS) == 0);
	REQUIRE(hconn_open(&b, c.port, IO_MS) == 0);
	REQUIRE(send_str(&a, "GET /sleep?ms=500 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	sleep_ms(20);
	REQUIRE(send_str(&b, "GET / HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	CU_ASSERT(read_ok(&a, "the sleeping connection", NULL));
	/* The first connection is still open: nothing for the second. */
	CU_ASSERT(cl_recv(b.fd, &x, 1, 200) == -ETIMEDOUT);
	hconn_close(&a);
	CU_ASSERT(read_hello(&b, "GET / once the first connection closed"));
	hconn_close(&b);
	CU_ASSERT(stop_server(&c, "sleep ordering") == 0);
out:
	hconn_close(&a);
	hconn_close(&b);
	child_stop(&c, STOP_MS);
}

/* ---- one thread holds many waits ---- */

#define MANY 100
#define MANY_MS 1000

/* MANY connections each with /sleep?ms=1000 pending, then a GET / on one more.
 * Each connection closes once answered.  Event models and threads answer the
 * GET / before any sleep; pool and prefork (64 workers, threads or processes,
 * each held by a sleeping connection) answer it only after sleeps free
 * workers -- the experiment `wait` in miniature.  Iterative would take MANY
 * seconds. */
static void test_many_waits(void)
{
	struct child c = { 0 };
	struct hconn *h = calloc(MANY + 1, sizeof *h);
	int answered = 0, hello_rank = -1, bad = 0;
	uint64_t end;

	if (cfg.serializes) {
		not_applicable("100 waiting connections and a GET /",
			       "serves one connection at a time: 100 sleeps of 1 s one after another");
		free(h);
		return;
	}
	REQUIRE(h != NULL);
	for (int i = 0; i <= MANY; i++)
		h[i].fd = -1;
	REQUIRE(start_server(&c, "http", NULL) == 0);
	for (int i = 0; i < MANY; i++) {
		REQUIRE(hconn_open(&h[i], c.port, IO_MS) == 0);
		REQUIRE(send_str(&h[i], "GET /sleep?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	}
	sleep_ms(50);
	REQUIRE(hconn_open(&h[MANY], c.port, IO_MS) == 0);
	REQUIRE(send_str(&h[MANY], "GET / HTTP/1.1\r\nHost: t\r\n\r\n") == 0);

	/* Collect the answers in the order they come, closing each connection
	 * once answered (pool's workers are freed only then). */
	end = now_ms() + 6 * MANY_MS + IO_MS;
	while (answered < MANY + 1 && now_ms() < end) {
		struct pollfd p[MANY + 1];
		int idx[MANY + 1], k = 0;

		for (int i = 0; i <= MANY; i++)
			if (h[i].fd >= 0) {
				p[k].fd = h[i].fd;
				p[k].events = POLLIN;
				idx[k++] = i;
			}
		if (poll(p, (nfds_t)k, 200) <= 0)
			continue;
		for (int j = 0; j < k; j++) {
			int i = idx[j];

			if (!p[j].revents)
				continue;
			bool ok = i == MANY ? read_hello(&h[i], "GET / beside 100 waits")
					    : read_ok(&h[i], "one of 100 sleeps", NULL);
			bad += !ok;
			if (i == MANY)
				hello_rank = answered;
			answered++;
			hconn_close(&h[i]);
		}
	}
	printf("\n    %s: %d of %d answered; GET / was answer number %d", cfg.model, answered, MANY + 1,
	       hello_rank + 1);
	CU_ASSERT(answered == MANY + 1);
	CU_ASSERT(bad == 0);
	if (cfg.supports & (SUP_THREADS | SUP_PROCS)) {	/* pool, prefork: every worker is held */
		CU_ASSERT(hello_rank >= 1);
	} else {
		CU_ASSERT(hello_rank == 0);
	}
	CU_ASSERT(stop_server(&c, "many waits") == 0);
out:
	if (h)
		for (int i = 0; i <= MANY; i++)
			hconn_close(&h[i]);
	child_stop(&c, STOP_MS);
	free(h);
}

/* ---- never on the --offload pool ---- */

/* With --offload 1, a pool of one thread: /sleep?ms=1000 on one connection,
 * /sleep?ms=100 on another 20 ms later.  Waited on the loop, the short one is
 * answered first; handed to the one-thread pool, it would wait for the long
 * one. */
static void test_not_offloaded(void)
{
	static const char *const args[] = { "--offload", "1", NULL };
	struct child c = { 0 };
	struct hconn a = { .fd = -1 }, b = { .fd = -1 };

	if (!event_model()) {
		not_applicable("/sleep never goes to the --offload pool", "the model has no --offload");
		return;
	}
	REQUIRE(start_server(&c, "http", args) == 0);
	REQUIRE(hconn_open(&a, c.port, IO_MS) == 0);
	REQUIRE(hconn_open(&b, c.port, IO_MS) == 0);
	REQUIRE(send_str(&a, "GET /sleep?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	sleep_ms(20);
	REQUIRE(send_str(&b, "GET /sleep?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	CU_ASSERT(read_ok(&b, "the short sleep", NULL));
	{
		bool long_first = readable_now(a.fd);

		if (long_first)
			fprintf(stderr, "\n    %s: with --offload 1 the 100 ms sleep waited for the "
				"1000 ms one: sleeps went to the pool\n", cfg.model);
		CU_ASSERT(!long_first);
	}
	CU_ASSERT(read_ok(&a, "the long sleep", NULL));
	hconn_close(&a);
	hconn_close(&b);
	CU_ASSERT(stop_server(&c, "offload 1") == 0);
out:
	hconn_close(&a);
	hconn_close(&b);
	child_stop(&c, STOP_MS);
}

/* ---- the idle timer ---- */

/* --idle-timeout-ms 300: a /sleep?ms=900 is a request in progress, not an
 * idle client, so it is answered; after the answer the timer runs again and
 * closes the connection.  Timed from the send, which comes before anything the
 * server does: the close comes no sooner than the sleep plus T (and before
 * sleep + 10 T).  (From the client's read it could look sooner: a busy machine
 * may let the client read the answer late.) */
static void test_idle_paused_while_waiting(void)
{
	static const char *const args[] = { "--idle-timeout-ms", "300", NULL };
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	uint64_t t0, t;

	REQUIRE(start_server(&c, "http", args) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	t0 = now_ms();
	REQUIRE(send_str(&h, "GET /sleep?ms=900 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	CU_ASSERT(read_ok(&h, "a 900 ms sleep under a 300 ms idle timeout", NULL));
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
	t = now_ms() - t0;
	if (t < 1200 || t >= 3900)
		fprintf(stderr, "\n    %s: closed %llu ms after the request (sleep 900 ms, idle timeout "
			"300 ms)\n", cfg.model, (unsigned long long)t);
	CU_ASSERT(t >= 1200 && t < 3900);
	hconn_close(&h);
	CU_ASSERT(stop_server(&c, "idle 300") == 0);
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
}

/* ---- pipelining ---- */

/* Four requests in one write, sleeps between hellos: four answers, in request
 * order (the C models run the two sleeps one after the other, node together;
 * the contract allows both). */
static void test_pipelined_in_order(void)
{
	static const char req[] = "GET /sleep?ms=100 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"
				  "GET /sleep?ms=50 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };

	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	REQUIRE(send_str(&h, req) == 0);
	CU_ASSERT(read_ok(&h, "pipelined 1: /sleep?ms=100", NULL));
	CU_ASSERT(read_hello(&h, "pipelined 2: GET /"));
	CU_ASSERT(read_ok(&h, "pipelined 3: /sleep?ms=50", NULL));
	CU_ASSERT(read_hello(&h, "pipelined 4: GET /"));
	CU_ASSERT(!readable_now(h.fd));
	hconn_close(&h);
	CU_ASSERT(stop_server(&c, "pipelined sleeps") == 0);
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
}

/* ---- a client that leaves while it waits ---- */

/* One client resets (RST) and one closes (FIN) while their /sleep?ms=1000
 * waits; a third is served.  Once the sleeps are over the server exits 0 at
 * SIGTERM with nothing cut, no server error counted (the reset is the
 * client's: "resets"), and every connection accepted.  A half-close is still
 * a client that may read: the C models answer it (or find the reset at their
 * write); node abandons the request at the FIN (its http module's default).
 * How soon the resources come back is the fault test's business
 * (tests/faults: 1,000 sleeping clients reset at once). */
static void test_client_leaves_while_waiting(void)
{
	struct child c = { 0 };
	struct hconn a = { .fd = -1 }, b = { .fd = -1 }, d = { .fd = -1 };
	char *json = NULL;
	int code;

	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&a, c.port, IO_MS) == 0);
	REQUIRE(hconn_open(&b, c.port, IO_MS) == 0);
	REQUIRE(send_str(&a, "GET /sleep?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	REQUIRE(send_str(&b, "GET /sleep?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	sleep_ms(100);
	cl_reset(a.fd);
	a.fd = -1;
	hconn_close(&b);
	REQUIRE(hconn_open(&d, c.port, IO_MS) == 0);
	REQUIRE(send_str(&d, "GET / HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	CU_ASSERT(read_hello(&d, "GET / after two clients left"));
	hconn_close(&d);
	sleep_ms(1100);		/* the sleeps are over (iterative: the first one) */

	code = child_stop(&c, STOP_MS);
	if (code != 0)
		fprintf(stderr, "\n    %s: exit status %d after SIGTERM, expected 0\n", cfg.model, code);
	CU_ASSERT(code == 0);
	json = stats_of(&c);
	CU_ASSERT_FATAL(json != NULL);
	printf("\n    %s: accepted %lld, requests %lld, errors %lld, resets %lld, waits_cut %lld", cfg.model,
	       json_num(json, "accepted"), json_num(json, "requests"), json_num(json, "errors"),
	       json_num(json, "resets"), json_num(json, "waits_cut"));
	CU_ASSERT(json_num(json, "waits_cut") == 0);
	CU_ASSERT(json_num(json, "accepted") == 3);
	if (cfg.exact) {
		CU_ASSERT(json_num(json, "errors") == 0);
		CU_ASSERT(json_num(json, "resets") >= 1);	/* the RST, seen early or at the write */
		CU_ASSERT(json_num(json, "requests") >= 1 && json_num(json, "requests") <= 2);
	}
out:
	hconn_close(&a);
	hconn_close(&b);
	hconn_close(&d);
	child_stop(&c, STOP_MS);
	free(json);
}

/* ---- the drain ---- */

/* SIGTERM while /sleep?ms=800 waits: the drain waits for it, the answer says
 * Connection: close, the server exits 0 with nothing cut. */
static void test_drain_waits(void)
{
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	char *json = NULL;
	uint64_t t0, dt;
	int code;

	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	t0 = now_ms();
	REQUIRE(send_str(&h, "GET /sleep?ms=800 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	sleep_ms(100);
	kill(c.pid, SIGTERM);
	CU_ASSERT(read_ok(&h, "the sleep pending at SIGTERM", "close"));
	dt = now_ms() - t0;
	CU_ASSERT(dt >= (cfg.exact ? 800 : 799));
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
	code = child_wait(&c, STOP_MS);
	if (code != 0)
		fprintf(stderr, "\n    %s: exit status %d after the drain, expected 0\n", cfg.model, code);
	CU_ASSERT(code == 0);
	json = stats_of(&c);
	CU_ASSERT(json != NULL && json_num(json, "waits_cut") == 0);
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
	free(json);
}

/* --drain-timeout-ms 1500: SIGTERM while /sleep?ms=300 and /sleep?ms=60000
 * wait on two connections.  The short one is answered (Connection: close);
 * the long one is cut when the limit comes: its connection ends without an
 * answer, the exit status is 1, and the stats say one wait was cut.  Iterative
 * would leave the second connection in the backlog (never accepted, nothing
 * to cut), so it gets only the long one. */
static void test_drain_cuts(void)
{
	static const char *const args[] = { "--drain-timeout-ms", "1500", NULL };
	struct child c = { 0 };
	struct hconn a = { .fd = -1 }, b = { .fd = -1 };
	char *json = NULL;
	int code;

	REQUIRE(start_server(&c, "http", args) == 0);
	if (!cfg.serializes) {
		REQUIRE(hconn_open(&a, c.port, IO_MS) == 0);
		REQUIRE(send_str(&a, "GET /sleep?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	}
	REQUIRE(hconn_open(&b, c.port, IO_MS) == 0);
	REQUIRE(send_str(&b, "GET /sleep?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
	sleep_ms(100);
	kill(c.pid, SIGTERM);
	if (!cfg.serializes)
		CU_ASSERT(read_ok(&a, "the short sleep pending at SIGTERM", "close"));
	{
		struct hresp r;
		int e = hconn_read(&b, &r, false, IO_MS);

		if (e == 0) {
			fprintf(stderr, "\n    %s: the 60 s sleep was answered during a 1.5 s drain\n",
				cfg.model);
			hresp_free(&r);
		}
		CU_ASSERT(e == -EPIPE || e == -ECONNRESET);
	}
	code = child_wait(&c, STOP_MS);
	if (code != 1)
		fprintf(stderr, "\n    %s: exit status %d after a drain cut short, expected 1\n", cfg.model,
			code);
	CU_ASSERT(code == 1);
	json = stats_of(&c);
	if (json)
		printf("\n    %s: waits_cut %lld", cfg.model, json_num(json, "waits_cut"));
	CU_ASSERT(json != NULL && json_num(json, "waits_cut") == 1);
out:
	hconn_close(&a);
	hconn_close(&b);
	child_stop(&c, STOP_MS);
	free(json);
}

void register_wait_suites(void)
{
	CU_pSuite s = CU_add_suite("requests that wait (/sleep)", NULL, NULL);

	CU_add_test(s, "/sleep is never answered early", test_not_early);
	CU_add_test(s, "/sleep?ms=500 does not delay a GET / on another connection",
		    test_wait_does_not_delay_others);
	CU_add_test(s, "100 waiting connections and a GET /", test_many_waits);
	CU_add_test(s, "/sleep never goes to the --offload pool", test_not_offloaded);
	CU_add_test(s, "the idle timer does not run while a request waits", test_idle_paused_while_waiting);
	CU_add_test(s, "pipelined sleeps are answered in order", test_pipelined_in_order);
	CU_add_test(s, "a client that leaves while it waits costs nothing", test_client_leaves_while_waiting);
	CU_add_test(s, "the drain waits for a pending sleep", test_drain_waits);
	CU_add_test(s, "the drain limit cuts a sleep and counts it", test_drain_cuts);
}
