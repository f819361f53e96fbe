/* /db and /queries (docs/contract.md): the JSON shape, every clamping case of
 * /queries, 503 without a database and with one that cannot be reached,
 * ordering under pipelining, many clients waiting at once, clients that leave
 * while their queries are in flight, and SIGTERM while one is.
 *
 * The database is $LOOPBENCH_DB (make runs the suite under harness/pg).  That
 * every row returned is a row of the table is checked by tests/db/rows.py,
 * which reads the table; here the ids and numbers are checked for range and
 * shape only. */
#include "suite.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DB_ROWS		10000
#define DB_MAX		500

static const char *db_uri;
static struct child srv_db, srv_nodb, srv_down;
static char down_uri[128];

/* ---- the JSON of an answer ---- */

static bool lit(const char **p, const char *end, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
		return false;
	*p += n;
	return true;
}

/* A JSON integer as the contract writes it: an optional '-', then digits
 * without a leading zero. */
static bool integer(const char **p, const char *end, long long *v)
{
	const char *s = *p;
	bool neg = s < end && *s == '-';

	if (neg)
		s++;
	if (s >= end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9'))
		return false;
	*v = 0;
	while (s < end && *s >= '0' && *s <= '9' && *v < 100000000000LL)
		*v = *v * 10 + (*s++ - '0');
	if (neg)
		*v = -*v;
	*p = s;
	return true;
}

/* One {"id":I,"randomNumber":R} with I in 1..10000, nothing else (no spaces,
 * the key spelled as TechEmpower spells it). */
static bool world_object(const char **p, const char *end)
{
	long long id, number;

	return lit(p, end, "{\"id\":") && integer(p, end, &id) && id >= 1 && id <= DB_ROWS &&
	       lit(p, end, ",\"randomNumber\":") && integer(p, end, &number) && lit(p, end, "}");
}

/* The number of objects in a /queries body (a JSON array), or -1 if it is
 * not exactly one. */
static int world_array(const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	int n = 0;

	if (!lit(&p, end, "["))
		return -1;
	do {
		if (!world_object(&p, end))
			return -1;
		n++;
	} while (lit(&p, end, ","));
	return lit(&p, end, "]") && p == end ? n : -1;
}

static bool is_world_object(const struct hresp *r)
{
	const char *p = r->body, *end = r->body + r->body_len;

	return world_object(&p, end) && p == end;
}

/* A 200 application/json answer whose head is the contract's, byte for byte
 * where the model is exact (its body can only be compared for shape). */
static bool check_json_head(const char *what, const struct hresp *r, const char *conn)
{
	return check_resp(what, r, 200, "application/json", NULL, conn, r->body, r->body_len, false);
}

static void show_body(const char *what, const struct hresp *r)
{
	fprintf(stderr, "\n    %s: %s: not the expected JSON", cfg.model, what);
	show_bytes("body", r->body, r->body_len, 300);
}

static bool need_db(const char *name)
{
	if (db_uri)
		return true;
	not_applicable(name, "no database: $LOOPBENCH_DB is unset (make test-conformance runs "
		       "the suite under harness/pg)");
	return false;
}

/* ---- without a database, and with one that cannot be reached ---- */

/* 503 on every database route; the connection stays and serves the rest. */
static void expect_503s(struct child *c, const char *how)
{
	static const char *const reqs[] = {
		"GET /db HTTP/1.1\r\nHost: t\r\n\r\n", "GET /queries HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /queries?n=20 HTTP/1.1\r\nHost: t\r\n\r\n", "GET /queries?n=abc HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	struct hconn h = { .fd = -1 };
	struct hresp r;
	char what[96];

	REQUIRE(hconn_open(&h, c->port, IO_MS) == 0);
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		REQUIRE(XFER(&h, reqs[i], &r) == 0);
		snprintf(what, sizeof what, "%s: %.*s", how,
			 (int)(strstr(reqs[i], " HTTP/") - reqs[i]), reqs[i]);
		CU_ASSERT(check_error(what, &r, 503, NULL, NULL, false));
		hresp_free(&r);
		REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
		CU_ASSERT(check_resp("GET / after a 503", &r, 200, "text/plain", NULL, NULL,
				     "Hello, World!", 13, false));
		hresp_free(&r);
	}
out:
	hconn_close(&h);
}

static void test_no_db(void)
{
	expect_503s(&srv_nodb, "no --db");
}

static void test_db_unreachable(void)
{
	expect_503s(&srv_down, "--db unreachable");
}

static void test_db_405(void)
{
	struct hconn h = { .fd = -1 };
	struct hresp r;

	REQUIRE(hconn_open(&h, srv_nodb.port, IO_MS) == 0);
	REQUIRE(XFER(&h, "POST /db HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r) == 0);
	CU_ASSERT(check_error("POST /db", &r, 405, "GET", NULL, false));
	hresp_free(&r);
	REQUIRE(XFER(&h, "PUT /queries?n=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", &r) == 0);
	CU_ASSERT(check_error("PUT /queries", &r, 405, "GET", NULL, false));
	hresp_free(&r);
	REQUIRE(xfer(&h, "HEAD /db HTTP/1.1\r\nHost: t\r\n\r\n", strlen("HEAD /db HTTP/1.1\r\nHost: t\r\n\r\n"), &r,
		     true) == 0);
	CU_ASSERT(r.status == 405 && r.body_len == 0 && strcmp(r.allow, "GET") == 0);
	hresp_free(&r);
out:
	hconn_close(&h);
}

/* ---- with the database ---- */

static void test_db_shape(void)
{
	struct hconn h = { .fd = -1 };
	struct hresp r;

	if (!need_db("/db: JSON shape"))
		return;
	REQUIRE(hconn_open(&h, srv_db.port, IO_MS) == 0);
	for (int i = 0; i < 20; i++) {
		REQUIRE(XFER(&h, "GET /db HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
		CU_ASSERT(check_json_head("GET /db", &r, NULL));
		if (!is_world_object(&r)) {
			show_body("GET /db", &r);
			CU_FAIL("/db body");
		}
		hresp_free(&r);
	}
out:
	hconn_close(&h);
}

static const struct {
	const char *query;
	int rows;
} clamps[] = {
	{ "", 1 }, { "?", 1 }, { "?x=3", 1 }, { "?n", 1 }, { "?n=", 1 }, { "?n=abc", 1 },
	{ "?n=12abc", 1 }, { "?n=+5", 1 }, { "?n=1.5", 1 }, { "?n=0", 1 }, { "?n=-1", 1 },
	{ "?n=-600", 1 }, { "?n=1", 1 }, { "?n=2", 2 }, { "?n=007", 7 }, { "?n=20", 20 },
	{ "?a=b&n=3&n=9", 3 }, { "?n=499", 499 }, { "?n=500", 500 }, { "?n=501", 500 },
	{ "?n=100000", 500 }, { "?n=4294967297", 500 }, { "?n=99999999999999999999999", 500 },
};

static void test_queries_clamping(void)
{
	struct hconn h = { .fd = -1 };
	struct hresp r;
	char req[128], what[96];

	if (!need_db("/queries: TechEmpower's clamping"))
		return;
	REQUIRE(hconn_open(&h, srv_db.port, IO_MS) == 0);
	for (size_t i = 0; i < sizeof clamps / sizeof clamps[0]; i++) {
		snprintf(req, sizeof req, "GET /queries%s HTTP/1.1\r\nHost: t\r\n\r\n", clamps[i].query);
		snprintf(what, sizeof what, "GET /queries%s", clamps[i].query);
		REQUIRE(XFER(&h, req, &r) == 0);
		CU_ASSERT(check_json_head(what, &r, NULL));
		int n = world_array(r.body, r.body_len);
		if (n != clamps[i].rows) {
			fprintf(stderr, "\n    %s: %s: %d rows, want %d", cfg.model, what, n,
				clamps[i].rows);
			if (n < 0)
				show_body(what, &r);
		}
		CU_ASSERT(n == clamps[i].rows);
		hresp_free(&r);
	}
out:
	hconn_close(&h);
}

/* Seven requests in one write, database and not: answered in order. */
static void test_db_pipelined(void)
{
	static const char reqs[] =
		"GET /queries?n=3 HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /db HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /cpu?us=10 HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /queries?n=2 HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /bytes?n=3 HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /queries?n=500 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct hconn h = { .fd = -1 };
	struct hresp r;
	char cpu[9];

	if (!need_db("/db and /queries pipelined with other routes"))
		return;
	snprintf(cpu, sizeof cpu, "%08x", fnv_units(10 * CONF_K));
	REQUIRE(hconn_open(&h, srv_db.port, IO_MS) == 0);
	REQUIRE(cl_send_all(h.fd, reqs, sizeof reqs - 1, IO_MS) == 0);

	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_json_head("pipelined 1: /queries?n=3", &r, NULL));
	CU_ASSERT(world_array(r.body, r.body_len) == 3);
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_resp("pipelined 2: /", &r, 200, "text/plain", NULL, NULL, "Hello, World!", 13,
			     false));
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_json_head("pipelined 3: /db", &r, NULL));
	CU_ASSERT(is_world_object(&r));
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_resp("pipelined 4: /cpu", &r, 200, "text/plain", NULL, NULL, cpu, 8, false));
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_json_head("pipelined 5: /queries?n=2", &r, NULL));
	CU_ASSERT(world_array(r.body, r.body_len) == 2);
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_resp("pipelined 6: /bytes", &r, 200, "application/octet-stream", NULL, NULL,
			     "xxx", 3, false));
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_json_head("pipelined 7: /queries?n=500", &r, "close"));
	CU_ASSERT(world_array(r.body, r.body_len) == 500);
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
out:
	hconn_close(&h);
}

/* 64 clients send their query before any is answered: every one gets its
 * rows (the event models hold all 64 waits on one thread; the blocking ones
 * a thread each, or one after another). */
static void test_db_many_waiting(void)
{
	enum { N = 64 };
	static const char req[] = "GET /queries?n=4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct hconn h[N];
	struct hresp r;
	int answered = 0;

	if (!need_db("64 clients waiting on the database at once"))
		return;
	for (int i = 0; i < N; i++)
		h[i] = (struct hconn){ .fd = -1 };
	for (int i = 0; i < N; i++) {
		REQUIRE(hconn_open(&h[i], srv_db.port, IO_MS) == 0);
		REQUIRE(cl_send_all(h[i].fd, req, sizeof req - 1, IO_MS) == 0);
	}
	for (int i = 0; i < N; i++) {
		REQUIRE(hconn_read(&h[i], &r, false, 3 * IO_MS) == 0);
		if (check_json_head("one of 64 at once", &r, "close") &&
		    world_array(r.body, r.body_len) == 4)
			answered++;
		hresp_free(&r);
		hconn_close(&h[i]);	/* our FIN ends the server's lingering close */
	}
out:
	CU_ASSERT(answered == N);
	for (int i = 0; i < N; i++)
		hconn_close(&h[i]);
}

/* Clients that close or reset while their 100 queries are in flight: the
 * server drops the answer, carries on, and serves the next client (a crash or
 * a use-after-free shows here, or at the sanitizers' exit check). */
static void test_db_client_leaves(void)
{
	static const char req[] = "GET /queries?n=100 HTTP/1.1\r\nHost: t\r\n\r\n";
	struct hconn h = { .fd = -1 };
	struct hresp r;

	if (!need_db("clients leave while their queries are in flight"))
		return;
	for (int i = 0; i < 10; i++) {
		int fd = cl_connect(srv_db.port, 0, IO_MS);
		REQUIRE(fd >= 0);
		if (cl_send_all(fd, req, sizeof req - 1, IO_MS) < 0) {
			close(fd);
			continue;
		}
		if (i % 2)
			cl_reset(fd);
		else
			close(fd);
	}
	REQUIRE(hconn_open(&h, srv_db.port, IO_MS) == 0);
	REQUIRE(hconn_read(&h, &r, false, 0) == -ETIMEDOUT);	/* nothing unasked for */
	REQUIRE(XFER(&h, "GET /db HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
	CU_ASSERT(check_json_head("GET /db after 10 clients left", &r, NULL));
	CU_ASSERT(is_world_object(&r));
	hresp_free(&r);
out:
	hconn_close(&h);
}

/* Holds an exclusive lock on World for ms milliseconds from a psql of the
 * test's own, so that the servers' queries wait for it.  Returns once the lock
 * is taken; pclose() waits for the end.  NULL if psql could not take it. */
static FILE *lock_world(int ms)
{
	char cmd[512], line[128];
	FILE *f;

	snprintf(cmd, sizeof cmd, "psql '%s' -XAtq -c BEGIN"
		 " -c 'LOCK TABLE World IN ACCESS EXCLUSIVE MODE' -c \"SELECT 'locked'\""
		 " -c 'SELECT pg_sleep(%.3f)' -c COMMIT 2>&1", db_uri, ms / 1000.0);
	f = popen(cmd, "r");
	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "locked", 6) == 0)
			return f;
	pclose(f);
	return NULL;
}

/* SIGTERM while a request waits on the database (World is locked for 600 ms;
 * the signal comes at 200 ms, once the server surely holds the request): the
 * answer comes when the lock goes, with Connection: close, and the server
 * exits 0. */
static void test_db_sigterm_in_flight(void)
{
	static const char req[] = "GET /queries?n=500 HTTP/1.1\r\nHost: t\r\n\r\n";
	const char *args[] = { "--db", db_uri, "--db-conns", "2", NULL };
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	struct hresp r;
	FILE *lock = NULL;

	if (!need_db("SIGTERM while a request waits on the database"))
		return;
	REQUIRE(start_server(&c, "http", args) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	lock = lock_world(600);
	REQUIRE(lock != NULL);
	REQUIRE(cl_send_all(h.fd, req, sizeof req - 1, IO_MS) == 0);
	sleep_ms(200);
	kill(c.pid, SIGTERM);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_json_head("/queries?n=500 across SIGTERM", &r, "close"));
	CU_ASSERT(world_array(r.body, r.body_len) == 500);
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
	hconn_close(&h);	/* our FIN ends the server's lingering close */
	CU_ASSERT(child_wait(&c, STOP_MS) == 0);
out:
	hconn_close(&h);
	if (lock)
		pclose(lock);
	child_stop(&c, STOP_MS);
}

/* /db never goes to the --offload pool: with every worker busy on a 0.6 s
 * /block, a /db on another connection is answered before any of them.  (In
 * the --offload variant, on the suite's shared server.) */
static void test_db_not_offloaded(void)
{
	static const char block[] = "GET /block?us=600000 HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char db[] = "GET /db HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char *const name = "/db never waits for the --offload pool";
	enum { MAXW = 8 };
	int workers = offload_arg();
	struct hconn a[MAXW], b = { .fd = -1 };
	struct hresp r;

	for (int i = 0; i < MAXW; i++)
		a[i] = (struct hconn){ .fd = -1 };
	if (!need_db(name))
		return;
	if (workers == 0 || workers > MAXW) {
		not_applicable(name, !(cfg.supports & SUP_OFFLOAD) ? "no --offload in this model" :
			       workers ? "more --offload workers than the case occupies" :
			       "runs in the --offload variant");
		return;
	}
	for (int i = 0; i < workers; i++) {
		REQUIRE(hconn_open(&a[i], srv_db.port, IO_MS) == 0);
		REQUIRE(cl_send_all(a[i].fd, block, sizeof block - 1, IO_MS) == 0);
	}
	sleep_ms(50);	/* the workers have taken the /blocks */
	REQUIRE(hconn_open(&b, srv_db.port, IO_MS) == 0);
	REQUIRE(cl_send_all(b.fd, db, sizeof db - 1, IO_MS) == 0);
	REQUIRE(hconn_read(&b, &r, false, IO_MS) == 0);
	CU_ASSERT(check_json_head("/db beside busy --offload workers", &r, NULL));
	CU_ASSERT(is_world_object(&r));
	hresp_free(&r);
	for (int i = 0; i < workers; i++) {
		struct pollfd pfd = { .fd = a[i].fd, .events = POLLIN };
		bool block_first = poll(&pfd, 1, 0) == 1;

		if (block_first)
			fprintf(stderr, "\n    %s: /db was answered after a /block that held an "
				"--offload worker\n", cfg.model);
		CU_ASSERT(!block_first);
	}
	for (int i = 0; i < workers; i++) {
		REQUIRE(hconn_read(&a[i], &r, false, IO_MS) == 0);
		CU_ASSERT(r.status == 200);
		hresp_free(&r);
	}
out:
	for (int i = 0; i < MAXW; i++)
		hconn_close(&a[i]);
	hconn_close(&b);
}

/* ---- registration ---- */

/* A port where nothing listens: connections to it are refused at once. */
static void refused_port_uri(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;

	bind(s, (struct sockaddr *)&a, sizeof a);
	getsockname(s, (struct sockaddr *)&a, &alen);
	close(s);
	snprintf(down_uri, sizeof down_uri,
		 "postgresql://loopbench@127.0.0.1:%d/loopbench?sslmode=disable", ntohs(a.sin_port));
}

static int init_nodb(void)
{
	refused_port_uri();
	const char *down[] = { "--db", down_uri, NULL };
	if (start_server(&srv_nodb, "http", NULL) < 0)
		return -1;
	return start_server(&srv_down, "http", down);
}

static int clean_nodb(void)
{
	int a = stop_server(&srv_nodb, "http, no --db");
	int b = stop_server(&srv_down, "http, --db unreachable");

	return a < 0 || b < 0 ? -1 : 0;
}

static int init_db(void)
{
	const char *args[] = { "--db", db_uri, "--db-conns", "2", NULL };

	return db_uri ? start_server(&srv_db, "http", args) : 0;
}

static int clean_db(void)
{
	return db_uri ? stop_server(&srv_db, "http --db") : 0;
}

void register_db_suites(void)
{
	CU_pSuite s;

	db_uri = getenv("LOOPBENCH_DB");
	if (db_uri && !*db_uri)
		db_uri = NULL;
	s = CU_add_suite("db: no database, unreachable database", init_nodb, clean_nodb);
	CU_add_test(s, "no --db: 503, and the connection serves on", test_no_db);
	CU_add_test(s, "--db unreachable: 503, and the connection serves on", test_db_unreachable);
	CU_add_test(s, "other methods: 405", test_db_405);
	s = CU_add_suite("db", init_db, clean_db);
	CU_add_test(s, "/db: the JSON object", test_db_shape);
	CU_add_test(s, "/queries: every clamping case", test_queries_clamping);
	CU_add_test(s, "pipelined with other routes: in order", test_db_pipelined);
	CU_add_test(s, "64 clients waiting at once", test_db_many_waiting);
	CU_add_test(s, "clients leave while their queries are in flight", test_db_client_leaves);
	CU_add_test(s, "SIGTERM while a request waits", test_db_sigterm_in_flight);
	CU_add_test(s, "never on the --offload pool", test_db_not_offloaded);
}
