/* The event models' database client: libpq non-blocking, in pipeline mode
 * (see dbloop.h).  The shape is h2o's TechEmpower entry (database.c).
 *
 * A connection goes DOWN -> CONNECTING -> UP, and back to DOWN when it breaks.
 *
 * CONNECTING: PQconnectStartParams, then PQconnectPoll each time the socket is
 * ready for what PQconnectPoll last asked (writing at first).  PQconnectPoll
 * does not enforce connect_timeout -- a caller that polls keeps the time --
 * so the deadline is checked whenever a request comes; no request ever waits
 * on a connection that is still connecting.
 *
 * UP: PQsetnonblocking, PQenterPipelineMode, and the statement prepared with
 * PQsendPrepare at the head of the pipeline.  A request's n rows are n
 * PQsendQueryPrepared followed by one PQpipelineSync, so a failure in one
 * request aborts only the rest of that request.  libpq 15 has no
 * PQsendPipelineSync (17 has): PQpipelineSync also flushes, so each request
 * costs one send() to the database; PQflush is called again when the socket
 * is writable if the kernel took only part of it.  The socket is always
 * watched for reading (a database that goes away says so there).
 *
 * Results come back in the order sent.  Each connection keeps the queries it
 * sent in a FIFO; the head is answered by, per row: one result (PGRES_TUPLES_OK,
 * or an error, or PGRES_PIPELINE_ABORTED after an earlier error), then a NULL;
 * and after its n rows one PGRES_PIPELINE_SYNC (with no NULL after it).
 * PQgetResult is only called while PQisBusy says it will not block, and only
 * while something is expected: in pipeline mode an idle connection's
 * PQgetResult returns NULL forever.
 *
 * DOWN: a broken connection fails the queries it held (503), closes, and is
 * reopened by the next request (at once the first time, then with back-off,
 * dbconn.h).  A socket whose connect fails or times out backs off the same
 * way.
 *
 * SILENT: a database that stops answering without closing (stopped, hung,
 * its host gone) leaves the kernel's TCP connection open, and keepalives or
 * TCP_USER_TIMEOUT do not help while its kernel still acknowledges.  So a
 * connection with something in flight that has read nothing for
 * DB_SILENT_MS is treated as broken.  The deadline is a timerfd watched by
 * the model like the sockets; it is armed only when nothing is armed yet
 * (deadlines only move later while the database answers), so under load it
 * costs a timerfd_settime every DB_SILENT_MS, not one per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dbconn.h"
#include "dbloop.h"
#include "server.h"

enum state { DOWN, CONNECTING, UP };

/* What the head of a connection's FIFO expects from PQgetResult next. */
enum expect { EXPECT_RESULT, EXPECT_NULL, EXPECT_SYNC };

struct dbconn {
	enum state state;
	PGconn *pg;
	int pq_fd;		/* libpq's socket, and its inode: PQconnectPoll may */
	ino_t pq_ino;		/* close it and open another with the same number */
	int fd;			/* our duplicate, what the model watches; -1: none */
	unsigned watching;	/* DBLOOP_READ | DBLOOP_WRITE as told to the model */
	unsigned connect_wants;	/* CONNECTING: what PQconnectPoll asked for */
	uint64_t deadline_ms;	/* CONNECTING: give up then */
	uint64_t heard_ms;	/* UP: when the database was last heard from */
	struct db_backoff retry;

	bool broken;		/* a send failed: fail everything at the next event */
	bool preparing;		/* the PQsendPrepare at the head, before any query */
	enum expect expect;
	struct db_query *head, *tail;	/* sent, waiting for their results */
	int inflight;
};

struct dbloop {
	char *uri;
	dbloop_watch_fn *watch;
	void *arg;
	int pending;		/* submitted, not yet returned */
	struct db_query *done;	/* finished, for dbloop_finished */
	struct db_query **done_tail;
	int timer_fd;		/* the silence deadline (slot n); -1: none */
	uint64_t armed_ms;	/* when it fires; 0: disarmed */
	int n;
	struct dbconn conns[];
};

/* ---- the model's view of a socket ---- */

static int slot_of(const struct dbloop *dl, const struct dbconn *c)
{
	return (int)(c - dl->conns);
}

static void set_watch(struct dbloop *dl, struct dbconn *c, unsigned want)
{
	if (c->fd < 0 || want == c->watching)
		return;
	dl->watch(dl->arg, slot_of(dl, c), c->fd, c->watching, want);
	c->watching = want;
}

static void drop_fd(struct dbloop *dl, struct dbconn *c)
{
	if (c->fd < 0)
		return;
	if (c->watching)
		dl->watch(dl->arg, slot_of(dl, c), c->fd, c->watching, 0);
	close(c->fd);
	c->fd = -1;
	c->watching = 0;
	c->pq_fd = -1;
}

/* Follows libpq's socket: a new one (first, or PQconnectPoll trying another
 * address) gets a fresh duplicate.  -1 when there is none or dup fails. */
static int track_fd(struct dbloop *dl, struct dbconn *c)
{
	int s = PQsocket(c->pg);
	struct stat st;

	if (s < 0 || fstat(s, &st) < 0)
		return -1;
	if (c->fd >= 0 && s == c->pq_fd && st.st_ino == c->pq_ino)
		return 0;
	drop_fd(dl, c);
	c->fd = fcntl(s, F_DUPFD_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	c->pq_fd = s;
	c->pq_ino = st.st_ino;
	return 0;
}

/* ---- losing and finding a connection ---- */

static void put_finished(struct dbloop *dl, struct db_query *q)
{
	q->next = NULL;
	*dl->done_tail = q;
	dl->done_tail = &q->next;
	dl->pending--;
}

static void fail_all(struct dbloop *dl, struct dbconn *c)
{
	struct db_query *q;

	while ((q = c->head) != NULL) {
		c->head = q->next;
		q->failed = true;
		put_finished(dl, q);
	}
	c->tail = NULL;
	c->inflight = 0;
}

static void close_conn(struct dbloop *dl, struct dbconn *c)
{
	drop_fd(dl, c);
	PQfinish(c->pg);
	c->pg = NULL;
	c->state = DOWN;
	c->broken = false;
	c->preparing = false;
}

/* The connection broke: its queries fail, and the next request reopens it. */
static void conn_broken(struct dbloop *dl, struct dbconn *c)
{
	fail_all(dl, c);
	close_conn(dl, c);
	db_backoff_broken(&c->retry, dbconn_now_ms());
}

static void connect_failed(struct dbloop *dl, struct dbconn *c)
{
	close_conn(dl, c);
	db_backoff_failed(&c->retry, dbconn_now_ms());
}

static void connect_start(struct dbloop *dl, struct dbconn *c)
{
	c->pg = dbconn_connect(dl->uri, false);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD || track_fd(dl, c) < 0) {
		connect_failed(dl, c);
		return;
	}
	c->state = CONNECTING;
	c->deadline_ms = dbconn_now_ms() + (uint64_t)dbconn_timeout_ms(c->pg);
	c->connect_wants = DBLOOP_WRITE;	/* libpq: poll for writing first */
	set_watch(dl, c, DBLOOP_WRITE);
}

/* ---- a database that goes silent ---- */

static bool waiting(const struct dbconn *c)
{
	return c->state == UP && (c->head || c->preparing);
}

/* Arms the timer for the earliest silence deadline, unless it is armed
 * already: an armed deadline is never later than the earliest (a connection's
 * heard_ms only moves forward), and when it fires the connections are looked
 * at again (on_silence_timer). */
static void arm_silence(struct dbloop *dl)
{
	uint64_t first = UINT64_MAX, now;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (dl->timer_fd < 0 || dl->armed_ms)
		return;
	for (int i = 0; i < dl->n; i++)
		if (waiting(&dl->conns[i]) && dl->conns[i].heard_ms + DB_SILENT_MS < first)
			first = dl->conns[i].heard_ms + DB_SILENT_MS;
	if (first == UINT64_MAX)
		return;
	now = dbconn_now_ms();
	uint64_t in = first > now ? first - now : 1;
	its.it_value.tv_sec = (time_t)(in / 1000);
	its.it_value.tv_nsec = (long)(in % 1000) * 1000000L;
	if (timerfd_settime(dl->timer_fd, 0, &its, NULL) == 0)
		dl->armed_ms = first;
}

static void conn_broken(struct dbloop *dl, struct dbconn *c);

/* The timer fired: connections silent for DB_SILENT_MS are broken (their
 * queries fail: 503); then the next deadline. */
static void on_silence_timer(struct dbloop *dl)
{
	uint64_t expirations, now = dbconn_now_ms();

	if (read(dl->timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		return;
	dl->armed_ms = 0;
	for (int i = 0; i < dl->n; i++) {
		struct dbconn *c = &dl->conns[i];

		if (waiting(c) && now >= c->heard_ms + DB_SILENT_MS) {
			conn_broken(dl, c);
			/* A silent database is likely silent still: wait before
			 * trying it again, as after a failed connect. */
			db_backoff_failed(&c->retry, now);
		}
	}
	arm_silence(dl);
}

/* Read always; write while libpq holds output the kernel did not take. */
static int watch_up(struct dbloop *dl, struct dbconn *c)
{
	int r = PQflush(c->pg);

	if (r < 0)
		return -1;
	set_watch(dl, c, DBLOOP_READ | (r > 0 ? DBLOOP_WRITE : 0));
	return 0;
}

static void connected(struct dbloop *dl, struct dbconn *c)
{
	if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg) ||
	    !PQsendPrepare(c->pg, DB_STATEMENT, DB_SQL, 1, dbconn_param_types) ||
	    !PQpipelineSync(c->pg)) {
		connect_failed(dl, c);
		return;
	}
	c->state = UP;
	c->preparing = true;
	c->expect = EXPECT_RESULT;
	c->heard_ms = dbconn_now_ms();
	db_backoff_ok(&c->retry);
	if (watch_up(dl, c) < 0)
		connect_failed(dl, c);
	else
		arm_silence(dl);
}

/* PQconnectPoll assumes the socket is ready for what it asked: called early
 * while the TCP connect is in progress it would take "no error yet" for
 * "connected".  An event can be stale (the loop collected it before a
 * reconnection changed the socket), so look before calling it. */
static bool ready_for(const struct dbconn *c, unsigned want)
{
	struct pollfd p = {
		.fd = c->fd,
		.events = (short)(((want & DBLOOP_READ) ? POLLIN : 0) |
				  ((want & DBLOOP_WRITE) ? POLLOUT : 0)),
	};

	return poll(&p, 1, 0) == 1;
}

static void connect_poll(struct dbloop *dl, struct dbconn *c)
{
	PostgresPollingStatusType st = PQconnectPoll(c->pg);

	if (st == PGRES_POLLING_FAILED || track_fd(dl, c) < 0) {
		connect_failed(dl, c);
		return;
	}
	if (st == PGRES_POLLING_OK) {
		connected(dl, c);
		return;
	}
	c->connect_wants = st == PGRES_POLLING_READING ? DBLOOP_READ : DBLOOP_WRITE;
	set_watch(dl, c, c->connect_wants);
}

/* dbloop_new: the first connections, with poll() on their sockets until each
 * is up or failed or past its deadline (start-up may block; requests cannot
 * arrive yet).  Those still connecting carry on in the loop. */
static void wait_connected(struct dbloop *dl)
{
	struct pollfd *pfd = calloc((size_t)dl->n, sizeof *pfd);
	int *slot = calloc((size_t)dl->n, sizeof *slot);

	while (pfd && slot) {
		uint64_t now = dbconn_now_ms(), first = UINT64_MAX;
		int k = 0;

		for (int i = 0; i < dl->n; i++) {
			struct dbconn *c = &dl->conns[i];

			if (c->state != CONNECTING)
				continue;
			if (now >= c->deadline_ms) {
				connect_failed(dl, c);
				continue;
			}
			pfd[k].fd = c->fd;
			pfd[k].events = c->connect_wants == DBLOOP_READ ? POLLIN : POLLOUT;
			slot[k++] = i;
			if (c->deadline_ms < first)
				first = c->deadline_ms;
		}
		if (k == 0)
			break;
		int r = poll(pfd, (nfds_t)k, (int)(first - now));
		if (r < 0 && errno != EINTR)
			break;
		for (int j = 0; j < k && r > 0; j++)
			if (pfd[j].revents)
				connect_poll(dl, &dl->conns[slot[j]]);
	}
	free(pfd);
	free(slot);
}

struct dbloop *dbloop_new(const char *uri, int nconns, dbloop_watch_fn *watch, void *arg)
{
	struct dbloop *dl = calloc(1, sizeof *dl + (size_t)nconns * sizeof dl->conns[0]);

	if (!dl || !(dl->uri = strdup(uri))) {
		free(dl);
		return NULL;
	}
	dl->watch = watch;
	dl->arg = arg;
	dl->done_tail = &dl->done;
	dl->n = nconns;
	for (int i = 0; i < nconns; i++) {
		dl->conns[i].fd = -1;
		dl->conns[i].pq_fd = -1;
	}
	/* Without a timer (out of descriptors) a silent database is noticed
	 * only when it closes: the rest works the same. */
	dl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dl->timer_fd >= 0)
		dl->watch(dl->arg, nconns, dl->timer_fd, 0, DBLOOP_READ);
	for (int i = 0; i < nconns; i++)
		connect_start(dl, &dl->conns[i]);
	wait_connected(dl);
	return dl;
}

struct dbloop *dbloop_for_loop(const struct server *srv, dbloop_watch_fn *watch, void *arg)
{
	static int next;	/* loops are set up one after another, by one thread */
	int loops = srv->opts.reactors, i = next++ % loops, total = srv->opts.db_conns;
	int share = total / loops + (i < total % loops);
	struct dbloop *dl;

	if (!srv->opts.db)
		return NULL;
	dl = dbloop_new(srv->opts.db, share > 0 ? share : 1, watch, arg);
	if (!dl)
		die("out of memory");
	return dl;
}

void dbloop_free(struct dbloop *dl)
{
	if (!dl)
		return;
	for (int i = 0; i < dl->n; i++)
		close_conn(dl, &dl->conns[i]);
	if (dl->timer_fd >= 0) {
		dl->watch(dl->arg, dl->n, dl->timer_fd, DBLOOP_READ, 0);
		close(dl->timer_fd);
	}
	free(dl->uri);
	free(dl);
}

int dbloop_pending(const struct dbloop *dl)
{
	return dl ? dl->pending : 0;
}

/* ---- queries ---- */

/* n statements, then the Sync that closes this request's part of the
 * pipeline.  libpq copies the parameter, so p can live on the stack. */
static int send_query(struct dbconn *c, const struct db_query *q)
{
	for (unsigned i = 0; i < q->n; i++) {
		struct db_param p;

		dbconn_param(&p, q->rows[i].id);
		if (!PQsendQueryPrepared(c->pg, DB_STATEMENT, 1, p.values, p.lengths,
					 p.formats, 1))
			return -1;
	}
	return PQpipelineSync(c->pg) ? 0 : -1;
}

/* Before choosing a connection: reopen those that are down (when their
 * back-off allows) and give up on connects past their deadline. */
static void revive(struct dbloop *dl, uint64_t now)
{
	for (int i = 0; i < dl->n; i++) {
		struct dbconn *c = &dl->conns[i];

		if (c->state == DOWN && db_backoff_ready(&c->retry, now))
			connect_start(dl, c);
		else if (c->state == CONNECTING && now >= c->deadline_ms)
			connect_failed(dl, c);
	}
}

bool dbloop_submit(struct dbloop *dl, struct db_query *q, void *owner)
{
	struct dbconn *best = NULL;

	q->owner = owner;
	q->failed = true;
	q->next = NULL;
	q->answered = 0;
	if (!dl)
		return false;
	revive(dl, dbconn_now_ms());
	for (int i = 0; i < dl->n; i++) {
		struct dbconn *c = &dl->conns[i];
		if (c->state == UP && !c->broken && (!best || c->inflight < best->inflight))
			best = c;
	}
	if (!best)
		return false;
	if (send_query(best, q) < 0 || watch_up(dl, best) < 0) {
		/* Part of q may be in the pipeline: the connection is unusable.
		 * Its queries are failed at its next dbloop_ready, which the
		 * socket (readable or writable, error or not) brings soon. */
		best->broken = true;
		set_watch(dl, best, DBLOOP_READ | DBLOOP_WRITE);
		return false;
	}
	q->failed = false;
	if (!waiting(best))
		best->heard_ms = dbconn_now_ms();	/* silence counts from now */
	if (best->tail)
		best->tail->next = q;
	else
		best->head = q;
	best->tail = q;
	best->inflight++;
	dl->pending++;
	arm_silence(dl);
	return true;
}

/* One PQgetResult for the head of the FIFO (or the prepare before it).
 * -1 when the stream makes no sense: the connection is then dropped. */
static int on_result(struct dbloop *dl, struct dbconn *c, PGresult *res)
{
	struct db_query *q = c->head;
	int r = 0;

	switch (c->expect) {
	case EXPECT_RESULT:
		if (!res) {
			r = -1;
		} else if (c->preparing) {
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				r = -1;		/* no statement: the connection is useless */
		} else if (dbconn_row(res, &q->rows[q->answered]) < 0) {
			q->failed = true;	/* an error, or aborted after one */
		}
		c->expect = EXPECT_NULL;
		break;
	case EXPECT_NULL:
		if (res) {			/* a second result for one row */
			if (!c->preparing)
				q->failed = true;
			break;
		}
		if (c->preparing || ++q->answered == q->n)
			c->expect = EXPECT_SYNC;
		else
			c->expect = EXPECT_RESULT;
		break;
	case EXPECT_SYNC:
		if (!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
			r = -1;
			break;
		}
		c->expect = EXPECT_RESULT;
		if (c->preparing) {
			c->preparing = false;
			break;
		}
		c->head = q->next;
		if (!c->head)
			c->tail = NULL;
		c->inflight--;
		put_finished(dl, q);
		break;
	}
	PQclear(res);
	return r;
}

static int read_results(struct dbloop *dl, struct dbconn *c)
{
	while ((c->preparing || c->head) && !PQisBusy(c->pg))
		if (on_result(dl, c, PQgetResult(c->pg)) < 0)
			return -1;
	return 0;
}

struct db_query *dbloop_finished(struct dbloop *dl)
{
	struct db_query *q;

	if (!dl)
		return NULL;
	q = dl->done;

	dl->done = NULL;
	dl->done_tail = &dl->done;
	return q;
}

void dbloop_ready(struct dbloop *dl, int slot, unsigned events)
{
	struct dbconn *c;
	bool ok;

	if (slot == dl->n && dl->timer_fd >= 0) {
		on_silence_timer(dl);
		return;
	}
	if (slot < 0 || slot >= dl->n)
		return;
	c = &dl->conns[slot];
	if (c->state == CONNECTING) {
		if (ready_for(c, c->connect_wants))
			connect_poll(dl, c);
		return;
	}
	if (c->state != UP)
		return;			/* a stale event for a closed socket */
	if (events & DBLOOP_READ)
		c->heard_ms = dbconn_now_ms();
	ok = !c->broken && (!(events & DBLOOP_READ) || PQconsumeInput(c->pg));
	/* Results complete before a failure are still delivered. */
	if (read_results(dl, c) < 0)
		ok = false;
	if (!ok || PQstatus(c->pg) == CONNECTION_BAD || watch_up(dl, c) < 0)
		conn_broken(dl, c);
}
