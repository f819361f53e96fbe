/* libev: the epoll reactor on libev's watchers, backend EVBACKEND_EPOLL.
 *
 * The same loop as epoll.c -- one thread, one epoll set, level-triggered, one
 * read and one write per request -- written with libev's watchers instead of
 * epoll_ctl.  The backend is forced to epoll, so what differs from epoll.c is
 * the library, not the kernel interface.
 *
 * What libev buys: a watcher per thing to wait for (ev_io per socket, ev_timer
 * per connection, ev_async for other threads), started and stopped without
 * bookkeeping.  libev gathers interest changes and applies them once per
 * iteration, folds EPOLLERR and EPOLLHUP into the events a watcher waits for,
 * and forgets the pending event of a watcher that is stopped, so any callback
 * may close any connection: epoll.c's rule that a handler touches only its own
 * connection, and its deferred timers and drain, are gone.  Timers: libev's
 * documentation ("Be smart about timeouts") gives four ways to run an idle
 * timeout; this file uses the second, one ev_timer per connection re-armed with
 * ev_timer_again, because it is what a libev user writes.  It costs an O(log n)
 * move in libev's 4-ary heap per request where epoll.c's list (common/idle.c,
 * the fourth way) costs O(1).  A request that waits (/sleep) gets an ev_timer of
 * its own in the same heap, while the loop serves everyone else.
 *
 * The database (/db, /queries) is waited for on the loop as in epoll.c: an
 * ev_io per socket of the database client (common/dbloop.h), started, changed
 * and stopped as the client asks (db_watch); the queries that finished are
 * taken in that watcher's callback and their connections advanced at once.
 *
 * What it costs: a pending queue between epoll_wait and the callbacks, a walk
 * over changed descriptors and a clock read per iteration, and the timer heap.
 * libev drops a descriptor from the epoll set lazily: ev_io_stop leaves it
 * there until an unwanted event shows up (one spurious wake-up and an
 * EPOLL_CTL_DEL), so a watcher must be stopped before its descriptor is
 * closed.  Nor does a stopped watcher hear of errors: a connection whose
 * request waits keeps reading (session_reads_ahead), or a client that reset
 * would hold its descriptor until the wait was over.  libev aborts the process
 * when an allocation fails.  And where epoll
 * breaks, this breaks: nothing on the loop may block (--offload N moves /cpu and
 * /block to worker threads), one loop uses one core (--reactors N runs N loops,
 * each with its own SO_REUSEPORT listener), and a loop is not thread-safe: only
 * ev_async_send may be called from another thread.
 */
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/db.h"
#include "common/dbloop.h"
#include "common/net.h"
#include "common/reactor.h"
#include "common/server.h"
#include "common/session.h"

struct conn {
	ev_io io;			/* first: its callback gets &c->io; fd -1 once closed */
	ev_timer timer;			/* idle timeout, then NET_LINGER_MS */
	ev_timer wait;			/* /sleep's deadline */
	int events;			/* what io waits for now (0: stopped) */
	bool eof;			/* the peer sent FIN: nothing more to read */
	bool blocked;			/* output pending after a short write */
	bool working;			/* its work is out: on the offload pool, or its
					 * queries with the database client */
	bool waiting;			/* its request sleeps: wait is running */
	bool lingering;			/* write side shut, draining input */
	struct session *s;
	struct loop *loop;
	struct reactor_conn rc;		/* in the loop's list, walked by the drain */
	struct reactor_job job;		/* --offload: its work, on the way back */
};

/* Everything one reactor owns (reactor.h has the part every model shares).
 * With --reactors N there are N of these, each run by its own thread. */
struct loop {
	struct reactor r;
	struct ev_loop *ev;
	ev_io listener;
	ev_io shutdown;			/* srv.shutdown_fd */
	ev_async wake;			/* work done, or a --max-conns slot freed */
	ev_timer retry;			/* out of descriptors: the listener is stopped until then */
	struct dbloop *db;		/* NULL without --db */
	ev_io *dbio;			/* one per database connection, the client's slots */
};

static struct server srv;
static double idle_s;			/* --idle-timeout-ms; 0: ev_timer_again does nothing */

static void on_readable(struct loop *l, struct conn *c);
static void on_timeout(struct ev_loop *ev, ev_timer *w, int revents);
static void on_wait_done(struct ev_loop *ev, ev_timer *w, int revents);
static void on_work_done(struct reactor_job *job);
static void conn_advance(struct loop *l, struct conn *c);
static void work_start(struct loop *l, struct conn *c, struct work *w);
static void wait_start(struct loop *l, struct conn *c, struct work *w);
static int conn_write(struct loop *l, struct conn *c);
static void conn_watch(struct loop *l, struct conn *c);
static void conn_close(struct loop *l, struct conn *c);
static void conn_linger(struct loop *l, struct conn *c);
static void loop_drain(struct loop *l);
static void loop_maybe_exit(struct loop *l);

/* libev runs the loop: epoll_wait, then the callback of every watcher whose
 * event came in -- connections, the listener, timers, wake-ups, shutdown --
 * until loop_maybe_exit breaks it. */
static void loop_run(struct reactor *r)
{
	ev_run(container_of(r, struct loop, r)->ev, 0);
}

/* libev reports errors and hang-ups as the events the watcher waits for: the
 * read or write we were waiting to do meets them. */
static void on_conn_event(struct ev_loop *ev, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)w;
	struct loop *l = c->loop;

	(void)ev;
	if (c->lingering) {
		if (reactor_discard(&l->r, c->io.fd))
			conn_close(l, c);
	} else if (revents & EV_WRITE) {	/* EV_READ, if also set, comes back next time */
		conn_advance(l, c);
	} else if (revents & EV_READ) {
		on_readable(l, c);
	}
}

/* A worker finished, or a --max-conns slot was freed (by any loop). */
static void on_wake(struct ev_loop *ev, ev_async *w, int revents)
{
	struct loop *l = w->data;

	(void)ev;
	(void)revents;
	reactor_woken(&l->r, on_work_done);
	loop_maybe_exit(l);
}

static void conn_open(struct loop *l, int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c || !(c->s = session_new(&srv))) {
		STAT_ADD(&srv.stats, errors, 1);
		free(c);
		close(fd);
		reactor_slot_release(&l->r);
		return;
	}
	ev_io_init(&c->io, on_conn_event, fd, EV_READ);
	ev_io_start(l->ev, &c->io);
	c->events = EV_READ;
	ev_init(&c->timer, on_timeout);
	c->timer.repeat = idle_s;
	ev_init(&c->wait, on_wait_done);
	c->loop = l;
	reactor_conn_opened(&l->r, &c->rc);
	ev_timer_again(l->ev, &c->timer);
}

/* The listener is level-triggered too: what is left after a batch is reported
 * again next iteration, after the open connections have had their turn. */
static void on_accept(struct ev_loop *ev, ev_io *w, int revents)
{
	struct loop *l = w->data;
	int fd = -EAGAIN;

	(void)ev;
	(void)revents;
	for (int i = 0; i < NET_ACCEPT_BATCH && (fd = reactor_accept(&l->r)) >= 0; i++)
		conn_open(l, fd);
	if (fd == -EBUSY) {
		ev_timer_set(&l->retry, NET_ACCEPT_BACKOFF_MS / 1000.0, 0);
		ev_timer_start(l->ev, &l->retry);
	}
}

/* One read per wake-up: if it did not drain the socket, level-triggered epoll
 * says so next time. */
static void on_readable(struct loop *l, struct conn *c)
{
	/* LAB 2 ALSO BEGIN */
	size_t cap;
	char *buf = session_input_buf(c->s, &cap);
	ssize_t n;

	do
		n = read(c->io.fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)	/* nothing to read after all: wait */
		return;
	if (n < 0) {
		stats_io_error(&srv.stats, errno);	/* a reset, or an error */
		conn_close(l, c);
		return;
	}
	if (n > 0 && session_input(c->s, (size_t)n))
		ev_timer_again(l->ev, &c->timer);
	if (n == 0) {
		c->eof = true;
		session_input_eof(c->s);
	}
	conn_advance(l, c);
	/* LAB 2 ALSO END */
}

static const struct reactor_steps steps = { work_start, conn_write, conn_linger, conn_watch };

/* After any event: work, write, then close or set what the watcher waits for. */
static void conn_advance(struct loop *l, struct conn *c)
{
	reactor_advance(&steps, l, c, c->s);
}

/* With --offload the connection stops reading and its ev_timer stops while a
 * worker runs the work; without, the loop runs it and every other connection
 * waits.  A wait never goes to a worker: it needs no CPU. */
static void work_start(struct loop *l, struct conn *c, struct work *w)
{
	if (work_is_wait(w)) {
		wait_start(l, c, w);
		return;
	}
	if (reactor_offload(&l->r, &c->job, w)) {
		c->working = true;
		ev_timer_stop(l->ev, &c->timer);
		return;
	}
	work_run(w);
	/* The loop's clock stopped at the last epoll_wait: timers restarted after
	 * the work must count from now, not from before it. */
	ev_now_update(l->ev);
	session_work_done(c->s);
}

/* A request that waits runs nothing, and its connection's idle timer stops
 * until the answer.  /sleep: the connection's own ev_timer, counted from now
 * (ev_now_update: not from the last epoll_wait, so never early), due in
 * on_wait_done.  /db and /queries: the queries go to this loop's database
 * client, and come back in on_db_event; if it cannot take them (no connection
 * up), 503 now. */
static void wait_start(struct loop *l, struct conn *c, struct work *w)
{
	switch (w->kind) {
	case WORK_SLEEP:
		ev_now_update(l->ev);
		ev_timer_set(&c->wait, (double)w->ms / 1000., 0.);
		ev_timer_start(l->ev, &c->wait);
		c->waiting = true;
		ev_timer_stop(l->ev, &c->timer);
		break;
	case WORK_DB:
		if (dbloop_submit(l->db, w->db, c)) {
			c->working = true;
			ev_timer_stop(l->ev, &c->timer);
			break;
		}
		session_work_done(c->s);	/* 503: no connection to the database */
		break;
	default:
		break;		/* not a wait */
	}
}

/* Writes until the output is all in the kernel (1), the socket buffer is full
 * (0: output pending, EV_WRITE wanted), or the connection failed and is closed
 * (-1).  A short write means the buffer is full: trying again at once would
 * only return EAGAIN, so wait for EV_WRITE instead.
 *
 * Output that moved restarts the idle timer from the clock (ev_now_update), not
 * from ev_now: that was read when epoll_wait returned, and the loop may have
 * run other callbacks, or been descheduled, before this send; a timer counted
 * from then would fire early.  (A vDSO read, no system call: Node's timers do
 * the same at every refresh.) */
static int conn_write(struct loop *l, struct conn *c)
{
	/* LAB 2 ALSO BEGIN */
	const char *p;
	size_t n;
	ssize_t w;

	while ((n = session_output(c->s, &p)) > 0) {
		do
			w = send(c->io.fd, p, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			stats_io_error(&srv.stats, errno);	/* a reset, or an error */
			conn_close(l, c);
			return -1;
		}
		if (w > 0) {
			session_output_sent(c->s, (size_t)w);
			if (!c->working && !c->waiting) {
				ev_now_update(l->ev);
				ev_timer_again(l->ev, &c->timer);
			}
		}
		if (w < (ssize_t)n) {
			c->blocked = true;
			return 0;
		}
	}
	c->blocked = false;
	return 1;
	/* LAB 2 ALSO END */
}

/* Changing what a watcher waits for means stopping it; libev turns the stop
 * and the start into at most one epoll_ctl, at the next iteration. */
static void conn_want(struct loop *l, struct conn *c, int want)
{
	if (want == c->events)
		return;
	ev_io_stop(l->ev, &c->io);
	ev_io_modify(&c->io, want);
	if (want)
		ev_io_start(l->ev, &c->io);
	c->events = want;
}

static void conn_watch(struct loop *l, struct conn *c)
{
	/* LAB 2 ALSO BEGIN */
	int want = 0;

	if (!c->working && !c->eof &&
	    (session_wants_input(c->s) || (c->waiting && session_reads_ahead(c->s))))
		want |= EV_READ;
	if (c->blocked)
		want |= EV_WRITE;
	conn_want(l, c, want);
	/* LAB 2 ALSO END */
}

/* Its work is back, from a worker or from the database; the session takes
 * the result -- unless the client left meanwhile: conn_close left c to us. */
static void work_back(struct loop *l, struct conn *c)
{
	c->working = false;
	if (c->io.fd < 0) {
		session_free(c->s);
		free(c);
		return;
	}
	session_work_done(c->s);
	ev_timer_again(l->ev, &c->timer);
	conn_advance(l, c);
}

/* The wait is over: the request has its answer. */
static void on_wait_done(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct conn *c = container_of(w, struct conn, wait);

	(void)revents;
	c->waiting = false;
	session_work_done(c->s);
	ev_timer_again(ev, &c->timer);
	conn_advance(c->loop, c);
}

static void on_work_done(struct reactor_job *job)
{
	struct conn *c = container_of(job, struct conn, job);

	work_back(c->loop, c);
}

/* The database client's sockets: an ev_io each, set to what the client asks
 * for; stopped before the client closes the descriptor (see the header). */
static void db_watch(void *arg, int slot, int fd, unsigned was, unsigned now)
{
	struct loop *l = arg;
	ev_io *w = &l->dbio[slot];

	(void)was;
	ev_io_stop(l->ev, w);
	if (now) {
		ev_io_set(w, fd, ((now & DBLOOP_READ) ? EV_READ : 0) |
				 ((now & DBLOOP_WRITE) ? EV_WRITE : 0));
		ev_io_start(l->ev, w);
	}
}

/* A database socket is ready: the client reads and writes what it can, and
 * the connections whose queries finished take their rows. */
static void on_db_event(struct ev_loop *ev, ev_io *w, int revents)
{
	struct loop *l = w->data;
	struct db_query *q, *next;

	(void)ev;
	dbloop_ready(l->db, (int)(w - l->dbio), ((revents & EV_READ) ? DBLOOP_READ : 0) |
						 ((revents & EV_WRITE) ? DBLOOP_WRITE : 0));
	for (q = dbloop_finished(l->db); q; q = next) {
		next = q->next;
		work_back(l, q->owner);
	}
	loop_maybe_exit(l);
}

/* Stop before close: libev keeps the descriptor in its epoll set until told.
 * A connection a worker still holds is freed when its work comes back. */
static void conn_close(struct loop *l, struct conn *c)
{
	ev_timer_stop(l->ev, &c->timer);
	ev_timer_stop(l->ev, &c->wait);
	ev_io_stop(l->ev, &c->io);
	close(c->io.fd);
	ev_io_set(&c->io, -1, 0);
	reactor_conn_closed(&l->r, &c->rc);
	if (!c->working) {
		session_free(c->s);
		free(c);
	}
	loop_maybe_exit(l);
}

/* The hardening: lingering close, the listener's pauses, the drain, timers. */

/* The last response is out.  If the peer may still be sending, shut down our
 * side and read (and discard) until its FIN or NET_LINGER_MS: closing with
 * unread input sends a reset, which can destroy a response the peer has not
 * read yet. */
static void conn_linger(struct loop *l, struct conn *c)
{
	if (c->eof || shutdown(c->io.fd, SHUT_WR) < 0) {
		conn_close(l, c);
		return;
	}
	conn_want(l, c, EV_READ);
	c->lingering = true;
	session_free(c->s);
	c->s = NULL;
	c->timer.repeat = NET_LINGER_MS / 1000.;
	ev_timer_again(l->ev, &c->timer);
}

/* The listener is stopped at --max-conns and after EMFILE (reactor.h). */
static void loop_listen(struct reactor *r, bool on)
{
	struct loop *l = container_of(r, struct loop, r);

	if (on)
		ev_io_start(l->ev, &l->listener);
	else
		ev_io_stop(l->ev, &l->listener);
}

static void listen_retry(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	reactor_retry(w->data);
}

/* The drain leaves alone a connection at a worker, or lingering. */
static void conn_drain(struct reactor_conn *rc)
{
	struct conn *c = container_of(rc, struct conn, rc);

	if (!c->working && !c->lingering) {
		session_drain(c->s);
		conn_advance(c->loop, c);
	}
}

/* SIGINT/SIGTERM (the shutdown watcher): stop accepting, let each connection
 * finish the request in progress; ev_run returns once the last one has closed
 * (loop_maybe_exit).  The signal thread cuts short a drain that outlasts
 * SERVER_DRAIN_MS. */
static void loop_drain(struct loop *l)
{
	ev_io_stop(l->ev, &l->shutdown);	/* readable forever */
	ev_io_stop(l->ev, &l->listener);	/* before reactor_drain closes it */
	ev_timer_stop(l->ev, &l->retry);
	reactor_drain(&l->r, conn_drain);
	loop_maybe_exit(l);
}

static void on_shutdown(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	(void)revents;
	loop_drain(w->data);
}

static void on_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct conn *c = container_of(w, struct conn, timer);

	(void)ev;
	(void)revents;
	if (!c->lingering)
		STAT_ADD(&srv.stats, timeouts, 1);
	conn_close(c->loop, c);
}

/* The loop ends once it drains and nothing is left: ev_run would go on while
 * any watcher is active, and `wake` always is. */
static void loop_maybe_exit(struct loop *l)
{
	if (reactor_finished(&l->r) && dbloop_pending(l->db) == 0)
		ev_break(l->ev, EVBREAK_ALL);
}

/* From a worker or any loop: ev_async_send is the one libev call that is
 * safe from another thread. */
static void loop_wake(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);

	ev_async_send(l->ev, &l->wake);
}

/* EVFLAG_NOENV: LIBEV_FLAGS cannot swap the backend under the benchmark.
 * EVFLAG_NOSIGMASK: signals belong to server.c's signal thread. */
static void loop_init(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);

	l->ev = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
	if (!l->ev)
		die("ev_loop_new: no epoll backend");
	ev_io_init(&l->listener, on_accept, r->lfd, EV_READ);
	l->listener.data = l;
	ev_io_start(l->ev, &l->listener);
	ev_init(&l->retry, listen_retry);
	l->retry.data = r;
	ev_async_init(&l->wake, on_wake);
	l->wake.data = l;
	ev_async_start(l->ev, &l->wake);
	ev_io_init(&l->shutdown, on_shutdown, srv.shutdown_fd, EV_READ);
	l->shutdown.data = l;
	ev_io_start(l->ev, &l->shutdown);
	if (srv.opts.db) {
		l->dbio = calloc(DBLOOP_SLOTS((size_t)srv.opts.db_conns), sizeof *l->dbio);
		if (!l->dbio)
			die("out of memory");
		for (int i = 0; i < DBLOOP_SLOTS(srv.opts.db_conns); i++) {
			ev_init(&l->dbio[i], on_db_event);
			l->dbio[i].data = l;
		}
		l->db = dbloop_for_loop(&srv, db_watch, l);
	}
}

/* After every loop has returned: a late ev_async_send from another loop or a
 * worker must still find this loop's wake-up descriptor open until then. */
static void loop_fini(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);

	dbloop_free(l->db);
	free(l->dbio);
	ev_loop_destroy(l->ev);
}

int main(int argc, char **argv)
{
	static const struct reactor_ops ops = {
		.size = sizeof(struct loop), .offset = offsetof(struct loop, r), .offload = true,
		.init = loop_init, .run = loop_run, .wake = loop_wake, .listen = loop_listen,
		.fini = loop_fini,
	};

	server_init(&srv, argc, argv, "libev", OPT_OFFLOAD | OPT_REACTORS);
	idle_s = srv.opts.idle_timeout_ms / 1000.;
	reactors_run(&srv, &ops);
	server_finish(&srv);
	return 0;
}
