/* The two database clients against a real PostgreSQL ($LOOPBENCH_DB, which
 * `make test-unit` sets by running this binary under harness/pg): the blocking
 * pool (dbpool.c) and the event loops' pipelined client (dbloop.c), driven
 * here by a poll() loop of their own.  Every row is checked against the table;
 * connections are killed under them (pg_terminate_backend) to see them come
 * back; unreachable databases -- refused, and one that accepts the TCP
 * connection but never answers -- must fail fast or within connect_timeout,
 * never hang. */
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/db.h"
#include "common/dbconn.h"
#include "common/dbloop.h"
#include "common/dbpool.h"
#include "unit.h"

static const char *uri;
static PGconn *ref;			/* the test's own connection */
static int32_t table[DB_ROWS + 1];	/* World, read once */

static PGresult *ref_exec(const char *sql)
{
	PGresult *r = PQexec(ref, sql);

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "\n  %s: %s", sql, PQerrorMessage(ref));
	return r;
}

static int suite_init(void)
{
	char info[1024];
	PGresult *r;

	snprintf(info, sizeof info, "%s%sapplication_name=loopbench-test", uri,
		 strchr(uri, '?') ? "&" : "?");
	ref = PQconnectdb(info);
	if (PQstatus(ref) != CONNECTION_OK) {
		fprintf(stderr, "\n  cannot connect to %s: %s", uri, PQerrorMessage(ref));
		return -1;
	}
	r = ref_exec("SELECT id, randomNumber FROM World");
	if (PQntuples(r) != DB_ROWS) {
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < DB_ROWS; i++) {
		int id = atoi(PQgetvalue(r, i, 0));
		if (id >= 1 && id <= DB_ROWS)
			table[id] = atoi(PQgetvalue(r, i, 1));
	}
	PQclear(r);
	return 0;
}

static int suite_clean(void)
{
	dbpool_close();
	PQfinish(ref);
	return 0;
}

/* Every connection the servers' code opened (application_name loopbench)
 * is killed, as an administrator or a database restart would. */
static int kill_backends(void)
{
	PGresult *r = ref_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
			       " WHERE application_name = 'loopbench'");
	int n = PQntuples(r);

	PQclear(r);
	return n;
}

static bool rows_match(const struct db_query *q)
{
	for (unsigned i = 0; i < q->n; i++)
		if (q->rows[i].id < 1 || q->rows[i].id > DB_ROWS ||
		    q->rows[i].number != table[q->rows[i].id])
			return false;
	return true;
}

/* A URI to a port where nothing listens: connections are refused at once. */
static void refused_uri(char *buf, size_t len)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;

	bind(s, (struct sockaddr *)&a, sizeof a);
	getsockname(s, (struct sockaddr *)&a, &alen);
	close(s);
	snprintf(buf, len, "postgresql://loopbench@127.0.0.1:%d/loopbench?sslmode=disable",
		 ntohs(a.sin_port));
}

/* A listener that never accepts: the kernel completes the handshake, the
 * startup message is never answered -- only connect_timeout ends the wait. */
static int silent_listener(char *buf, size_t len)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;

	bind(s, (struct sockaddr *)&a, sizeof a);
	listen(s, 16);
	getsockname(s, (struct sockaddr *)&a, &alen);
	snprintf(buf, len, "postgresql://loopbench@127.0.0.1:%d/loopbench?sslmode=disable",
		 ntohs(a.sin_port));
	return s;
}

/* ---- dbpool ---- */

static void test_pool_rows(void)
{
	struct db_query q = { 0 };

	CU_ASSERT_EQUAL_FATAL(dbpool_init(uri, 2), 0);
	for (unsigned n = 1; n <= 20; n += 19) {
		CU_ASSERT_EQUAL_FATAL(db_query_init(&q, n, n > 1), 0);
		dbpool_run(&q);
		CU_ASSERT(!q.failed);
		CU_ASSERT(rows_match(&q));
	}
	db_query_release(&q);
}

struct pool_worker {
	int ok, failed, wrong;
};

static void *pool_thread(void *arg)
{
	struct pool_worker *w = arg;
	struct db_query q = { 0 };

	for (int i = 0; i < 50; i++) {
		if (db_query_init(&q, 3, true) < 0)
			break;
		dbpool_run(&q);
		if (q.failed)
			w->failed++;
		else if (!rows_match(&q))
			w->wrong++;
		else
			w->ok++;
	}
	db_query_release(&q);
	return NULL;
}

/* 8 threads, 2 connections: threads wait their turn, none is refused. */
static void test_pool_threads_share(void)
{
	struct pool_worker w[8] = { { 0 } };
	pthread_t t[8];

	CU_ASSERT_EQUAL_FATAL(dbpool_init(uri, 2), 0);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, pool_thread, &w[i]);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(w[i].ok, 50);
		CU_ASSERT_EQUAL(w[i].failed, 0);
		CU_ASSERT_EQUAL(w[i].wrong, 0);
	}
}

/* Killed connections fail the request that finds them dead (503) and are
 * reopened by the next one. */
static void test_pool_reconnects(void)
{
	struct db_query q = { 0 };
	int failed = 0;

	CU_ASSERT_EQUAL_FATAL(dbpool_init(uri, 1), 0);
	CU_ASSERT_EQUAL_FATAL(db_query_init(&q, 1, false), 0);
	dbpool_run(&q);
	CU_ASSERT_FATAL(!q.failed);
	CU_ASSERT_EQUAL(kill_backends(), 1);
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL_FATAL(db_query_init(&q, 2, true), 0);
		dbpool_run(&q);
		failed += q.failed;
		if (!q.failed)
			CU_ASSERT(rows_match(&q));
	}
	CU_ASSERT(failed <= 1);		/* only the request that found it dead */
	CU_ASSERT(!q.failed);
	db_query_release(&q);
}

static void test_pool_unreachable(void)
{
	struct db_query q = { 0 };
	char where[128];
	uint64_t t0;

	refused_uri(where, sizeof where);
	CU_ASSERT_EQUAL_FATAL(dbpool_init(where, 2), 0);
	CU_ASSERT_EQUAL_FATAL(db_query_init(&q, 1, false), 0);
	t0 = dbconn_now_ms();
	for (int i = 0; i < 3; i++) {
		dbpool_run(&q);
		CU_ASSERT(q.failed);
	}
	CU_ASSERT(dbconn_now_ms() - t0 < 1000);

	/* Accepted but never answered: connect_timeout (2 s) ends the first
	 * attempt; the next request, inside the back-off, fails at once. */
	int s = silent_listener(where, sizeof where);
	CU_ASSERT_EQUAL_FATAL(dbpool_init(where, 1), 0);
	t0 = dbconn_now_ms();
	dbpool_run(&q);
	uint64_t took = dbconn_now_ms() - t0;
	CU_ASSERT(q.failed);
	CU_ASSERT(took >= 1900 && took < 10000);
	t0 = dbconn_now_ms();
	dbpool_run(&q);
	CU_ASSERT(q.failed);
	CU_ASSERT(dbconn_now_ms() - t0 < 500);
	close(s);
	db_query_release(&q);
	dbpool_close();
}

/* ---- dbloop, driven by a poll() loop ---- */

#define SLOTS 4

/* The model's side: what each slot's socket is watched for.  The client's
 * promises are checked on every call: a slot's old socket is always released
 * (now 0) before a new one is watched, and `was` is what it said last. */
struct watcher {
	int fd[SLOTS];
	unsigned ev[SLOTS];
	int broken_promises;
};

static void watch(void *arg, int slot, int fd, unsigned was, unsigned events)
{
	struct watcher *w = arg;

	if (slot < 0 || slot >= SLOTS) {
		w->broken_promises++;
		return;
	}
	if (was != w->ev[slot] || (was == 0 && w->fd[slot] >= 0))
		w->broken_promises++;
	if (events == 0) {
		if (w->fd[slot] != fd)
			w->broken_promises++;
		w->fd[slot] = -1;
	} else {
		if (w->fd[slot] >= 0 && w->fd[slot] != fd)
			w->broken_promises++;
		w->fd[slot] = fd;
	}
	w->ev[slot] = events;
}

static void watcher_init(struct watcher *w)
{
	memset(w, 0, sizeof *w);
	for (int i = 0; i < SLOTS; i++)
		w->fd[i] = -1;
}

/* One turn of the loop: poll the watched sockets, hand what is ready to the
 * client, count what comes back (and check it). */
static int turn(struct dbloop *dl, struct watcher *w, int timeout_ms, int *ok, int *failed,
		int *wrong)
{
	struct pollfd p[SLOTS];
	int slot[SLOTS], k = 0, back = 0;

	for (int i = 0; i < SLOTS; i++) {
		if (w->fd[i] < 0)
			continue;
		p[k].fd = w->fd[i];
		p[k].events = (short)(((w->ev[i] & DBLOOP_READ) ? POLLIN : 0) |
				      ((w->ev[i] & DBLOOP_WRITE) ? POLLOUT : 0));
		slot[k++] = i;
	}
	if (poll(p, (nfds_t)k, timeout_ms) <= 0)
		return 0;
	for (int j = 0; j < k; j++) {
		unsigned ev = 0;
		if (p[j].revents & (POLLIN | POLLERR | POLLHUP))
			ev |= DBLOOP_READ;
		if (p[j].revents & (POLLOUT | POLLERR | POLLHUP))
			ev |= DBLOOP_WRITE;
		if (!ev)
			continue;
		dbloop_ready(dl, slot[j], ev);
		for (struct db_query *q = dbloop_finished(dl), *next; q; q = next) {
			next = q->next;
			back++;
			if (q->failed)
				(*failed)++;
			else if (rows_match(q))
				(*ok)++;
			else
				(*wrong)++;
			q->owner = (void *)1;	/* returned */
		}
	}
	return back;
}

enum { NQ = 300 };

/* 300 requests of 1..20 rows submitted at once on 2 connections: every one
 * comes back, once, with the right rows. */
static void test_loop_pipelined(void)
{
	static struct db_query qs[NQ];
	struct watcher w;
	int ok = 0, failed = 0, wrong = 0, back = 0;
	uint64_t until;
	struct dbloop *dl;

	watcher_init(&w);
	dl = dbloop_new(uri, 2, watch, &w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dl);
	CU_ASSERT(w.fd[0] >= 0 && w.fd[1] >= 0);
	for (int i = 0; i < NQ; i++) {
		CU_ASSERT_EQUAL_FATAL(db_query_init(&qs[i], 1 + (unsigned)i % 20, true), 0);
		CU_ASSERT(dbloop_submit(dl, &qs[i], NULL));
	}
	CU_ASSERT_EQUAL(dbloop_pending(dl), NQ);
	until = dbconn_now_ms() + 20000;
	while (back < NQ && dbconn_now_ms() < until)
		back += turn(dl, &w, 1000, &ok, &failed, &wrong);
	CU_ASSERT_EQUAL(back, NQ);
	CU_ASSERT_EQUAL(ok, NQ);
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(dbloop_pending(dl), 0);
	for (int i = 0; i < NQ; i++) {
		CU_ASSERT_PTR_NOT_NULL(qs[i].owner);
		db_query_release(&qs[i]);
	}
	dbloop_free(dl);
	CU_ASSERT_EQUAL(w.fd[0], -1);	/* released before closing */
	CU_ASSERT_EQUAL(w.fd[1], -1);
	CU_ASSERT_EQUAL(w.broken_promises, 0);
}

/* Connections killed with queries in flight: those queries fail (503), the
 * next requests reconnect, and new queries succeed again within a second or
 * two. */
static void test_loop_reconnects(void)
{
	static struct db_query qs[40];
	struct watcher w;
	int ok = 0, failed = 0, wrong = 0, back = 0, sent = 0;
	struct dbloop *dl;
	uint64_t until;

	watcher_init(&w);
	dl = dbloop_new(uri, 2, watch, &w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dl);
	for (int i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL_FATAL(db_query_init(&qs[i], 5, true), 0);
		sent += dbloop_submit(dl, &qs[i], NULL);
	}
	CU_ASSERT(kill_backends() >= 2);
	until = dbconn_now_ms() + 10000;
	while (back < sent && dbconn_now_ms() < until)
		back += turn(dl, &w, 500, &ok, &failed, &wrong);
	CU_ASSERT_EQUAL(back, sent);	/* answered or failed, none lost */
	CU_ASSERT_EQUAL(wrong, 0);

	/* One request at a time until one succeeds again. */
	int before = ok;
	for (int i = 10; i < 40 && ok == before && dbconn_now_ms() < until; i++) {
		CU_ASSERT_EQUAL_FATAL(db_query_init(&qs[i], 2, true), 0);
		if (!dbloop_submit(dl, &qs[i], NULL)) {
			turn(dl, &w, 100, &ok, &failed, &wrong);	/* let it connect */
			continue;
		}
		int got = 0;
		while (got == 0 && dbconn_now_ms() < until)
			got = turn(dl, &w, 500, &ok, &failed, &wrong);
	}
	CU_ASSERT(ok > before);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(dbloop_pending(dl), 0);
	dbloop_free(dl);
	for (int i = 0; i < 40; i++)
		db_query_release(&qs[i]);
	CU_ASSERT_EQUAL(w.broken_promises, 0);
}

static void test_loop_unreachable(void)
{
	struct db_query q = { 0 };
	struct watcher w;
	struct dbloop *dl;
	char where[128];
	uint64_t t0;

	CU_ASSERT_EQUAL_FATAL(db_query_init(&q, 1, false), 0);
	refused_uri(where, sizeof where);
	watcher_init(&w);
	t0 = dbconn_now_ms();
	dl = dbloop_new(where, 2, watch, &w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dl);
	CU_ASSERT(!dbloop_submit(dl, &q, NULL));
	CU_ASSERT(q.failed);
	CU_ASSERT(dbconn_now_ms() - t0 < 1000);
	dbloop_free(dl);

	/* Never answered: dbloop_new gives up after connect_timeout; requests
	 * get 503 at once, never wait for the connect. */
	int s = silent_listener(where, sizeof where);
	t0 = dbconn_now_ms();
	dl = dbloop_new(where, 2, watch, &w);
	uint64_t took = dbconn_now_ms() - t0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(dl);
	CU_ASSERT(took >= 1900 && took < 10000);
	t0 = dbconn_now_ms();
	CU_ASSERT(!dbloop_submit(dl, &q, NULL));
	CU_ASSERT(dbconn_now_ms() - t0 < 500);
	dbloop_free(dl);
	close(s);
	CU_ASSERT_EQUAL(w.broken_promises, 0);
	db_query_release(&q);
}

static void test_no_database(void)
{
	fprintf(stderr, "\n  $LOOPBENCH_DB is not set: run this binary under harness/pg"
		" (make test-unit does)\n");
	CU_FAIL("no database for the dbpool and dbloop tests");
}

int suite_dbclients(void)
{
	static const struct unit_test tests[] = {
		{ "dbpool: rows", test_pool_rows },
		{ "dbpool: 8 threads share 2 connections", test_pool_threads_share },
		{ "dbpool: killed connections come back", test_pool_reconnects },
		{ "dbpool: unreachable database fails, bounded", test_pool_unreachable },
		{ "dbloop: 300 pipelined requests", test_loop_pipelined },
		{ "dbloop: killed connections come back", test_loop_reconnects },
		{ "dbloop: unreachable database fails, bounded", test_loop_unreachable },
		{ NULL, NULL },
	};
	static const struct unit_test none[] = {
		{ "a database to test against", test_no_database },
		{ NULL, NULL },
	};
	CU_pSuite s;

	uri = getenv("LOOPBENCH_DB");
	if (!uri || !*uri)
		return add_suite("dbclients", none);
	s = CU_add_suite("dbclients", suite_init, suite_clean);
	if (!s)
		return -1;
	for (const struct unit_test *t = tests; t->name; t++)
		if (!CU_add_test(s, t->name, t->fn))
			return -1;
	return 0;
}
