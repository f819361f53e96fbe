/* The reactor of a model that keeps its interest set itself (fdloop.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "dbloop.h"
#include "fdloop.h"
#include "net.h"
#include "server.h"
#include "session.h"
#include "timerheap.h"

struct conn {
	struct fdwatch w;		/* w.fd: -1 once closed */
	bool eof;			/* the peer sent FIN: nothing more to read */
	bool blocked;			/* output pending after a short write */
	bool working;			/* its work is out: on the offload pool, or its
					 * queries with the database client */
	bool waiting;			/* its request sleeps: wait is in loop->waits */
	bool lingering;			/* write side shut, draining input */
	struct session *s;
	struct fdloop *loop;
	struct idle_entry timer;	/* in loop->idle, or loop->linger */
	struct timer wait;		/* /sleep's deadline */
	struct reactor_conn rc;		/* in the loop's list, walked by the drain */
	struct reactor_job job;		/* --offload: its work, on the way back */
};

static void on_conn_ready(struct fdloop *fl, struct fdwatch *w, unsigned events);
static void on_readable(struct conn *c);
static void conn_advance(struct conn *c);
static void conn_close(struct conn *c);
static void wait_start(struct conn *c, struct work *w);

/* reactor.h types its steps with each model's struct loop; a connection here
 * knows its loop (c->loop), so reactor_advance is given none. */
static void step_work(struct loop *unused, struct conn *c, struct work *w);
static int step_write(struct loop *unused, struct conn *c);
static void step_linger(struct loop *unused, struct conn *c);
static void step_watch(struct loop *unused, struct conn *c);

static const struct reactor_steps steps = { step_work, step_write, step_linger, step_watch };

/* The listener, the wake-up and the shutdown descriptor. */

static void conn_open(struct fdloop *fl, int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (c)
		c->w = (struct fdwatch){ .fd = fd, .events = FDLOOP_IN, .ready = on_conn_ready };
	/* Room in the heap for this connection's wait, now: a timer started
	 * later never allocates. */
	if (!c || !(c->s = session_new(fl->srv)) ||
	    timer_heap_reserve(&fl->waits, (size_t)fl->r.nconns + 1) < 0 ||
	    fl->ops->add(fl, &c->w) < 0) {
		/* select beyond FD_SETSIZE ends here too: a client the model
		 * cannot watch is closed at once and counted, as one shed
		 * out of descriptors is (net.h). */
		STAT_ADD(&fl->srv->stats, errors, 1);
		if (c)
			session_free(c->s);
		free(c);
		close(fd);
		reactor_slot_release(&fl->r);
		return;
	}
	c->loop = fl;
	reactor_conn_opened(&fl->r, &c->rc);
	idle_touch(&fl->idle, &c->timer, fl->now_ms);
}

/* Level-triggered: clients left after a batch are reported at the next wait,
 * after the open connections have had their turn. */
static void on_listener_ready(struct fdloop *fl, struct fdwatch *w, unsigned events)
{
	int fd = -EAGAIN;

	(void)w;
	(void)events;
	for (int i = 0; i < NET_ACCEPT_BATCH && (fd = reactor_accept(&fl->r)) >= 0; i++)
		conn_open(fl, fd);
	if (fd == -EBUSY)
		fl->retry_ms = fl->now_ms + NET_ACCEPT_BACKOFF_MS;
}

static void on_wake_ready(struct fdloop *fl, struct fdwatch *w, unsigned events)
{
	(void)w;
	(void)events;
	fl->woken = true;
}

static void on_shutdown_ready(struct fdloop *fl, struct fdwatch *w, unsigned events)
{
	(void)w;
	(void)events;
	fl->drain = true;
}

/* A connection: read, work, write, close. */

static void on_conn_ready(struct fdloop *fl, struct fdwatch *w, unsigned events)
{
	struct conn *c = container_of(w, struct conn, w);

	/* An error or hang-up, where the wait reports one: the read or write we
	 * were waiting to do will meet it. */
	if (events & FDLOOP_ERR)
		events |= c->w.events;
	if (c->lingering) {
		if (reactor_discard(&fl->r, c->w.fd))
			conn_close(c);
	} else if (events & FDLOOP_OUT) {	/* input, if ready too, is reported again */
		conn_advance(c);
	} else if (events & FDLOOP_IN) {
		on_readable(c);
	} else if (events & FDLOOP_ERR) {
		/* Watching nothing -- its work is out, or it waits -- and the
		 * peer reset: nobody is left to answer. */
		STAT_ADD(&fl->srv->stats, resets, 1);
		conn_close(c);
	}
}

/* One read per wake-up: what it leaves, the next wait reports again. */
static void on_readable(struct conn *c)
{
	struct fdloop *fl = c->loop;
	size_t cap;
	char *buf = session_input_buf(c->s, &cap);
	ssize_t n;

	do
		n = read(c->w.fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n < 0) {
		stats_io_error(&fl->srv->stats, errno);	/* a reset, or an error */
		conn_close(c);
		return;
	}
	if (n == 0) {
		c->eof = true;
		session_input_eof(c->s);
	} else if (session_input(c->s, (size_t)n)) {
		idle_touch(&fl->idle, &c->timer, fl->now_ms);
	}
	conn_advance(c);
}

static void conn_advance(struct conn *c)
{
	reactor_advance(&steps, NULL, c, c->s);
}

/* On a worker with --offload (the connection stops reading and its idle timer
 * stops meanwhile); otherwise here, while every other connection waits.  A
 * wait never goes to a worker. */
static void step_work(struct loop *unused, struct conn *c, struct work *w)
{
	struct fdloop *fl = c->loop;

	(void)unused;
	if (work_is_wait(w)) {
		wait_start(c, w);
		return;
	}
	if (reactor_offload(&fl->r, &c->job, w)) {
		c->working = true;
		idle_remove(&c->timer);
		return;
	}
	work_run(w);
	fl->now_ms = clock_ms();	/* timers restarted after the work count from now */
	session_work_done(c->s);
}

/* Output moved: the idle timer restarts from the clock, not from the loop's
 * time, read when poll/select returned: the loop may have served others, or
 * been descheduled, since, and a timer counted from then would fire early (as
 * epoll.c's idle_restart).  Inline, so that a lab starter whose callers are
 * stubs still compiles. */
static inline void idle_restart(struct fdloop *fl, struct conn *c)
{
	fl->now_ms = clock_ms();
	idle_touch(&fl->idle, &c->timer, fl->now_ms);
}

/* 1: all written; 0: the socket buffer is full, output pending (a short
 * write: trying again now would only return EAGAIN); -1: failed and closed. */
static int step_write(struct loop *unused, struct conn *c)
{
	/* LAB 2 ALSO BEGIN */
	struct fdloop *fl = c->loop;
	const char *p;
	size_t n;
	ssize_t sent;

	(void)unused;
	while ((n = session_output(c->s, &p)) > 0) {
		do
			sent = send(c->w.fd, p, n, MSG_NOSIGNAL);
		while (sent < 0 && errno == EINTR);
		if (sent < 0 && errno != EAGAIN) {
			stats_io_error(&fl->srv->stats, errno);	/* a reset, or an error */
			conn_close(c);
			return -1;
		}
		if (sent > 0) {
			session_output_sent(c->s, (size_t)sent);
			if (!c->working && !c->waiting)
				idle_restart(fl, c);
		}
		if (sent < (ssize_t)n) {
			c->blocked = true;
			return 0;
		}
	}
	c->blocked = false;
	return 1;
	/* LAB 2 ALSO END */
}

/* Exact interest, as epoll.c's conn_watch: input only while the session can
 * take it, output only while some is pending.  A change is a store into the
 * model's set, no system call.  A set that does not report hang-ups on its own
 * (select) reads ahead while a request sleeps, as libev does: otherwise a
 * client that reset would hold its descriptor until the sleep was over. */
static void step_watch(struct loop *unused, struct conn *c)
{
	unsigned want = 0;

	(void)unused;
	if (!c->working && !c->eof &&
	    (session_wants_input(c->s) ||
	     (c->waiting && !c->loop->ops->reports_hangups && session_reads_ahead(c->s))))
		want |= FDLOOP_IN;
	if (c->blocked)
		want |= FDLOOP_OUT;
	if (want != c->w.events) {
		c->loop->ops->modify(c->loop, &c->w, want);
		c->w.events = want;
	}
}

/* Its work is back, from a worker or from the database; the session takes
 * the result -- unless the client left meanwhile: conn_close left c to us. */
static void work_back(struct conn *c)
{
	c->working = false;
	if (c->w.fd < 0) {
		session_free(c->s);
		free(c);
		return;
	}
	session_work_done(c->s);
	idle_touch(&c->loop->idle, &c->timer, c->loop->now_ms);
	conn_advance(c);
}

static void on_work_done(struct reactor_job *job)
{
	work_back(container_of(job, struct conn, job));
}

/* A request that waits runs nothing.  /sleep: a timer in the loop's heap,
 * counted from now (not from the last wait: never early), due in
 * on_waits_due; the room was reserved at accept, so this cannot fail.  /db and
 * /queries: the queries go to this loop's database client, and come back in
 * db_done; if it cannot take them (no --db, no connection up), 503 now.  Either
 * way the connection reads nothing more (but see step_watch) and leaves the
 * idle list until its answer. */
static void wait_start(struct conn *c, struct work *w)
{
	struct fdloop *fl = c->loop;

	switch (w->kind) {
	case WORK_SLEEP:
		fl->now_ms = clock_ms();
		timer_start(&fl->waits, &c->wait, fl->now_ms, w->ms);
		c->waiting = true;
		idle_remove(&c->timer);
		return;
	case WORK_DB:
		if (dbloop_submit(c->loop->db, w->db, c)) {
			c->working = true;
			idle_remove(&c->timer);
			return;
		}
		session_work_done(c->s);
		return;
	default:
		return;
	}
}

/* The deadlines that have passed when this turn of the loop comes to its
 * timers: those requests have waited their time, and their responses are due.
 * Only those, not the ones falling due while we answer (epoll.c's on_waits_due
 * says why: a cohort of waits would starve the loop's reading). */
static void on_waits_due(struct fdloop *fl)
{
	uint64_t turn_ms = fl->now_ms;
	struct timer *t;

	while ((t = timer_expired(&fl->waits, turn_ms)) != NULL) {
		struct conn *c = container_of(t, struct conn, wait);

		c->waiting = false;
		session_work_done(c->s);
		idle_touch(&fl->idle, &c->timer, fl->now_ms);
		conn_advance(c);
	}
}

/* The database client's sockets, one watch per connection slot.  The client
 * says when to watch which descriptor for what (dbloop.h); each is its own
 * duplicate, never a connection's. */
struct fdloop_dbsock {
	struct fdwatch w;
	bool in_set;		/* ops->add took it */
	bool lost;		/* ops->add refused it: dbloop_lost after the batch */
};

static void on_db_ready(struct fdloop *fl, struct fdwatch *w, unsigned events)
{
	struct fdloop_dbsock *d = container_of(w, struct fdloop_dbsock, w);
	unsigned ev = 0;

	if (events & (FDLOOP_IN | FDLOOP_ERR))
		ev |= DBLOOP_READ;
	if (events & (FDLOOP_OUT | FDLOOP_ERR))
		ev |= DBLOOP_WRITE;
	dbloop_ready(fl->db, (int)(d - fl->dbsock), ev);
}

/* A socket the model's set cannot take (select: numbered FD_SETSIZE or
 * above) would never be heard from, and its queries would wait forever: the
 * client drops that connection after the batch, failing its queries (503). */
static void db_watch(void *arg, int slot, int fd, unsigned was, unsigned now)
{
	struct fdloop *fl = arg;
	struct fdloop_dbsock *d = &fl->dbsock[slot];
	unsigned events = (now & DBLOOP_READ ? FDLOOP_IN : 0) | (now & DBLOOP_WRITE ? FDLOOP_OUT : 0);

	if (!was) {
		d->w = (struct fdwatch){ .fd = fd, .events = events, .ready = on_db_ready };
		d->in_set = fl->ops->add(fl, &d->w) == 0;
		if (!d->in_set)
			d->lost = fl->dblost = true;
	} else if (!d->in_set) {
		return;
	} else if (!now) {
		fl->ops->remove(fl, &d->w);
		d->in_set = false;
	} else {
		fl->ops->modify(fl, &d->w, events);
		d->w.events = events;
	}
}

/* After the batch, like results of work: advancing a connection may close
 * another that is further down the batch. */
static void db_done(struct fdloop *fl)
{
	struct db_query *q, *next;

	if (fl->dblost) {
		fl->dblost = false;
		for (int i = 0; i < DBLOOP_SLOTS(fl->srv->opts.db_conns); i++) {
			if (fl->dbsock[i].lost) {
				fl->dbsock[i].lost = false;
				dbloop_lost(fl->db, i);
			}
		}
	}
	for (q = dbloop_finished(fl->db); q; q = next) {
		next = q->next;
		work_back(q->owner);
	}
}

/* Out of the set, then closed.  A connection a worker still holds is freed
 * when its work comes back; one that sleeps just stops its timer. */
static void conn_close(struct conn *c)
{
	struct fdloop *fl = c->loop;

	fl->ops->remove(fl, &c->w);
	idle_remove(&c->timer);
	timer_stop(&fl->waits, &c->wait);
	close(c->w.fd);
	c->w.fd = -1;
	reactor_conn_closed(&fl->r, &c->rc);
	if (!c->working) {
		session_free(c->s);
		free(c);
	}
}

/* The hardening: lingering close, the listener's pauses, the drain, timers. */

/* The last response is out: shut down our side and discard what the peer
 * still sends until its FIN or NET_LINGER_MS, because closing with unread
 * input sends a reset that can destroy a response it has not read yet. */
static void step_linger(struct loop *unused, struct conn *c)
{
	struct fdloop *fl = c->loop;

	(void)unused;
	if (c->eof || shutdown(c->w.fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	if (c->w.events != FDLOOP_IN)
		fl->ops->modify(fl, &c->w, FDLOOP_IN);
	c->w.events = FDLOOP_IN;
	c->lingering = true;
	session_free(c->s);
	c->s = NULL;
	idle_remove(&c->timer);
	idle_touch(&fl->linger, &c->timer, fl->now_ms);
}

/* reactor.h's listen: out of the set at --max-conns and after EMFILE (and
 * once the drain has closed it).  Adding fails only when out of memory: the
 * listener then stays out until the next pause ends. */
void fdloop_listen(struct reactor *r, bool on)
{
	struct fdloop *fl = container_of(r, struct fdloop, r);

	if (on == fl->listening || r->lfd < 0)
		return;
	if (on) {
		fl->listening = fl->ops->add(fl, &fl->listener) == 0;
	} else {
		fl->ops->remove(fl, &fl->listener);
		fl->listening = false;
	}
}

/* The drain leaves alone a connection at a worker, or lingering. */
static void conn_drain(struct reactor_conn *rc)
{
	struct conn *c = container_of(rc, struct conn, rc);

	if (!c->working && !c->lingering) {
		session_drain(c->s);
		conn_advance(c);
	}
}

/* SIGINT/SIGTERM: stop accepting (the listener and the shutdown descriptor,
 * readable from now on forever, leave the set), let each connection finish
 * the request in progress.  A drain that outlasts SERVER_DRAIN_MS is cut
 * short by the signal thread. */
static void loop_drain(struct fdloop *fl)
{
	fl->ops->remove(fl, &fl->shutdown);
	fdloop_listen(&fl->r, false);
	fl->retry_ms = 0;
	reactor_drain(&fl->r, conn_drain);
}

static void loop_expire(struct fdloop *fl)
{
	struct idle_entry *e;

	while ((e = idle_expired(&fl->idle, fl->now_ms)) != NULL) {
		STAT_ADD(&fl->srv->stats, timeouts, 1);
		conn_close(container_of(e, struct conn, timer));
	}
	while ((e = idle_expired(&fl->linger, fl->now_ms)) != NULL)
		conn_close(container_of(e, struct conn, timer));
}

static int nearest(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int fdloop_timeout(const struct fdloop *fl)
{
	int t = nearest(idle_wait_ms(&fl->idle, fl->now_ms), idle_wait_ms(&fl->linger, fl->now_ms));

	t = nearest(t, timer_wait_ms(&fl->waits, fl->now_ms));

	if (fl->retry_ms)
		t = nearest(t, fl->retry_ms > fl->now_ms ? (int)(fl->retry_ms - fl->now_ms) : 0);
	return t;
}

void fdloop_begin(struct fdloop *fl)
{
	fl->now_ms = clock_ms();
}

void fdloop_end(struct fdloop *fl)
{
	db_done(fl);
	if (fl->woken) {
		eventfd_t v;

		fl->woken = false;
		eventfd_read(fl->wake.fd, &v);
		reactor_woken(&fl->r, on_work_done);
	}
	if (fl->drain) {
		fl->drain = false;
		loop_drain(fl);
	}
	on_waits_due(fl);
	loop_expire(fl);
	if (fl->retry_ms && fl->now_ms >= fl->retry_ms) {
		fl->retry_ms = 0;
		reactor_retry(&fl->r);
	}
}

bool fdloop_finished(const struct fdloop *fl)
{
	return reactor_finished(&fl->r) && dbloop_pending(fl->db) == 0;
}

/* From a worker or any loop (this one too). */
void fdloop_wake(struct reactor *r)
{
	eventfd_write(container_of(r, struct fdloop, r)->wake.fd, 1);
}

void fdloop_init(struct fdloop *fl, struct server *srv, const struct fdloop_ops *ops)
{
	int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), err;

	if (wake_fd < 0)
		die("eventfd: %s", strerror(errno));
	fl->ops = ops;
	fl->srv = srv;
	idle_init(&fl->idle, (uint64_t)srv->opts.idle_timeout_ms);
	idle_init(&fl->linger, NET_LINGER_MS);
	timer_heap_init(&fl->waits);
	fl->now_ms = clock_ms();
	fl->listener = (struct fdwatch){ .fd = fl->r.lfd, .events = FDLOOP_IN, .ready = on_listener_ready };
	fl->wake = (struct fdwatch){ .fd = wake_fd, .events = FDLOOP_IN, .ready = on_wake_ready };
	fl->shutdown = (struct fdwatch){ .fd = srv->shutdown_fd, .events = FDLOOP_IN,
					 .ready = on_shutdown_ready };
	if ((err = ops->add(fl, &fl->wake)) < 0 || (err = ops->add(fl, &fl->shutdown)) < 0 ||
	    (err = ops->add(fl, &fl->listener)) < 0)
		die("watching the listener: %s", strerror(-err));
	fl->listening = true;
	if (srv->opts.db) {
		fl->dbsock = calloc(DBLOOP_SLOTS((size_t)srv->opts.db_conns), sizeof *fl->dbsock);
		if (!fl->dbsock)
			die("out of memory");
		fl->db = dbloop_for_loop(srv, db_watch, fl);
	}
}

void fdloop_fini(struct fdloop *fl)
{
	dbloop_free(fl->db);
	free(fl->dbsock);
	timer_heap_free(&fl->waits);
	close(fl->wake.fd);
}
