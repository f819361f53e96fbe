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
 * (uv_timer_t, a heap), a thread pool whose results come back on the loop
 * (uv_queue_work), and the reserve-descriptor trick for EMFILE
 * (uv__emfile_trick, inside uv_listen's accept loop) come with it, on every OS
 * libuv runs on.
 *
 * What it costs: a buffer given to uv_write is libuv's until the callback, and
 * the session may move its output buffer whenever it queues a response, so
 * while a write is in flight this connection neither reads nor takes back the
 * result of its work (epoll.c keeps reading up to the high-water mark).
 * uv_write tries write() at once, though uv_try_write has just come back short:
 * one failing syscall per blocked write.  Handles close asynchronously, so a
 * connection is freed only when the close callbacks of both its handles have
 * run; uv_shutdown waits for POLLOUT before calling shutdown(); each
 * iteration walks libuv's phases (timers, pending, idle, prepare, poll, check,
 * closing); each request moves the connection's timer in the heap
 * (uv_timer_again: remove and insert).  libuv accepts until EAGAIN with no
 * batch limit, so a connect flood holds the loop; and out of descriptors with
 * its reserve gone, it calls on_accept in a loop that only closing the listener
 * ends (on_accept).  Its pool is per process and sized once
 * (UV_THREADPOOL_SIZE): with --reactors N every loop shares the --offload N
 * threads.  Where epoll breaks, this breaks: nothing on the loop may block, and
 * one loop uses one core (--reactors N runs N loops, each with its own
 * SO_REUSEPORT listener).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/doneq.h"
#include "common/slots.h"
#include "common/net.h"
#include "common/server.h"
#include "common/session.h"

#define LISTEN_BACKOFF_MS 100	/* out of descriptors, libuv's reserve lost: listen again after */

struct conn {
	uv_tcp_t tcp;			/* first: stream callbacks get &c->tcp */
	uv_timer_t timer;		/* idle timeout, then NET_LINGER_MS */
	uv_write_t write;		/* the one uv_write in flight */
	uv_shutdown_t shut;		/* lingering close */
	uv_work_t work_req;		/* --offload: on libuv's pool */
	size_t writing;			/* bytes of the session's output uv_write owns */
	int handles;			/* open handles: freed when both have closed */
	bool reading;			/* uv_read_start in effect */
	bool eof;			/* the peer sent FIN: nothing more to read */
	bool blocked;			/* a uv_write is in flight */
	bool working;			/* its work is on the offload pool */
	bool work_ready;		/* the work came back while blocked */
	bool lingering;			/* write side shut, draining input */
	struct session *s;
	struct work *work;		/* what a worker is running for it */
	struct loop *loop;
	struct conn *prev, *next;	/* loop->conns, walked by the drain */
};

#define conn_of(p, member) ((struct conn *)((char *)(p) - offsetof(struct conn, member)))

/* Everything one reactor owns.  With --reactors N there are N of these, each
 * run by its own thread; they share only the offload pool and the counters. */
struct loop {
	uv_loop_t uv;
	uv_tcp_t listener;
	bool listening;			/* false while closed for LISTEN_BACKOFF_MS */
	int lfd_spare;			/* the listening socket again: reopened from it */
	uv_timer_t backoff;
	uv_poll_t shutdown;		/* srv.shutdown_fd */
	uv_async_t wake;		/* a --max-conns slot freed */
	uv_tcp_t reject;		/* out of memory: takes a client from libuv to close it */
	bool rejecting, reject_pending;
	atomic_bool paused;		/* at --max-conns: a client waits in libuv */
	bool draining;
	struct conn *conns;
	int nconns;
	int inflight;			/* connections a worker holds */
	pthread_t thread;
	char discard[16384];		/* what lingering connections still send */
};

static struct server srv;
static struct loop *loops;
static int nloops;
static bool offload;			/* false: work runs on the loop */
static struct slots slots;		/* --max-conns, across loops */
static uint64_t idle_ms;		/* --idle-timeout-ms + 1; 0: off */

static void conn_advance(struct loop *l, struct conn *c);
static void conn_close(struct loop *l, struct conn *c);
static void on_accept(uv_stream_t *server, int status);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_readable(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);
static void on_timeout(uv_timer_t *t);
static void on_work_done(uv_work_t *req, int status);
static void on_written(uv_write_t *req, int status);
static void conn_free(struct conn *c);
static void loop_maybe_exit(struct loop *l);
static void listen_open(struct loop *l, int fd);

/* --max-conns counts connections across loops (slots.h): a slot is taken
 * before accepting and given back at close.  A loop with no slot left leaves
 * its client with libuv; a freed slot wakes every paused loop, this one too,
 * through its uv_async. */
static void slot_release(struct loop *l)
{
	(void)l;
	if (!slots_release(&slots))
		return;
	for (int i = 0; i < nloops; i++)
		if (atomic_load(&loops[i].paused))
			uv_async_send(&loops[i].wake);
}

/* A slot freed by another loop between our slots_take() and setting `paused`
 * found no paused loop to wake: look again once `paused` is visible. */
static void listen_pause(struct loop *l)
{
	slots_pause(&slots, &l->paused);
	if (slots_free(&slots))
		uv_async_send(&l->wake);
}

/* Takes the client libuv has held since the pause; uv_accept restarts the
 * listener. */
static void listen_resume(struct loop *l)
{
	if (slots_resume(&slots, &l->paused))
		on_accept((uv_stream_t *)&l->listener, 0);
}

static void on_rejected(uv_handle_t *h)
{
	struct loop *l = h->data;

	l->rejecting = false;
	if (l->reject_pending && !l->draining) {
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
	slot_release(l);
	if (l->rejecting) {
		l->reject_pending = true;
		return;
	}
	l->rejecting = true;
	uv_tcp_init(&l->uv, &l->reject);
	uv_accept((uv_stream_t *)&l->listener, (uv_stream_t *)&l->reject);
	uv_close((uv_handle_t *)&l->reject, on_rejected);
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
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	stats_conn_opened(&srv.stats);
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

static void on_backoff(uv_timer_t *t)
{
	struct loop *l = t->data;
	int fd = fcntl(l->lfd_spare, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)		/* still out of descriptors */
		uv_timer_start(&l->backoff, on_backoff, LISTEN_BACKOFF_MS, 0);
	else
		listen_open(l, fd);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct loop *l = h->data;

	if (!l->draining)
		uv_timer_start(&l->backoff, on_backoff, LISTEN_BACKOFF_MS, 0);
}

/* libuv accepts before it asks: uv__server_io has the socket in hand when it
 * calls on_accept, and takes no other until uv_accept gives this one a handle
 * -- until then it stops polling the listener.  So at --max-conns we just do
 * not call uv_accept, and listen_resume calls it when a slot frees.  (The
 * client has left the kernel's backlog: it waits in libuv, one descriptor.) */
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
	if (!slots_take(&slots)) {
		listen_pause(l);
		return;
	}
	conn_open(l);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	size_t cap;
	char *p;

	(void)suggested;
	if (c->lingering) {
		p = c->loop->discard;
		cap = sizeof c->loop->discard;
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
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
		return;
	}
	conn_advance(l, c);
	/* LAB 5 END */
}

/* Runs on a thread of libuv's pool: the loop does not touch c->work
 * meanwhile, and frees nothing of c until on_work_done. */
static void work_thread(uv_work_t *req)
{
	work_run(conn_of(req, work_req)->work);
}

/* With --offload the connection stops reading and its idle timer pauses while
 * a worker runs the work; without, the loop runs it and every other
 * connection waits. */
static void work_start(struct loop *l, struct conn *c, struct work *w)
{
	if (offload) {
		c->work = w;
		c->working = true;
		l->inflight++;
		uv_timer_stop(&c->timer);
		if (uv_queue_work(&l->uv, &c->work_req, work_thread, on_work_done) == 0)
			return;
		c->working = false;	/* cannot happen: run it here */
		l->inflight--;
		uv_timer_again(&c->timer);
	}
	work_run(w);
	/* The loop's clock stopped at the last epoll_wait: timers restarted after
	 * the work must count from now, not from before it. */
	uv_update_time(&l->uv);
	session_work_done(c->s);
}

/* libuv calls this on the loop's thread, one connection at a time. */
static void on_work_done(uv_work_t *req, int status)
{
	struct conn *c = conn_of(req, work_req);
	struct loop *l = c->loop;

	(void)status;		/* UV_ECANCELED only after uv_cancel */
	c->working = false;
	l->inflight--;
	if (uv_is_closing((uv_handle_t *)&c->tcp)) {	/* the client left while its work ran */
		conn_free(c);
		loop_maybe_exit(l);
		return;
	}
	c->work_ready = true;
	conn_advance(l, c);
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
			STAT_ADD(&srv.stats, errors, 1);
			conn_close(l, c);
			return -1;
		}
		if (w > 0) {
			session_output_sent(c->s, (size_t)w);
			if (!c->working)
				uv_timer_again(&c->timer);
		}
		if ((size_t)w < n) {
			/* session_output_sent may have moved the output. */
			n = session_output(c->s, &p);
			b = uv_buf_init((char *)p, (unsigned)n);
			if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
				STAT_ADD(&srv.stats, errors, 1);
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
	struct conn *c = conn_of(req, write);
	struct loop *l = c->loop;

	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (status < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
		return;
	}
	c->blocked = false;
	session_output_sent(c->s, c->writing);
	if (!c->working)
		uv_timer_again(&c->timer);
	conn_advance(l, c);
	/* LAB 5 END */
}

/* Reading stops while the output is above the high-water mark, while work
 * runs, and while a uv_write owns the output (see the top).  Writes need no
 * interest of ours: uv_write waits for POLLOUT itself. */
static void conn_watch(struct loop *l, struct conn *c)
{
	bool want = !c->working && !c->eof && !c->blocked && session_wants_input(c->s);

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

static void on_shut(uv_shutdown_t *req, int status)
{
	struct conn *c = conn_of(req, shut);

	if (!uv_is_closing((uv_handle_t *)&c->tcp) && status < 0)
		conn_close(c->loop, c);
}

/* The last response is out.  If the peer may still be sending, shut down our
 * side and read (and discard) until its FIN or NET_LINGER_MS: closing with
 * unread input sends a reset, which can destroy a response the peer has not
 * read yet. */
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
	uv_timer_start(&c->timer, on_timeout, NET_LINGER_MS, 0);
}

/* After any event: run the work the session asks for, write what it produced,
 * then close or set what we read.  Writing may let the session parse a
 * pipelined request that needs work of its own, hence the loop.
 * (session_work hands each work item out once.)  While a uv_write is in
 * flight the session is left alone: finishing work would queue output. */
static void conn_advance(struct loop *l, struct conn *c)
{
	struct work *w;
	int r;

	if (c->work_ready && !c->blocked) {
		c->work_ready = false;
		session_work_done(c->s);
		uv_timer_again(&c->timer);
	}
	w = c->working || c->blocked ? NULL : session_work(c->s);
	for (;;) {
		if (w)
			work_start(l, c, w);
		if ((r = conn_write(l, c)) < 0)
			return;
		if (r == 0 || c->working || !(w = session_work(c->s)))
			break;
	}
	if (session_done(c->s))
		conn_linger(l, c);
	else
		conn_watch(l, c);
}

/* The loop ends once it drains and nothing is left: uv_run returns when no
 * handle is active, and `wake` is until now. */
static void loop_maybe_exit(struct loop *l)
{
	if (l->draining && l->nconns == 0 && l->inflight == 0 &&
	    !uv_is_closing((uv_handle_t *)&l->wake))
		uv_close((uv_handle_t *)&l->wake, NULL);
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
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	stats_conn_closed(&srv.stats);
	slot_release(l);
	loop_maybe_exit(l);
}

/* SIGINT/SIGTERM: stop accepting, let each connection finish the request in
 * progress, and leave the loop when the last one has closed.  A drain that
 * outlasts SERVER_DRAIN_MS is cut short by the signal thread (server.h). */
static void loop_drain(struct loop *l)
{
	struct conn *c, *next;

	l->draining = true;
	uv_close((uv_handle_t *)&l->shutdown, NULL);	/* readable forever */
	slots_resume(&slots, &l->paused);	/* stop waiting for a slot */
	if (l->listening)
		uv_close((uv_handle_t *)&l->listener, NULL);	/* and a client libuv holds */
	l->listening = false;
	uv_close((uv_handle_t *)&l->backoff, NULL);
	close(l->lfd_spare);
	for (c = l->conns; c; c = next) {
		next = c->next;
		if (c->working || c->lingering)
			continue;
		session_drain(c->s);
		conn_advance(l, c);
	}
	loop_maybe_exit(l);
}

static void on_shutdown(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	loop_drain(p->data);
}

static void on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (!c->lingering)
		STAT_ADD(&srv.stats, timeouts, 1);
	conn_close(c->loop, c);
}

static void on_wake(uv_async_t *a)
{
	struct loop *l = a->data;

	if (atomic_load(&l->paused) && slots_free(&slots))
		listen_resume(l);
}

/* libuv runs the loop: timers, poll (epoll_wait and the callbacks of what came
 * in), closing handles, until loop_maybe_exit lets it end. */
static void loop_run(struct loop *l)
{
	uv_run(&l->uv, UV_RUN_DEFAULT);
}

static void *loop_thread(void *arg)
{
	loop_run(arg);
	return NULL;
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

static void loop_init(struct loop *l, int lfd)
{
	int r;

	if ((r = uv_loop_init(&l->uv)) < 0)
		die("libuv: %s", uv_strerror(r));
	listen_open(l, lfd);
	l->lfd_spare = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
	if (l->lfd_spare < 0)
		die("dup: %s", strerror(errno));
	if ((r = uv_timer_init(&l->uv, &l->backoff)) < 0 ||
	    (r = uv_async_init(&l->uv, &l->wake, on_wake)) < 0 ||
	    (r = uv_poll_init(&l->uv, &l->shutdown, srv.shutdown_fd)) < 0 ||
	    (r = uv_poll_start(&l->shutdown, UV_READABLE, on_shutdown)) < 0)
		die("libuv: %s", uv_strerror(r));
	l->backoff.data = l->wake.data = l->shutdown.data = l->reject.data = l;
}

int main(int argc, char **argv)
{
	int *lfds;
	char n[16];

	server_init(&srv, argc, argv, "libuv", OPT_OFFLOAD | OPT_REACTORS);
	slots_init(&slots, srv.opts.max_conns);
	nloops = srv.opts.reactors;
	idle_ms = srv.opts.idle_timeout_ms ? (uint64_t)srv.opts.idle_timeout_ms + 1 : 0;
	lfds = calloc((size_t)nloops, sizeof *lfds);
	loops = calloc((size_t)nloops, sizeof *loops);
	if (!lfds || !loops)
		die("out of memory");
	server_listen(&srv, lfds, nloops, true);

	/* libuv starts its pool at the first uv_queue_work, sized from the
	 * environment; every loop of the process shares it. */
	if (srv.opts.offload > 0) {
		offload = true;
		snprintf(n, sizeof n, "%d", srv.opts.offload);
		if (setenv("UV_THREADPOOL_SIZE", n, 1) < 0)
			die("setenv: %s", strerror(errno));
	}
	for (int i = 0; i < nloops; i++)
		loop_init(&loops[i], lfds[i]);
	free(lfds);
	for (int i = 1; i < nloops; i++)
		if (pthread_create(&loops[i].thread, NULL, loop_thread, &loops[i]) != 0)
			die("starting reactor %d: %s", i, strerror(errno));

	loop_run(&loops[0]);
	for (int i = 1; i < nloops; i++)
		pthread_join(loops[i].thread, NULL);
	/* Only now: a late uv_async_send from another loop must still find
	 * this loop's wake-up descriptor open. */
	for (int i = 0; i < nloops; i++)
		uv_loop_close(&loops[i].uv);
	server_finish(&srv);
	free(loops);
	return 0;
}
