/* libuv: the epoll reactor on libuv's handles (the engine under Node.js).
 *
 * The same loop as epoll.c -- one thread, one epoll set, level-triggered, one
 * read and one write per request -- written with libuv's streams: a uv_tcp_t
 * per connection, reads that land in a buffer we hand out, writes that libuv
 * finishes on its own.
 *
 * What libuv buys: no readiness bookkeeping.  uv_read_start reads for us (into
 * session_input_buf, so no copy) and reports EOF and errors; uv_try_write is a
 * plain write() with no request; what it leaves goes to uv_write, which waits
 * for POLLOUT itself and calls back when the last byte is out.  Timers
 * (uv_timer_t, a heap: a request that waits, /sleep, borrows its connection's
 * idle timer for the wait), a thread pool whose results come back on the loop
 * (uv_queue_work), and the reserve-descriptor trick for EMFILE
 * (uv__emfile_trick, inside uv_listen's accept loop) come with it, on every OS
 * libuv runs on.
 *
 * The database (/db, /queries) is waited for on the loop as in epoll.c, through
 * uv_poll_t: libuv's handle for a descriptor that someone else reads and
 * writes, here the sockets of the database client (common/dbloop.h).  Its
 * descriptor is fixed at uv_poll_init, so each new socket the client opens
 * gets a handle of its own, closed (asynchronously, like every handle) when
 * the client lets that socket go.
 *
 * What it costs: a buffer given to uv_write is libuv's until the callback, and
 * the session may move its output buffer whenever it queues a response, so
 * while a write is in flight this connection neither reads nor takes back the
 * result of its work (epoll.c keeps reading up to the high-water mark).
 * uv_write tries write() at once, though uv_try_write has just come back short:
 * one failing syscall per blocked write.  Handles close asynchronously, so a
 * connection is freed only when the close callbacks of both its handles have
 * run; a handle that is not read reports no error, so a connection whose
 * request waits keeps reading (session_reads_ahead), or a client that reset
 * would hold its descriptor until the wait was over; uv_shutdown waits for
 * POLLOUT before calling shutdown(); each
 * iteration walks libuv's phases (timers, pending, idle, prepare, poll, check,
 * closing); each request moves the connection's timer in the heap
 * (uv_timer_again: remove and insert).  Its pool is per process and sized once
 * (UV_THREADPOOL_SIZE): with --reactors N every loop shares the --offload N
 * threads.  Where epoll breaks, this breaks: nothing on the loop may block, and
 * one loop uses one core (--reactors N runs N loops, each with its own
 * SO_REUSEPORT listener).
 *
 * Accepting depends on the version.  This file is built against libuv 1.44
 * (Debian 12 ships 1.44.2), whose uv__server_io accepts until EAGAIN with no
 * batch limit, so a connect flood holds the loop; and out of descriptors with
 * its reserve gone, it calls on_accept in a loop that only closing the
 * listener ends (on_accept).  libuv 1.45 changed both: it accepts one client
 * per wake-up and leaves the rest to level-triggered polling, and it no longer
 * reports a failed accept at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/db.h"
#include "common/dbloop.h"
#include "common/net.h"
#include "common/reactor.h"
#include "common/server.h"
#include "common/session.h"

struct conn {
	uv_tcp_t tcp;			/* first: stream callbacks get &c->tcp */
	uv_timer_t timer;		/* idle timeout (or, while waiting, the wait), then NET_LINGER_MS */
	uv_write_t write;		/* the one uv_write in flight */
	uv_shutdown_t shut;		/* lingering close */
	uv_work_t work_req;		/* --offload: on libuv's pool */
	size_t writing;			/* bytes of the session's output uv_write owns */
	int handles;			/* open handles: freed when both have closed */
	bool reading;			/* uv_read_start in effect */
	bool eof;			/* the peer sent FIN: nothing more to read */
	bool blocked;			/* a uv_write is in flight */
	bool working;			/* its work is out: on the offload pool, or its
					 * queries with the database client */
	bool waiting;			/* its request sleeps: timer runs on_wait_done */
	bool work_ready;		/* the work came back, or the wait ended, while blocked */
	bool lingering;			/* write side shut, draining input */
	struct session *s;
	struct work *work;		/* what a worker is running for it */
	struct loop *loop;
	struct reactor_conn rc;		/* in the loop's list, walked by the drain */
};

/* Everything one reactor owns (reactor.h has the part every model shares).
 * With --reactors N there are N of these, each run by its own thread. */
struct loop {
	struct reactor r;
	uv_loop_t uv;
	uv_tcp_t listener;
	bool listening;			/* false while closed for NET_ACCEPT_BACKOFF_MS */
	int lfd_spare;			/* the listening socket again: reopened from it */
	uv_timer_t backoff;
	uv_poll_t shutdown;		/* srv.shutdown_fd */
	uv_async_t wake;		/* a --max-conns slot freed */
	uv_tcp_t reject;		/* out of memory: takes a client from libuv to close it */
	bool rejecting, reject_pending;
	struct dbloop *db;		/* NULL without --db, and once the loop is done */
	struct dbpoll **dbpoll;		/* the handle of each database socket, or NULL */
};

/* A socket of the database client, and which of its connections it is. */
struct dbpoll {
	uv_poll_t poll;			/* first: the callback gets &p->poll */
	int slot;
};

static struct server srv;
static bool offload;			/* false: work runs on the loop */
static uint64_t idle_ms;		/* --idle-timeout-ms + 1; 0: off */

static void conn_advance(struct loop *l, struct conn *c);
static void conn_close(struct loop *l, struct conn *c);
static void conn_free(struct conn *c);
static void conn_linger(struct loop *l, struct conn *c);
static void conn_reject(struct loop *l);
static void conn_watch(struct loop *l, struct conn *c);
static int conn_write(struct loop *l, struct conn *c);
static void work_start(struct loop *l, struct conn *c, struct work *w);
static void wait_start(struct loop *l, struct conn *c, struct work *w);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_readable(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);
static void on_timeout(uv_timer_t *t);
static inline uint64_t clock_lag_ms(const struct loop *l);
static void on_written(uv_write_t *req, int status);
static void on_listener_closed(uv_handle_t *h);
static void loop_maybe_exit(struct loop *l);

/* libuv runs the loop: timers, poll (epoll_wait and the callbacks of what came
 * in), closing handles, until loop_maybe_exit lets it end. */
static void loop_run(struct reactor *r)
{
	uv_run(&container_of(r, struct loop, r)->uv, UV_RUN_DEFAULT);
}

/* A --max-conns slot was freed, by any loop (this one too). */
static void on_wake(uv_async_t *a)
{
	struct loop *l = a->data;

	reactor_woken(&l->r, NULL);
}

static void conn_open(struct loop *l)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c || !(c->s = session_new(&srv))) {
		free(c);
		conn_reject(l);
		return;
	}
	uv_tcp_init(&l->uv, &c->tcp);
	uv_timer_init(&l->uv, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	c->loop = l;
	reactor_conn_opened(&l->r, &c->rc);
	/* Cannot fail: a client is waiting and the handle is new. */
	if (uv_accept((uv_stream_t *)&l->listener, (uv_stream_t *)&c->tcp) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_readable) < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
		return;
	}
	c->reading = true;
	/* Small responses leave at once, not after Nagle's 40 ms (net_accept
	 * does the same for the other models). */
	uv_tcp_nodelay(&c->tcp, 1);
	if (idle_ms)
		uv_timer_start(&c->timer, on_timeout, idle_ms, idle_ms);
}

/* libuv accepts before it asks: uv__server_io has the socket in hand when it
 * calls on_accept, and takes no other until uv_accept gives this one a handle
 * -- until then it stops polling the listener.  So at --max-conns we just do
 * not call uv_accept, and reactor_woken calls us again when a slot frees.
 * (The client has left the kernel's backlog: it waits in libuv, one
 * descriptor.) */
static void on_accept(uv_stream_t *server, int status)
{
	struct loop *l = server->data;

	if (status < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		/* Out of descriptors, and libuv's reserve is gone: another loop
		 * took the descriptor uv__emfile_trick freed, and libuv never
		 * reopens it.  uv__server_io would call us again at once, for as
		 * long as accept fails, and nothing else on this loop would run
		 * (joyent/libuv#1189).  Closing the listener is the only way out
		 * of that loop: close it, and listen again from the spare
		 * descriptor after a pause.  (When the trick works, the clients
		 * it sheds are never reported.) */
		if ((status == UV_EMFILE || status == UV_ENFILE) && l->listening) {
			l->listening = false;
			uv_close((uv_handle_t *)server, on_listener_closed);
		}
		return;
	}
	if (reactor_slot_take(&l->r))
		conn_open(l);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	size_t cap;
	char *p;

	(void)suggested;
	if (c->lingering) {
		p = c->loop->r.discard;
		cap = sizeof c->loop->r.discard;
	} else {
		p = session_input_buf(c->s, &cap);
	}
	*buf = uv_buf_init(p, (unsigned)cap);
}

/* libuv reads once per wake-up unless the read filled the buffer, then calls
 * this: n bytes, 0 for EAGAIN (it waits for POLLIN itself), UV_EOF, or an
 * error. */
static void on_readable(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	/* LAB 5 BEGIN */
	struct conn *c = (struct conn *)stream;
	struct loop *l = c->loop;

	(void)buf;
	if (c->lingering) {
		if (n < 0)	/* the peer's FIN, or an error: done */
			conn_close(l, c);
		return;
	}
	if (n > 0) {
		if (session_input(c->s, (size_t)n))
			uv_timer_again(&c->timer);
	} else if (n == UV_EOF) {
		c->eof = true;
		c->reading = false;	/* libuv stopped reading */
		session_input_eof(c->s);
	} else if (n == 0) {
		return;
	} else {
		stats_io_error(&srv.stats, (int)-n);	/* a reset, or an error */
		conn_close(l, c);
		return;
	}
	conn_advance(l, c);
	/* LAB 5 END */
}

static const struct reactor_steps steps = { work_start, conn_write, conn_linger, conn_watch };

/* After any event: take back work that finished while a write was in flight,
 * then work, write, and close or set what we read -- unless a uv_write is
 * (still) in flight: finishing work would queue output, and the session may
 * move its output buffer while libuv owns part of it. */
static void conn_advance(struct loop *l, struct conn *c)
{
	if (c->work_ready && !c->blocked) {
		c->work_ready = false;
		session_work_done(c->s);
		uv_timer_again(&c->timer);
	}
	if (c->blocked)
		conn_watch(l, c);
	else
		reactor_advance(&steps, l, c, c->s);
}

/* Runs on a thread of libuv's pool: the loop does not touch c->work
 * meanwhile, and frees nothing of c until on_work_done. */
static void work_thread(uv_work_t *req)
{
	work_run(container_of(req, struct conn, work_req)->work);
}

/* Its work is back, from the pool or from the database; the session takes
 * the result -- unless the client left meanwhile. */
static void work_back(struct loop *l, struct conn *c)
{
	c->working = false;
	if (uv_is_closing((uv_handle_t *)&c->tcp)) {
		conn_free(c);
		loop_maybe_exit(l);
		return;
	}
	c->work_ready = true;
	conn_advance(l, c);
}

/* libuv calls this on the loop's thread, one connection at a time. */
static void on_work_done(uv_work_t *req, int status)
{
	struct conn *c = container_of(req, struct conn, work_req);

	(void)status;		/* UV_ECANCELED only after uv_cancel */
	c->loop->r.inflight--;
	work_back(c->loop, c);
}

/* With --offload the connection stops reading and its timer stops while a
 * thread of libuv's pool runs the work; without, the loop runs it and every
 * other connection waits.  A wait never goes to the pool: it needs no CPU. */
static void work_start(struct loop *l, struct conn *c, struct work *w)
{
	if (work_is_wait(w)) {
		wait_start(l, c, w);
		return;
	}
	if (offload) {
		c->work = w;
		c->working = true;
		l->r.inflight++;
		uv_timer_stop(&c->timer);
		if (uv_queue_work(&l->uv, &c->work_req, work_thread, on_work_done) == 0)
			return;
		c->working = false;	/* cannot happen: run it here */
		l->r.inflight--;
		uv_timer_again(&c->timer);
	}
	/* The timers restarted after the work add the time it took (clock_lag_ms):
	 * no uv_update_time, for the reason given there. */
	work_run(w);
	session_work_done(c->s);
}

/* The wait is over.  The idle timer comes back; the session takes the end of
 * the wait as it takes finished work, once no uv_write owns its output. */
static void on_wait_done(uv_timer_t *t)
{
	struct conn *c = t->data;

	c->waiting = false;
	if (idle_ms)
		uv_timer_start(&c->timer, on_timeout, idle_ms + clock_lag_ms(c->loop), idle_ms);
	c->work_ready = true;
	conn_advance(c->loop, c);
}

/* A request that waits runs nothing.  /sleep: the connection's timer counts
 * the wait instead of the idle timeout, from now (clock_lag_ms: not from the
 * last epoll_wait), plus 1 ms because libuv's clock is in whole milliseconds:
 * never early.  Without a repeat, uv_timer_again leaves it alone, so output
 * written meanwhile cannot cut the wait short.  /db and /queries: the queries
 * go to this loop's database client, the connection stops reading and its
 * timer stops until they are answered (on_db_event); if the client cannot take
 * them (no connection up), 503 now. */
static void wait_start(struct loop *l, struct conn *c, struct work *w)
{
	switch (w->kind) {
	case WORK_SLEEP:
		uv_timer_start(&c->timer, on_wait_done, w->ms + 1 + clock_lag_ms(l), 0);
		c->waiting = true;
		break;
	case WORK_DB:
		if (dbloop_submit(l->db, w->db, c)) {
			c->working = true;
			uv_timer_stop(&c->timer);
			break;
		}
		session_work_done(c->s);	/* 503: no connection to the database */
		break;
	default:
		break;		/* not a wait */
	}
}

static void on_dbpoll_closed(uv_handle_t *h)
{
	free(h);
}

/* A database socket is ready (or failed: the client finds out how): the
 * client reads and writes what it can, and the connections whose queries
 * finished take their rows. */
static void on_db_event(uv_poll_t *p, int status, int events)
{
	struct loop *l = p->data;
	unsigned ev = status < 0 ? DBLOOP_READ | DBLOOP_WRITE : 0;
	struct db_query *q, *next;

	if (events & (UV_READABLE | UV_DISCONNECT))
		ev |= DBLOOP_READ;
	if (events & UV_WRITABLE)
		ev |= DBLOOP_WRITE;
	dbloop_ready(l->db, ((struct dbpoll *)p)->slot, ev);
	for (q = dbloop_finished(l->db); q; q = next) {
		next = q->next;
		work_back(l, q->owner);
	}
	loop_maybe_exit(l);
}

/* The database client's sockets: a uv_poll_t for each new one, started with
 * what the client asks for, closed when the client lets it go (uv_close
 * stops polling at once, before the client closes the descriptor). */
static void db_watch(void *arg, int slot, int fd, unsigned was, unsigned now)
{
	struct loop *l = arg;
	struct dbpoll *p = l->dbpoll[slot];
	int e;

	if (!now) {
		uv_close((uv_handle_t *)&p->poll, on_dbpoll_closed);
		l->dbpoll[slot] = NULL;
		return;
	}
	if (!was) {
		if (!(p = malloc(sizeof *p)))
			die("out of memory");
		if ((e = uv_poll_init(&l->uv, &p->poll, fd)) < 0)
			die("uv_poll_init on a database socket: %s", uv_strerror(e));
		p->poll.data = l;
		p->slot = slot;
		l->dbpoll[slot] = p;
	}
	e = uv_poll_start(&p->poll, ((now & DBLOOP_READ) ? UV_READABLE : 0) |
			  ((now & DBLOOP_WRITE) ? UV_WRITABLE : 0), on_db_event);
	if (e < 0)
		die("uv_poll_start on a database socket: %s", uv_strerror(e));
}

/* How far the clock has moved since the loop read it (uv_now, at the last
 * epoll_wait): the loop may have run other callbacks, or been descheduled,
 * since.  A timer started from a callback adds it, so that it counts from now
 * and never fires early.  (A vDSO read, no system call: Node's timers read the
 * clock at every refresh too.)  Why not uv_update_time: inside a timer
 * callback it moves the time libuv 1.44's uv__run_timers compares with, and
 * that goes on to call the timers that fell due meanwhile.  Answering a wait
 * would then answer a whole cohort of waits -- thousands started together --
 * before reading any of the requests those answers bring back (measured with
 * 5,000 connections sleeping 100 ms: 153 ms a request, 65 % of N/D; with the
 * lag instead, 103 ms and 96 %).  Later libuv releases take the due timers
 * first, then call them, as libev always has. */
static inline uint64_t clock_lag_ms(const struct loop *l)
{
	uint64_t now = uv_hrtime() / 1000000, then = uv_now(&l->uv);

	return now > then ? now - then : 0;
}

/* Output moved: the idle timer restarts from the clock, not from the loop's
 * time (clock_lag_ms).  While a request waits the timer has no repeat, and
 * stays as it is, like uv_timer_again's.
 * Inline, so that a lab starter whose callers are stubs still compiles. */
static inline void idle_restart(struct loop *l, struct conn *c)
{
	if (uv_timer_get_repeat(&c->timer))
		uv_timer_start(&c->timer, on_timeout, idle_ms + clock_lag_ms(l), idle_ms);
}

/* Writes until the output is all in the kernel (1), the socket buffer is full
 * (0: output pending, uv_write finishes it), or the connection failed and is
 * closed (-1).  A short write means the buffer is full: what is left goes to
 * uv_write, which waits for POLLOUT and calls on_written. */
static int conn_write(struct loop *l, struct conn *c)
{
	/* LAB 5 BEGIN */
	const char *p;
	size_t n;
	uv_buf_t b;
	int w;

	if (c->blocked)
		return 0;
	while ((n = session_output(c->s, &p)) > 0) {
		b = uv_buf_init((char *)p, (unsigned)n);
		w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (w == UV_EAGAIN)
			w = 0;
		if (w < 0) {
			stats_io_error(&srv.stats, -w);	/* a reset, or an error */
			conn_close(l, c);
			return -1;
		}
		if (w > 0) {
			session_output_sent(c->s, (size_t)w);
			if (!c->working)
				idle_restart(l, c);
		}
		if ((size_t)w < n) {
			/* session_output_sent may have moved the output. */
			n = session_output(c->s, &p);
			b = uv_buf_init((char *)p, (unsigned)n);
			if ((w = uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written)) < 0) {
				stats_io_error(&srv.stats, -w);
				conn_close(l, c);
				return -1;
			}
			c->writing = n;
			c->blocked = true;
			return 0;
		}
	}
	return 1;
	/* LAB 5 END */
}

/* After conn_close, libuv still completes writes: with UV_ECANCELED, or with
 * 0 for one that had finished. */
static void on_written(uv_write_t *req, int status)
{
	/* LAB 5 BEGIN */
	struct conn *c = container_of(req, struct conn, write);
	struct loop *l = c->loop;

	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (status < 0) {
		stats_io_error(&srv.stats, -status);	/* a reset, or an error */
		conn_close(l, c);
		return;
	}
	c->blocked = false;
	session_output_sent(c->s, c->writing);
	if (!c->working)
		idle_restart(l, c);
	conn_advance(l, c);
	/* LAB 5 END */
}

/* Reading stops while the output is above the high-water mark, while work
 * runs, and while a uv_write owns the output (see the top); while a request
 * waits it goes on, to see a reset (session_reads_ahead).  Writes need no
 * interest of ours: uv_write waits for POLLOUT itself. */
static void conn_watch(struct loop *l, struct conn *c)
{
	bool want = !c->working && !c->eof && !c->blocked &&
		    (session_wants_input(c->s) || (c->waiting && session_reads_ahead(c->s)));

	if (want == c->reading)
		return;
	if (!want)
		uv_read_stop((uv_stream_t *)&c->tcp);
	else if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_readable) < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
		return;
	}
	c->reading = want;
}

/* Frees a connection once both handles have closed and no worker holds it. */
static void conn_free(struct conn *c)
{
	if (c->handles > 0 || c->working)
		return;
	session_free(c->s);
	free(c);
}

static void on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->handles--;
	conn_free(c);
}

/* uv_close closes the descriptor at once and cancels the write and shutdown
 * in flight; the memory waits for on_closed. */
static void conn_close(struct loop *l, struct conn *c)
{
	uv_close((uv_handle_t *)&c->timer, on_closed);
	uv_close((uv_handle_t *)&c->tcp, on_closed);
	reactor_conn_closed(&l->r, &c->rc);
	loop_maybe_exit(l);
}

/* The hardening: lingering close, the listener's pauses, the drain, timers. */

static void on_shut(uv_shutdown_t *req, int status)
{
	struct conn *c = container_of(req, struct conn, shut);

	if (!uv_is_closing((uv_handle_t *)&c->tcp) && status < 0)
		conn_close(c->loop, c);
}

/* The last response is out.  If the peer may still be sending, shut down our
 * side and read (and discard, into on_alloc's buffer) until its FIN or
 * NET_LINGER_MS: closing with unread input sends a reset, which can destroy a
 * response the peer has not read yet. */
static void conn_linger(struct loop *l, struct conn *c)
{
	if (c->eof || uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shut) < 0 ||
	    (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_readable) < 0)) {
		conn_close(l, c);
		return;
	}
	c->reading = true;
	c->lingering = true;
	session_free(c->s);
	c->s = NULL;
	uv_timer_start(&c->timer, on_timeout, NET_LINGER_MS + clock_lag_ms(l), 0);
}

/* At --max-conns the client waits in libuv (on_accept), which has stopped
 * polling the listener by itself: pausing needs nothing, and resuming takes
 * that client; uv_accept restarts the listener. */
static void loop_listen(struct reactor *r, bool on)
{
	struct loop *l = container_of(r, struct loop, r);

	if (on)
		on_accept((uv_stream_t *)&l->listener, 0);
}

static void on_rejected(uv_handle_t *h)
{
	struct loop *l = h->data;

	l->rejecting = false;
	if (l->reject_pending && !l->r.draining) {
		l->reject_pending = false;
		on_accept((uv_stream_t *)&l->listener, 0);
	}
}

/* Out of memory: uv_accept needs a handle to take the client from libuv, so
 * the loop's own takes it and closes it.  While that one is still closing,
 * the client waits in libuv (its listener stopped) for on_rejected. */
static void conn_reject(struct loop *l)
{
	STAT_ADD(&srv.stats, errors, 1);
	reactor_slot_release(&l->r);
	if (l->rejecting) {
		l->reject_pending = true;
		return;
	}
	l->rejecting = true;
	uv_tcp_init(&l->uv, &l->reject);
	uv_accept((uv_stream_t *)&l->listener, (uv_stream_t *)&l->reject);
	uv_close((uv_handle_t *)&l->reject, on_rejected);
}

/* The listener is server_listen's socket, adopted with uv_tcp_open, so every
 * model listens on the same kind of socket.  (libuv 1.44 has no flag for
 * SO_REUSEPORT; the other way is uv_tcp_init_ex, setsockopt on uv_fileno, then
 * uv_tcp_bind -- server_listen's work again.)  uv_listen calls listen() once
 * more, which only sets the backlog again.  Closing a listener closes one of
 * the socket's descriptors: lfd_spare keeps the socket, its SO_REUSEPORT place
 * and its backlog. */
static void listen_open(struct loop *l, int fd)
{
	int r;

	if ((r = uv_tcp_init(&l->uv, &l->listener)) < 0 ||
	    (r = uv_tcp_open(&l->listener, fd)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&l->listener, srv.opts.backlog, on_accept)) < 0)
		die("libuv listener: %s", uv_strerror(r));
	l->listener.data = l;
	l->listening = true;
}

static void on_backoff(uv_timer_t *t)
{
	struct loop *l = t->data;
	int fd = fcntl(l->lfd_spare, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)		/* still out of descriptors */
		uv_timer_start(&l->backoff, on_backoff, NET_ACCEPT_BACKOFF_MS, 0);
	else
		listen_open(l, fd);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct loop *l = h->data;

	if (!l->r.draining)
		uv_timer_start(&l->backoff, on_backoff, NET_ACCEPT_BACKOFF_MS, 0);
}

/* Each connection finishes the request in progress; one at a worker or
 * lingering is on its way out already. */
static void conn_drain(struct reactor_conn *rc)
{
	struct conn *c = container_of(rc, struct conn, rc);

	if (!c->working && !c->lingering) {
		session_drain(c->s);
		conn_advance(c->loop, c);
	}
}

/* SIGINT/SIGTERM (the shutdown poll handle): stop accepting -- closing the
 * listener also drops a client libuv holds -- and let each connection finish
 * the request in progress; uv_run returns once no handle is left
 * (loop_maybe_exit).  The signal thread cuts short a drain that outlasts
 * SERVER_DRAIN_MS. */
static void on_shutdown(uv_poll_t *p, int status, int events)
{
	struct loop *l = p->data;

	(void)status;
	(void)events;
	uv_close((uv_handle_t *)&l->shutdown, NULL);	/* readable forever */
	if (l->listening)
		uv_close((uv_handle_t *)&l->listener, NULL);
	l->listening = false;
	uv_close((uv_handle_t *)&l->backoff, NULL);
	close(l->lfd_spare);
	reactor_drain(&l->r, conn_drain);
	loop_maybe_exit(l);
}

static void on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (!c->lingering)
		STAT_ADD(&srv.stats, timeouts, 1);
	conn_close(c->loop, c);
}

/* The loop ends once it drains and nothing is left: uv_run returns when no
 * handle is active, and `wake` is until now, and so are the database client's
 * sockets until it is freed. */
static void loop_maybe_exit(struct loop *l)
{
	if (!reactor_finished(&l->r) || dbloop_pending(l->db) > 0 ||
	    uv_is_closing((uv_handle_t *)&l->wake))
		return;
	uv_close((uv_handle_t *)&l->wake, NULL);
	dbloop_free(l->db);
	l->db = NULL;
}

/* From any loop's thread: uv_async_send is the one libuv call that is safe
 * from another thread. */
static void loop_wake(struct reactor *r)
{
	uv_async_send(&container_of(r, struct loop, r)->wake);
}

static void loop_init(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);
	int e;

	if ((e = uv_loop_init(&l->uv)) < 0)
		die("libuv: %s", uv_strerror(e));
	listen_open(l, r->lfd);
	l->lfd_spare = fcntl(r->lfd, F_DUPFD_CLOEXEC, 0);
	if (l->lfd_spare < 0)
		die("dup: %s", strerror(errno));
	r->lfd = -1;		/* the listener's now */
	if ((e = uv_timer_init(&l->uv, &l->backoff)) < 0 ||
	    (e = uv_async_init(&l->uv, &l->wake, on_wake)) < 0 ||
	    (e = uv_poll_init(&l->uv, &l->shutdown, srv.shutdown_fd)) < 0 ||
	    (e = uv_poll_start(&l->shutdown, UV_READABLE, on_shutdown)) < 0)
		die("libuv: %s", uv_strerror(e));
	l->backoff.data = l->wake.data = l->shutdown.data = l->reject.data = l;
	if (srv.opts.db) {
		l->dbpoll = calloc(DBLOOP_SLOTS((size_t)srv.opts.db_conns), sizeof *l->dbpoll);
		if (!l->dbpoll)
			die("out of memory");
		l->db = dbloop_for_loop(&srv, db_watch, l);
	}
}

/* After every loop has returned: a late uv_async_send from another loop must
 * still find this loop's wake-up descriptor open until then. */
static void loop_fini(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);

	uv_loop_close(&l->uv);
	free(l->dbpoll);
}

int main(int argc, char **argv)
{
	static const struct reactor_ops ops = {
		.size = sizeof(struct loop), .offset = offsetof(struct loop, r),
		.init = loop_init, .run = loop_run, .wake = loop_wake, .listen = loop_listen,
		.fini = loop_fini,
	};
	char n[16];

	server_init(&srv, argc, argv, "libuv", OPT_OFFLOAD | OPT_REACTORS);
	idle_ms = srv.opts.idle_timeout_ms ? (uint64_t)srv.opts.idle_timeout_ms + 1 : 0;
	/* libuv starts its pool at the first uv_queue_work, sized from the
	 * environment; every loop of the process shares it. */
	if (srv.opts.offload > 0) {
		offload = true;
		snprintf(n, sizeof n, "%d", srv.opts.offload);
		if (setenv("UV_THREADPOOL_SIZE", n, 1) < 0)
			die("setenv: %s", strerror(errno));
	}
	reactors_run(&srv, &ops);
	server_finish(&srv);
	return 0;
}
