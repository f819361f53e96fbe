/* /db and /queries without a database: TechEmpower's clamping, the id
 * generator, the JSON bytes, and the routes' responses when the rows are
 * filled in by hand or the database fails. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/db.h"
#include "unit.h"

static const struct {
	const char *query;
	unsigned n;
} clamp_cases[] = {
	{ "", 1 },			/* missing */
	{ "x=5", 1 },			/* missing: another key */
	{ "nn=5&xn=7", 1 },		/* keys that end or start like n */
	{ "n", 1 },			/* no '=' */
	{ "n=", 1 },			/* empty */
	{ "n=abc", 1 },
	{ "n=12abc", 1 },
	{ "n=abc12", 1 },
	{ "n=+5", 1 },
	{ "n=1.5", 1 },
	{ "n=%31", 1 },			/* not decoded */
	{ "n= 5", 1 },
	{ "n=0", 1 },
	{ "n=000", 1 },
	{ "n=-1", 1 },
	{ "n=-0", 1 },
	{ "n=-", 1 },
	{ "n=-99999999999999999999999", 1 },
	{ "n=1", 1 },
	{ "n=2", 2 },
	{ "n=007", 7 },
	{ "n=20", 20 },
	{ "n=499", 499 },
	{ "n=500", 500 },
	{ "n=501", 500 },
	{ "n=5000", 500 },
	{ "n=4294967297", 500 },		/* 2^32 + 1: wraps a 32-bit parser */
	{ "n=18446744073709551617", 500 },	/* 2^64 + 1 */
	{ "n=99999999999999999999999999999999999999", 500 },
	{ "a=1&n=3&n=9", 3 },		/* the first n decides */
	{ "n=abc&n=9", 1 },
	{ "n=3&", 3 },
	{ "&n=4", 4 },
};

static void test_clamp(void)
{
	for (size_t i = 0; i < sizeof clamp_cases / sizeof clamp_cases[0]; i++) {
		const char *q = clamp_cases[i].query;
		unsigned n = db_queries_count(q, strlen(q), "n");
		if (n != clamp_cases[i].n)
			fprintf(stderr, "\n  queries '%s': %u, want %u\n", q, n, clamp_cases[i].n);
		CU_ASSERT_EQUAL(n, clamp_cases[i].n);
	}
}

/* Only the query's own bytes count: a value is not read past len. */
static void test_clamp_respects_length(void)
{
	CU_ASSERT_EQUAL(db_queries_count("n=123", 3, "n"), 1);
	CU_ASSERT_EQUAL(db_queries_count("n=123", 4, "n"), 12);
	CU_ASSERT_EQUAL(db_queries_count("n=5abc", 3, "n"), 5);
}

/* Every id in 1..DB_ROWS, each tenth of the range within 3 % of its share
 * over 200,000 draws (a seeded, reproducible sequence: about 11 standard
 * deviations of room, yet a generator that favoured a region, or one off by
 * one at either end, fails). */
static void test_random_ids(void)
{
	enum { DRAWS = 200000 };
	unsigned tenths[10] = { 0 };
	unsigned lo = 0, hi = 0;

	db_random_seed(42);
	for (int i = 0; i < DRAWS; i++) {
		int32_t id = db_random_id();
		CU_ASSERT_FATAL(id >= 1 && id <= DB_ROWS);
		tenths[(id - 1) / (DB_ROWS / 10)]++;
		lo += id == 1;
		hi += id == DB_ROWS;
	}
	for (int t = 0; t < 10; t++)
		CU_ASSERT(tenths[t] > DRAWS / 10 * 97 / 100 && tenths[t] < DRAWS / 10 * 103 / 100);
	CU_ASSERT(lo > 0);	/* ~20 expected: both ends are reachable */
	CU_ASSERT(hi > 0);
}

static void *first_ids(void *arg)
{
	int32_t *ids = arg;

	for (int i = 0; i < 8; i++)
		ids[i] = db_random_id();
	return NULL;
}

/* Each thread seeds its own generator: two threads do not repeat each other
 * (equal by chance with probability 10^-32). */
static void test_random_per_thread(void)
{
	int32_t a[8], b[8];
	pthread_t ta, tb;

	pthread_create(&ta, NULL, first_ids, a);
	pthread_create(&tb, NULL, first_ids, b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CU_ASSERT(memcmp(a, b, sizeof a) != 0);
}

static void check_json(struct db_query *q, const char *want)
{
	char buf[256];
	size_t len = db_json_len(q);

	CU_ASSERT_FATAL(len < sizeof buf);
	memset(buf, '#', sizeof buf);
	CU_ASSERT_EQUAL(db_json(q, buf), len);
	CU_ASSERT_EQUAL(len, strlen(want));
	CU_ASSERT(memcmp(buf, want, strlen(want)) == 0);
	CU_ASSERT_EQUAL(buf[len], '#');		/* nothing written past it */
	if (len != strlen(want) || memcmp(buf, want, strlen(want)) != 0)
		fprintf(stderr, "\n  json [%.*s], want [%s]\n", (int)len, buf, want);
}

static void test_json(void)
{
	struct db_query q = { 0 };

	CU_ASSERT_EQUAL_FATAL(db_query_init(&q, 1, false), 0);
	CU_ASSERT_PTR_EQUAL(q.rows, &q.one);	/* /db allocates nothing */
	q.rows[0] = (struct db_row){ 4106, 8396 };
	check_json(&q, "{\"id\":4106,\"randomNumber\":8396}");
	q.array = true;
	check_json(&q, "[{\"id\":4106,\"randomNumber\":8396}]");

	CU_ASSERT_EQUAL_FATAL(db_query_init(&q, 3, true), 0);
	q.rows[0] = (struct db_row){ 1, 0 };
	q.rows[1] = (struct db_row){ 10000, -2147483647 - 1 };
	q.rows[2] = (struct db_row){ 99, 2147483647 };
	check_json(&q, "[{\"id\":1,\"randomNumber\":0},"
		       "{\"id\":10000,\"randomNumber\":-2147483648},"
		       "{\"id\":99,\"randomNumber\":2147483647}]");
	db_query_release(&q);
	db_query_release(&q);		/* idempotent */
	CU_ASSERT_PTR_NULL(q.rows);
}

static void test_query_init(void)
{
	struct db_query q = { 0 };

	CU_ASSERT_EQUAL_FATAL(db_query_init(&q, DB_MAX_QUERIES, true), 0);
	CU_ASSERT_EQUAL(q.n, DB_MAX_QUERIES);
	CU_ASSERT(!q.failed);
	for (unsigned i = 0; i < q.n; i++)
		CU_ASSERT(q.rows[i].id >= 1 && q.rows[i].id <= DB_ROWS);
	/* the JSON of 500 rows: its length is what it writes */
	char *buf = malloc(db_json_len(&q));
	CU_ASSERT_EQUAL(db_json(&q, buf), db_json_len(&q));
	free(buf);
	CU_ASSERT_EQUAL_FATAL(db_query_init(&q, 1, false), 0);	/* re-init frees */
	CU_ASSERT_PTR_EQUAL(q.rows, &q.one);
	db_query_release(&q);
}

/* ---- the routes, through the session API ---- */

#define JSON_HDR(len)	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " len "\r\n\r\n"
#define E503		"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n" \
			"Content-Length: 20\r\n\r\nService Unavailable\n"

/* Sends req, takes the work it asks for, lets `fill` answer it, and returns
 * the bytes out (malloc'd). */
static char *answer(struct server *srv, const char *req, void (*fill)(struct work *))
{
	struct session *s = session_new(srv);
	struct capture cap;
	struct work *w;
	size_t cap_len;
	char *buf = session_input_buf(s, &cap_len);

	capture_init(&cap, true);
	memcpy(buf, req, strlen(req));
	session_input(s, strlen(req));
	while ((w = session_work(s)) != NULL) {
		CU_ASSERT_EQUAL(w->kind, WORK_DB);
		CU_ASSERT(work_is_wait(w));
		fill(w);
		session_work_done(s);
		cap.works++;
	}
	drive(s, &cap);
	session_free(s);
	return cap.buf ? cap.buf : calloc(1, 1);
}

static void fill_rows(struct work *w)
{
	for (unsigned i = 0; i < w->db->n; i++) {
		w->db->rows[i].id = (int32_t)(i + 1);
		w->db->rows[i].number = (int32_t)(100 + i);
	}
}

static void fill_failed(struct work *w)
{
	w->db->failed = true;
}

static void test_routes(void)
{
	struct server srv;
	char *out;

	test_server(&srv, PROTO_HTTP);
	srv.opts.db = "postgresql://unused";	/* the rows come from fill_* */

	out = answer(&srv, "GET /db HTTP/1.1\r\nHost: t\r\n\r\n", fill_rows);
	CU_ASSERT_STRING_EQUAL(out, JSON_HDR("27") "{\"id\":1,\"randomNumber\":100}");
	free(out);
	out = answer(&srv, "GET /queries HTTP/1.1\r\nHost: t\r\n\r\n", fill_rows);
	CU_ASSERT_STRING_EQUAL(out, JSON_HDR("29") "[{\"id\":1,\"randomNumber\":100}]");
	free(out);
	out = answer(&srv, "GET /queries?n=2 HTTP/1.1\r\nHost: t\r\n\r\n"
			   "GET /queries?n=abc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", fill_rows);
	CU_ASSERT_STRING_EQUAL(out,
		JSON_HDR("57") "[{\"id\":1,\"randomNumber\":100},{\"id\":2,\"randomNumber\":101}]"
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 29\r\n"
		"Connection: close\r\n\r\n[{\"id\":1,\"randomNumber\":100}]");
	free(out);
	/* the database failed: 503, and the connection stays */
	out = answer(&srv, "GET /queries?n=7 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", fill_failed);
	CU_ASSERT_STRING_EQUAL(out, E503 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				    "Content-Length: 13\r\n\r\nHello, World!");
	free(out);
}

/* /queries?n=500 clamps and asks for 500 rows; above it, too. */
static void test_routes_clamp(void)
{
	struct server srv;
	struct session *s;
	struct work *w;
	size_t cap;
	static const char req[] = "GET /queries?n=99999999999999999999 HTTP/1.1\r\nHost: t\r\n\r\n";

	test_server(&srv, PROTO_HTTP);
	srv.opts.db = "postgresql://unused";
	s = session_new(&srv);
	memcpy(session_input_buf(s, &cap), req, sizeof req - 1);
	session_input(s, sizeof req - 1);
	w = session_work(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_EQUAL(w->db->n, DB_MAX_QUERIES);
	CU_ASSERT(w->db->array);
	session_free(s);	/* closed while its query waits: nothing leaks */
}

/* A process whose database pool was never set up (as in every test here)
 * fails the query: work_run answers 503 rather than crash or wait. */
static void test_work_run_without_pool(void)
{
	struct server srv;
	struct session *s;
	struct capture c;
	size_t cap;
	static const char req[] = "GET /db HTTP/1.1\r\nHost: t\r\n\r\n";

	test_server(&srv, PROTO_HTTP);
	srv.opts.db = "postgresql://unused";
	s = session_new(&srv);
	capture_init(&c, true);
	memcpy(session_input_buf(s, &cap), req, sizeof req - 1);
	session_input(s, sizeof req - 1);
	drive(s, &c);
	CU_ASSERT_EQUAL(c.works, 1);
	CU_ASSERT_STRING_EQUAL(c.buf, E503);
	capture_free(&c);
	session_free(s);
}

int suite_db(void)
{
	static const struct unit_test tests[] = {
		{ "queries clamping (TechEmpower)", test_clamp },
		{ "queries clamping reads only the query", test_clamp_respects_length },
		{ "random ids: range and spread", test_random_ids },
		{ "random ids: a generator per thread", test_random_per_thread },
		{ "json bytes", test_json },
		{ "query init and release", test_query_init },
		{ "routes: rows to JSON, failure to 503", test_routes },
		{ "routes: /queries clamped to 500", test_routes_clamp },
		{ "work_run without a pool: 503", test_work_run_without_pool },
		{ NULL, NULL },
	};

	return add_suite("db", tests);
}
