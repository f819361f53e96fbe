/* epoll: a single-threaded reactor on raw epoll, non-blocking sockets.
 *
 * One thread waits in epoll_wait for every connection at once and runs whatever
 * is ready.  A connection costs a struct and a session, not a thread, and a
 * request costs about two system calls -- one read, one write -- plus its share
 * of an epoll_wait that serves every ready connection.  This is the shape of
 * nginx, redis and Node.js.
 *
 * Level-triggered, not edge-triggered.  With edge-triggered epoll a handler must
 * read until EAGAIN, or bytes already queued would never be reported again: that
 * is a third syscall per request that fails on purpose.  Level-triggered epoll
 * reports the socket again at the next epoll_wait while anything is left, so a
 * read that returns less than the buffer needs no second read.  The price is
 * exact interest: a socket we do not want to hear from (no room for input, no
 * output pending) must leave the set, or it wakes the loop forever.  epoll_ctl
 * runs only on those state changes, never per request.
 *
 * A response is written as soon as it is ready; EPOLLOUT is armed only after a
 * short write, while output is pending, and dropped once it drains (libuv's
 * rule).  While output is above the session's high-water mark, EPOLLIN is off:
 * that is the back-pressure.
 *
 * A request that waits (/sleep) runs nothing: its connection takes a timer in the
 * loop's min-heap of deadlines (common/timerheap.h), whose nearest deadline is
 * epoll_wait's timeout, and the loop serves every other connection meanwhile.
 * Ten thousand waiting requests are ten thousand heap entries and one thread
 * (experiment wait).
 *
 * A request that waits on the database (/db, /queries) waits on this loop too.
 * The database client (common/dbloop.h) drives libpq without blocking, in
 * pipeline mode, over this loop's share of --db-conns sockets, which sit in the
 * same epoll set as the connections: it says which of them to watch and for
 * what (db_watch), and when one is ready it takes the answers and hands back
 * the queries that finished.  A waiting request costs its connection's struct
 * and a few hundred bytes in libpq's buffers, not a thread; its rows share the
 * writes and reads of a few sockets with every other waiting request, instead
 * of a round trip each.
 *
 * Trade-off: nothing on the loop may block.  /cpu and /block run on the loop
 * unless --offload N moves them to worker threads, so one slow request stalls
 * every connection (experiment hol).  One loop uses one core; --reactors N runs
 * N loops, each in its own thread with its own SO_REUSEPORT listener, and the
 * kernel spreads connections among them by hash, not by load.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/db.h"
#include "common/dbloop.h"
#include "common/idle.h"
#include "common/net.h"
#include "common/reactor.h"
#include "common/server.h"
#include "common/session.h"
#include "common/timerheap.h"

#define MAX_EVENTS	256	/* events taken per epoll_wait */

struct conn {
	int fd;				/* -1 once closed */
	uint32_t events;		/* what epoll watches for it now */
	bool eof;			/* the peer sent FIN: nothing more to read */
	bool blocked;			/* output pending after a short write */
	bool working;			/* its work is out: on the offload pool, or its
					 * queries with the database client */
	bool waiting;			/* its request sleeps: wait is in loop->waits */
	bool lingering;			/* write side shut, draining input */
	struct session *s;
	struct loop *loop;
	struct idle_entry timer;	/* in loop->idle, or loop->linger */
	struct timer wait;		/* /sleep's deadline */
	struct reactor_conn rc;		/* in the loop's list, walked by the drain */
	struct reactor_job job;		/* --offload: its work, on the way back */
};

/* Everything one reactor owns (reactor.h has the part every model shares).
 * With --reactors N there are N of these, each run by its own thread. */
struct loop {
	struct reactor r;
	int epfd;
	int wake_fd;			/* eventfd: work done, or a --max-conns slot freed */
	uint64_t now_ms;		/* read once per iteration */
	uint64_t retry_ms;		/* out of descriptors: the listener is out of the set until then */
	struct idle_list idle;		/* --idle-timeout-ms */
	struct idle_list linger;	/* NET_LINGER_MS */
	struct timer_heap waits;	/* deadlines of many lengths: one entry per waiting request */
	struct dbloop *db;		/* NULL without --db */
	int *dbslot;			/* dbslot[i] == i: data.ptr of the database client's fd i */
	struct epoll_event events[MAX_EVENTS];
};

static struct server srv;

static void on_accept(struct loop *l);
static void on_conn_event(struct loop *l, struct conn *c, uint32_t ev);
static void on_readable(struct loop *l, struct conn *c);
static void on_work_done(struct reactor_job *job);
static void conn_advance(struct loop *l, struct conn *c);
static void work_start(struct loop *l, struct conn *c, struct work *w);
static void wait_start(struct loop *l, struct conn *c, struct work *w);
static void on_waits_due(struct loop *l);
static bool is_dbsock(const struct loop *l, const void *p);
static void on_db_ready(struct loop *l, const int *slot, uint32_t ev);
static void on_db_done(struct loop *l);
static int conn_write(struct loop *l, struct conn *c);
static void conn_watch(struct loop *l, struct conn *c);
static void conn_close(struct loop *l, struct conn *c);
static void conn_linger(struct loop *l, struct conn *c);
static void loop_drain(struct loop *l);
static void loop_expire(struct loop *l);
static int loop_timeout(const struct loop *l);

/* Handlers called from the event batch touch only their own connection: one
 * closed by someone else could still have an event further down the batch.  So
 * what reaches across connections -- results of work, the drain, timers -- runs
 * after the batch. */
static void loop_run(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);

	while (!reactor_finished(r) || dbloop_pending(l->db) > 0) {
		bool woken = false, drain = false;
		int n = epoll_wait(l->epfd, l->events, MAX_EVENTS, loop_timeout(l));

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		l->now_ms = clock_ms();
		for (int i = 0; i < n; i++) {
			void *p = l->events[i].data.ptr;

			if (p == &r->lfd)
				on_accept(l);
			else if (p == &l->wake_fd)
				woken = true;
			else if (p == &srv.shutdown_fd)
				drain = true;
			else if (is_dbsock(l, p))
				on_db_ready(l, p, l->events[i].events);
			else
				on_conn_event(l, p, l->events[i].events);
		}
		on_db_done(l);
		if (woken) {
			eventfd_t v;
			eventfd_read(l->wake_fd, &v);
			reactor_woken(r, on_work_done);
		}
		if (drain)
			loop_drain(l);
		on_waits_due(l);
		loop_expire(l);
		if (l->retry_ms && l->now_ms >= l->retry_ms) {
			l->retry_ms = 0;
			reactor_retry(r);
		}
	}
}

static void on_conn_event(struct loop *l, struct conn *c, uint32_t ev)
{
	/* Errors and hang-ups are reported whatever we watch: the read or write
	 * we were waiting to do will meet them. */
	if (ev & (EPOLLERR | EPOLLHUP))
		ev |= c->events;
	if (c->lingering) {
		if (reactor_discard(&l->r, c->fd))
			conn_close(l, c);
	} else if (ev & EPOLLOUT) {	/* EPOLLIN, if also set, comes back next time */
		conn_advance(l, c);
	} else if (ev & EPOLLIN) {
		on_readable(l, c);
	} else if (ev & (EPOLLERR | EPOLLHUP)) {
		/* Watching nothing -- its work is out, or it waits -- and the
		 * peer reset: nobody is left to answer. */
		STAT_ADD(&srv.stats, resets, 1);
		conn_close(l, c);
	}
}

static void conn_open(struct loop *l, int fd)
{
	struct conn *c = calloc(1, sizeof *c);
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };

	/* Room in the heap for this connection's wait, now: a timer started
	 * later never allocates. */
	if (!c || !(c->s = session_new(&srv)) ||
	    timer_heap_reserve(&l->waits, (size_t)l->r.nconns + 1) < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		if (c)
			session_free(c->s);
		free(c);
		close(fd);
		reactor_slot_release(&l->r);
		return;
	}
	c->fd = fd;
	c->events = EPOLLIN;
	c->loop = l;
	reactor_conn_opened(&l->r, &c->rc);
	idle_touch(&l->idle, &c->timer, l->now_ms);
}

/* The listener is level-triggered too: what is left after a batch is reported
 * again next iteration, after the open connections have had their turn. */
static void on_accept(struct loop *l)
{
	int fd = -EAGAIN;

	for (int i = 0; i < NET_ACCEPT_BATCH && (fd = reactor_accept(&l->r)) >= 0; i++)
		conn_open(l, fd);
	if (fd == -EBUSY)
		l->retry_ms = l->now_ms + NET_ACCEPT_BACKOFF_MS;
}

/* One read per wake-up: if it did not drain the socket, level-triggered epoll
 * says so next time. */
static void on_readable(struct loop *l, struct conn *c)
{
	/* LAB 2 BEGIN */
	size_t cap;
	char *buf = session_input_buf(c->s, &cap);
	ssize_t n;

	do
		n = read(c->fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)	/* nothing to read after all: wait */
		return;
	if (n < 0) {
		stats_io_error(&srv.stats, errno);	/* a reset, or an error */
		conn_close(l, c);
		return;
	}
	if (n > 0 && session_input(c->s, (size_t)n))
		idle_touch(&l->idle, &c->timer, l->now_ms);
	if (n == 0) {
		c->eof = true;
		session_input_eof(c->s);
	}
	conn_advance(l, c);
	/* LAB 2 END */
}

static const struct reactor_steps steps = { work_start, conn_write, conn_linger, conn_watch };

/* After any event: work, write, then close or set what epoll watches. */
static void conn_advance(struct loop *l, struct conn *c)
{
	reactor_advance(&steps, l, c, c->s);
}

/* With --offload the connection stops reading and leaves the idle list while
 * a worker runs the work; without, the loop runs it and every other
 * connection waits.  A wait never goes to a worker: it needs no CPU. */
static void work_start(struct loop *l, struct conn *c, struct work *w)
{
	if (work_is_wait(w)) {
		wait_start(l, c, w);
		return;
	}
	if (reactor_offload(&l->r, &c->job, w)) {
		c->working = true;
		idle_remove(&c->timer);
		return;
	}
	work_run(w);
	/* The loop's clock stopped at the last epoll_wait: timers restarted after
	 * the work must count from now, not from before it. */
	l->now_ms = clock_ms();
	session_work_done(c->s);
}

/* A request that waits runs nothing.  /sleep: a timer in the loop's heap,
 * counted from now (not from the last epoll_wait: never early), due in
 * on_waits_due; the room was reserved at accept, so this cannot fail.  /db and
 * /queries: the queries go to this loop's database client, and come back in
 * on_db_done; if it cannot take them (no connection up), 503 now.  Either way
 * the connection reads nothing more (the session wants no input) and leaves
 * the idle list until its answer. */
static void wait_start(struct loop *l, struct conn *c, struct work *w)
{
	switch (w->kind) {
	case WORK_SLEEP:
		l->now_ms = clock_ms();
		timer_start(&l->waits, &c->wait, l->now_ms, w->ms);
		c->waiting = true;
		idle_remove(&c->timer);
		break;
	case WORK_DB:
		if (dbloop_submit(l->db, w->db, c)) {
			c->working = true;
			idle_remove(&c->timer);
			break;
		}
		session_work_done(c->s);	/* 503: no connection to the database */
		break;
	default:
		break;		/* not a wait */
	}
}

/* Output moved: the idle timer restarts from the clock, not from the loop's
 * time.  That was read when epoll_wait returned, and the loop may have served
 * other connections, or been descheduled, before this send: a timer counted
 * from then would fire early.  (A vDSO read, no system call: what Node's
 * timers pay too, at every refresh.)  Accept and input may keep the loop's
 * time: the client had acted before epoll_wait returned.
 * Inline, so that a lab starter whose callers are stubs still compiles. */
static inline void idle_restart(struct loop *l, struct conn *c)
{
	l->now_ms = clock_ms();
	idle_touch(&l->idle, &c->timer, l->now_ms);
}

/* Writes until the output is all in the kernel (1), the socket buffer is full
 * (0: output pending, EPOLLOUT wanted), or the connection failed and is closed
 * (-1).  A short write means the buffer is full: trying again at once would
 * only return EAGAIN, so wait for EPOLLOUT instead. */
static int conn_write(struct loop *l, struct conn *c)
{
	/* LAB 2 BEGIN */
	const char *p;
	size_t n;
	ssize_t w;

	while ((n = session_output(c->s, &p)) > 0) {
		do
			w = send(c->fd, p, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			stats_io_error(&srv.stats, errno);	/* a reset, or an error */
			conn_close(l, c);
			return -1;
		}
		if (w > 0) {
			session_output_sent(c->s, (size_t)w);
			if (!c->working && !c->waiting)
				idle_restart(l, c);
		}
		if (w < (ssize_t)n) {
			c->blocked = true;
			return 0;
		}
	}
	c->blocked = false;
	return 1;
	/* LAB 2 END */
}

/* Makes what epoll watches for c match what c can do now: EPOLLIN while it
 * may read (no worker holds it, no FIN yet, the session wants input: that is
 * the back-pressure), EPOLLOUT while a write was short.  epoll_ctl only when
 * that changes; a failure closes c. */
static void conn_watch(struct loop *l, struct conn *c)
{
	/* LAB 2 BEGIN */
	uint32_t want = 0;
	struct epoll_event e;

	if (!c->working && !c->eof && session_wants_input(c->s))
		want |= EPOLLIN;
	if (c->blocked)
		want |= EPOLLOUT;
	if (want == c->events)
		return;
	e.events = want;
	e.data.ptr = c;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
		return;
	}
	c->events = want;
	/* LAB 2 END */
}

/* Its work is back, from a worker or from the database; the session takes
 * the result -- unless the client left meanwhile: conn_close left c to us. */
static void work_back(struct loop *l, struct conn *c)
{
	c->working = false;
	if (c->fd < 0) {
		session_free(c->s);
		free(c);
		return;
	}
	session_work_done(c->s);
	idle_touch(&l->idle, &c->timer, l->now_ms);
	conn_advance(l, c);
}

/* The deadlines that have passed when this turn of the loop comes to its
 * timers: those requests have waited their time, and their responses are due.
 * Only those: answering moves the loop's clock (idle_restart), and a loop that
 * also popped the timers falling due meanwhile would answer a whole cohort of
 * waits -- thousands started together -- before reading any of the requests
 * its answers bring back.  Those would start their waits late, and together
 * again, so every wait would take its time plus the cohort's turn (measured
 * with 5,000 connections sleeping 100 ms: 145 ms a request, 62 % of N/D;
 * taking only what was due when the turn began, 103 ms and 96 %).  libev does
 * the same: it queues the timers that are due, then calls them. */
static void on_waits_due(struct loop *l)
{
	uint64_t turn_ms = l->now_ms;
	struct timer *t;

	while ((t = timer_expired(&l->waits, turn_ms)) != NULL) {
		struct conn *c = container_of(t, struct conn, wait);

		c->waiting = false;
		session_work_done(c->s);
		idle_touch(&l->idle, &c->timer, l->now_ms);
		conn_advance(l, c);
	}
}

static void on_work_done(struct reactor_job *job)
{
	struct conn *c = container_of(job, struct conn, job);

	work_back(c->loop, c);
}

/* The database client's sockets: it says which to watch and for what.  They
 * are the client's own descriptors, never a connection's, so a failing
 * epoll_ctl here means the kernel is out of memory. */
static void db_watch(void *arg, int slot, int fd, unsigned was, unsigned now)
{
	struct loop *l = arg;
	struct epoll_event e = {
		.events = ((now & DBLOOP_READ) ? EPOLLIN : 0) | ((now & DBLOOP_WRITE) ? EPOLLOUT : 0),
		.data.ptr = &l->dbslot[slot],
	};

	if (epoll_ctl(l->epfd, !was ? EPOLL_CTL_ADD : !now ? EPOLL_CTL_DEL : EPOLL_CTL_MOD,
		      fd, &e) < 0)
		die("epoll_ctl on a database socket: %s", strerror(errno));
}

static bool is_dbsock(const struct loop *l, const void *p)
{
	return l->dbslot && p >= (const void *)l->dbslot &&
	       p < (const void *)(l->dbslot + DBLOOP_SLOTS(srv.opts.db_conns));
}

/* A database socket is ready: the client reads and writes what it can.  The
 * queries that finished are taken after the batch (on_db_done), like any work
 * that comes back: advancing their connections may close them (see loop_run). */
static void on_db_ready(struct loop *l, const int *slot, uint32_t ev)
{
	unsigned events = 0;

	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		events |= DBLOOP_READ;
	if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		events |= DBLOOP_WRITE;
	dbloop_ready(l->db, *slot, events);
}

static void on_db_done(struct loop *l)
{
	struct db_query *q, *next;

	for (q = dbloop_finished(l->db); q; q = next) {
		next = q->next;
		work_back(l, q->owner);
	}
}

/* close() also takes fd out of the epoll set (nothing else holds the file).
 * A connection a worker still holds is freed when its work comes back; one
 * that waits just stops its timer. */
static void conn_close(struct loop *l, struct conn *c)
{
	idle_remove(&c->timer);
	timer_stop(&l->waits, &c->wait);
	close(c->fd);
	c->fd = -1;
	reactor_conn_closed(&l->r, &c->rc);
	if (!c->working) {
		session_free(c->s);
		free(c);
	}
}

/* The hardening: lingering close, the listener's pauses, the drain, timers. */

/* The last response is out.  If the peer may still be sending, shut down our
 * side and read (and discard) until its FIN or NET_LINGER_MS: closing with
 * unread input sends a reset, which can destroy a response the peer has not
 * read yet. */
static void conn_linger(struct loop *l, struct conn *c)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };

	if (c->eof || shutdown(c->fd, SHUT_WR) < 0 ||
	    (c->events != EPOLLIN && epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)) {
		conn_close(l, c);
		return;
	}
	c->events = EPOLLIN;
	c->lingering = true;
	session_free(c->s);
	c->s = NULL;
	idle_remove(&c->timer);
	idle_touch(&l->linger, &c->timer, l->now_ms);
}

/* The listener leaves the set at --max-conns and after EMFILE (reactor.h). */
static void loop_listen(struct reactor *r, bool on)
{
	struct loop *l = container_of(r, struct loop, r);
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &r->lfd };

	epoll_ctl(l->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, r->lfd, &e);
}

/* A connection at a worker, or lingering, is finishing already. */
static void conn_drain(struct reactor_conn *rc)
{
	struct conn *c = container_of(rc, struct conn, rc);

	if (!c->working && !c->lingering) {
		session_drain(c->s);
		conn_advance(c->loop, c);
	}
}

/* SIGINT/SIGTERM (shutdown_fd): stop accepting, let each connection finish
 * the request in progress; loop_run returns when the last one has closed.  A
 * drain that outlasts SERVER_DRAIN_MS is cut short by the signal thread. */
static void loop_drain(struct loop *l)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, srv.shutdown_fd, NULL);	/* readable forever */
	l->retry_ms = 0;
	reactor_drain(&l->r, conn_drain);	/* closing the listener takes it out of the set */
}

/* Its idle timer or lingering close ran out (reactor_expire). */
static void conn_expired(struct idle_entry *e)
{
	struct conn *c = container_of(e, struct conn, timer);

	conn_close(c->loop, c);
}

/* The idle timers and lingering closes that have run out: those connections
 * close (reactor.c keeps the two lists' walk, which uring's loop shares). */
static void loop_expire(struct loop *l)
{
	reactor_expire(&l->idle, &l->linger, l->now_ms, conn_expired);
}

/* epoll_wait's timeout: the nearest of the waits', idle, linger and
 * listener-retry deadlines (-1: none). */
static int loop_timeout(const struct loop *l)
{
	return reactor_wait_ms(&l->idle, &l->linger, &l->waits, l->retry_ms, l->now_ms);
}

/* From a worker or any loop (this one too): the eventfd is loop_run's. */
static void loop_wake(struct reactor *r)
{
	eventfd_write(container_of(r, struct loop, r)->wake_fd, 1);
}

static void loop_init(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);
	struct epoll_event e = { .events = EPOLLIN };

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->epfd < 0 || l->wake_fd < 0)
		die("epoll/eventfd: %s", strerror(errno));
	idle_init(&l->idle, (uint64_t)srv.opts.idle_timeout_ms);
	idle_init(&l->linger, NET_LINGER_MS);
	timer_heap_init(&l->waits);
	l->now_ms = clock_ms();

	e.data.ptr = &r->lfd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, r->lfd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	e.data.ptr = &l->wake_fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	e.data.ptr = &srv.shutdown_fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, srv.shutdown_fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));

	if (srv.opts.db) {
		l->dbslot = calloc(DBLOOP_SLOTS((size_t)srv.opts.db_conns), sizeof *l->dbslot);
		if (!l->dbslot)
			die("out of memory");
		for (int i = 0; i < DBLOOP_SLOTS(srv.opts.db_conns); i++)
			l->dbslot[i] = i;
		l->db = dbloop_for_loop(&srv, db_watch, l);
	}
}

static void loop_fini(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);

	dbloop_free(l->db);
	free(l->dbslot);
	timer_heap_free(&l->waits);
}

int main(int argc, char **argv)
{
	static const struct reactor_ops ops = {
		.size = sizeof(struct loop), .offset = offsetof(struct loop, r), .offload = true,
		.init = loop_init, .run = loop_run, .wake = loop_wake, .listen = loop_listen,
		.fini = loop_fini,
	};

	server_init(&srv, argc, argv, "epoll", OPT_OFFLOAD | OPT_REACTORS);
	reactors_run(&srv, &ops);
	server_finish(&srv);
	return 0;
}
