/* The blocking models' database: a bounded pool of blocking libpq connections
 * (see dbpool.h).
 *
 * This is the database code a blocking server is written with: take a
 * connection, PQexecPrepared once per row, give it back.  Each call is a round
 * trip during which the serving thread sleeps in recv(); /queries?n=20 is 20
 * of them in a row.  Nothing else is needed to keep the other clients served:
 * they have threads of their own -- which is the whole cost of the model.
 *
 * Connections are opened on first use, so a process that never serves /db
 * (or an event model, which has dbloop.c) opens none.  A connection whose
 * query failed with the connection gone is closed and reopened at its next
 * use; a failed reopening backs off (dbconn.h), and while every free
 * connection is closed and backing off a request gets 503 at once rather than
 * waiting on a database that is not there.  Opening blocks the thread for at
 * most connect_timeout (DB_CONNECT_TIMEOUT_S unless --db sets it).
 *
 * A database that stops answering without closing (stopped, hung) would keep
 * PQexecPrepared waiting in poll() for as long as the kernel keeps the TCP
 * connection: so each statement is sent with PQsendQueryPrepared and its
 * answer awaited with poll() for at most DB_SILENT_MS (dbconn.h).  Past it
 * the connection is closed and backs off like a failed connect, and the
 * request gets 503.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbconn.h"
#include "dbpool.h"

struct pooled {
	PGconn *pg;		/* NULL: closed (never opened, or broken) */
	bool busy;		/* a thread holds it */
	struct db_backoff retry;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t freed;	/* on CLOCK_MONOTONIC */
	char *uri;
	struct pooled *conns;
	int n;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

int dbpool_init(const char *uri, int nconns)
{
	pthread_condattr_t attr;

	dbpool_close();
	pool.uri = strdup(uri);
	pool.conns = calloc((size_t)nconns, sizeof *pool.conns);
	if (!pool.uri || !pool.conns) {
		free(pool.uri);
		free(pool.conns);
		pool.uri = NULL;
		pool.conns = NULL;
		return -ENOMEM;
	}
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.freed, &attr);
	pthread_condattr_destroy(&attr);
	pool.n = nconns;
	return 0;
}

void dbpool_close(void)
{
	if (!pool.conns)
		return;
	for (int i = 0; i < pool.n; i++)
		if (pool.conns[i].pg)
			PQfinish(pool.conns[i].pg);
	pthread_cond_destroy(&pool.freed);
	free(pool.conns);
	free(pool.uri);
	pool.conns = NULL;
	pool.uri = NULL;
	pool.n = 0;
}

/* A free connection to use: an open one if there is one, else a closed one
 * that may be reopened now; NULL when none is free, or `unreachable` when the
 * free ones are all closed and backing off. */
static struct pooled *pick(uint64_t now, bool *unreachable)
{
	struct pooled *reopen = NULL;
	bool any_free = false;

	for (int i = 0; i < pool.n; i++) {
		struct pooled *p = &pool.conns[i];

		if (p->busy)
			continue;
		any_free = true;
		if (p->pg)
			return p;
		if (!reopen && db_backoff_ready(&p->retry, now))
			reopen = p;
	}
	*unreachable = any_free && !reopen;
	return reopen;
}

/* Takes a connection, waiting up to DB_WAIT_MS for one to be given back. */
static struct pooled *take(void)
{
	struct timespec until;
	struct pooled *p = NULL;
	bool unreachable = false;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += DB_WAIT_MS / 1000;
	until.tv_nsec += (DB_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool.lock);
	while (pool.conns) {
		p = pick(dbconn_now_ms(), &unreachable);
		if (p || unreachable)
			break;
		int r = pthread_cond_timedwait(&pool.freed, &pool.lock, &until);
		if (r == ETIMEDOUT)
			break;
	}
	if (p)
		p->busy = true;
	pthread_mutex_unlock(&pool.lock);
	return p;
}

static void give_back(struct pooled *p)
{
	pthread_mutex_lock(&pool.lock);
	p->busy = false;
	pthread_cond_signal(&pool.freed);
	pthread_mutex_unlock(&pool.lock);
}

/* The one result of the command just sent on pg, waiting at most
 * DB_SILENT_MS for the database to say anything.  NULL when it failed, or
 * (*silent set) when the database said nothing in time: pg is then in the
 * middle of a command and must be closed. */
static PGresult *await_result(PGconn *pg, bool *silent)
{
	PGresult *first = NULL, *res;
	struct pollfd pfd = { .fd = PQsocket(pg), .events = POLLIN };
	uint64_t until = dbconn_now_ms() + DB_SILENT_MS;

	*silent = false;
	for (;;) {
		while (!PQisBusy(pg)) {
			if ((res = PQgetResult(pg)) == NULL)
				return first;
			if (first)
				PQclear(res);		/* one command, one result */
			else
				first = res;
		}
		uint64_t now = dbconn_now_ms();
		int r = now < until ? poll(&pfd, 1, (int)(until - now)) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			*silent = true;
		if (r <= 0 || !PQconsumeInput(pg)) {
			PQclear(first);
			return NULL;
		}
		until = dbconn_now_ms() + DB_SILENT_MS;	/* it said something */
	}
}

/* p's database said nothing in time: closed, and tried again only after a
 * back-off (a silent database is likely silent still). */
static void silenced(struct pooled *p)
{
	PQfinish(p->pg);
	p->pg = NULL;
	db_backoff_failed(&p->retry, dbconn_now_ms());
}

/* Opens p's connection and prepares the statement; false when the database
 * cannot be reached (p backs off). */
static bool open_conn(struct pooled *p)
{
	PGresult *res;
	bool silent = false;

	p->pg = dbconn_connect(pool.uri, true);
	if (p->pg && PQstatus(p->pg) == CONNECTION_OK &&
	    PQsendPrepare(p->pg, DB_STATEMENT, DB_SQL, 1, dbconn_param_types)) {
		res = await_result(p->pg, &silent);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		if (ok) {
			db_backoff_ok(&p->retry);
			return true;
		}
	}
	PQfinish(p->pg);	/* NULL is fine */
	p->pg = NULL;
	db_backoff_failed(&p->retry, dbconn_now_ms());
	return false;
}

void dbpool_run(struct db_query *q)
{
	struct pooled *p = take();

	q->failed = true;
	if (!p)
		return;
	if (!p->pg && !open_conn(p)) {
		give_back(p);
		return;
	}
	bool silent = false;
	for (q->answered = 0; q->answered < q->n; q->answered++) {
		struct db_row *row = &q->rows[q->answered];
		struct db_param prm;
		PGresult *res = NULL;

		dbconn_param(&prm, row->id);
		if (PQsendQueryPrepared(p->pg, DB_STATEMENT, 1, prm.values, prm.lengths,
					prm.formats, 1))
			res = await_result(p->pg, &silent);
		int r = dbconn_row(res, row);
		PQclear(res);
		if (r < 0)
			break;
	}
	q->failed = q->answered < q->n;
	if (silent) {
		silenced(p);
	} else if (q->failed && PQstatus(p->pg) == CONNECTION_BAD) {
		PQfinish(p->pg);
		p->pg = NULL;
		db_backoff_broken(&p->retry, dbconn_now_ms());
	}
	give_back(p);
}
