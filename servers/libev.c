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
 * the fourth way) costs O(1).
 *
 * What it costs: a pending queue between epoll_wait and the callbacks, a walk
 * over changed descriptors and a clock read per iteration, and the timer heap.
 * libev drops a descriptor from the epoll set lazily: ev_io_stop leaves it
 * there until an unwanted event shows up (one spurious wake-up and an
 * EPOLL_CTL_DEL), so a watcher must be stopped before its descriptor is
 * closed.  libev aborts the process when an allocation fails.  And where epoll
 * breaks, this breaks: nothing on the loop may block (--offload N moves /cpu and
 * /block to worker threads), one loop uses one core (--reactors N runs N loops,
 * each with its own SO_REUSEPORT listener), and a loop is not thread-safe: only
 * ev_async_send may be called from another thread.
 */
#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/doneq.h"
#include "common/slots.h"
#include "common/net.h"
#include "common/server.h"
#include "common/session.h"
#include "common/workq.h"


struct conn {
	ev_io io;			/* first: its callback gets &c->io; fd -1 once closed */
	ev_timer timer;			/* idle timeout, then NET_LINGER_MS */
	int events;			/* what io waits for now (0: stopped) */
	bool eof;			/* the peer sent FIN: nothing more to read */
	bool blocked;			/* output pending after a short write */
	bool working;			/* its work is on the offload pool */
	bool lingering;			/* write side shut, draining input */
	struct session *s;
	struct work *work;		/* what a worker is running for it */
	struct loop *loop;
	struct conn *prev, *next;	/* loop->conns, walked by the drain */
	struct doneq_item done;		/* in loop->done while its work comes back */
};

#define conn_of(p, member) ((struct conn *)((char *)(p) - offsetof(struct conn, member)))

/* Everything one reactor owns.  With --reactors N there are N of these, each
 * run by its own thread; they share only the offload pool and the counters. */
struct loop {
	struct ev_loop *ev;
	int lfd;			/* -1 once closed */
	ev_io listener;
	ev_io shutdown;			/* srv.shutdown_fd */
	ev_async wake;			/* work done, or a --max-conns slot freed */
	atomic_bool paused;		/* at --max-conns: the listener is stopped */
	ev_timer retry;			/* out of descriptors: the listener is stopped until then */
	bool draining;
	struct conn *conns;
	int nconns;
	int inflight;			/* connections a worker holds */
	struct doneq done;		/* work finished, for the loop to pick up */
	pthread_t thread;
	char discard[16384];		/* what lingering connections still send */
};

static struct server srv;
static struct loop *loops;
static int nloops;
static struct workq *offload;		/* NULL: work runs on the loop */
static struct slots slots;		/* --max-conns, across loops */
static double idle_s;			/* --idle-timeout-ms; 0: ev_timer_again does nothing */

static void conn_advance(struct loop *l, struct conn *c);
static void conn_close(struct loop *l, struct conn *c);
static void on_conn_event(struct ev_loop *ev, ev_io *w, int revents);
static void on_timeout(struct ev_loop *ev, ev_timer *w, int revents);
static void loop_maybe_exit(struct loop *l);

/* --max-conns counts connections across loops (slots.h): a slot is taken
 * before accepting and given back at close.  A loop with no slot left stops its
 * listener; a freed slot wakes every paused loop, this one too, through its
 * ev_async. */
static void slot_release(struct loop *l)
{
	(void)l;
	if (!slots_release(&slots))
		return;
	for (int i = 0; i < nloops; i++)
		if (atomic_load(&loops[i].paused))
			ev_async_send(loops[i].ev, &loops[i].wake);
}

/* A slot freed by another loop between our slots_take() and setting `paused`
 * found no paused loop to wake: look again once `paused` is visible. */
static void listen_pause(struct loop *l)
{
	ev_io_stop(l->ev, &l->listener);
	slots_pause(&slots, &l->paused);
	if (slots_free(&slots))
		ev_async_send(l->ev, &l->wake);
}

static void listen_resume(struct loop *l)
{
	if (slots_resume(&slots, &l->paused) && l->lfd >= 0)
		ev_io_start(l->ev, &l->listener);
}

/* Out of descriptors with nothing shed (net.h): the listener stays readable, so
 * leave it alone for a while rather than spin on it. */
static void listen_backoff(struct loop *l)
{
	ev_io_stop(l->ev, &l->listener);
	ev_timer_set(&l->retry, NET_ACCEPT_BACKOFF_MS / 1000.0, 0);
	ev_timer_start(l->ev, &l->retry);
}

static void listen_retry(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct loop *l = w->data;

	(void)ev;
	(void)revents;
	if (l->lfd >= 0)
		ev_io_start(l->ev, &l->listener);
}

static void conn_open(struct loop *l, int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c || !(c->s = session_new(&srv))) {
		STAT_ADD(&srv.stats, errors, 1);
		free(c);
		close(fd);
		slot_release(l);
		return;
	}
	ev_io_init(&c->io, on_conn_event, fd, EV_READ);
	ev_io_start(l->ev, &c->io);
	c->events = EV_READ;
	ev_init(&c->timer, on_timeout);
	c->timer.repeat = idle_s;
	c->loop = l;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	stats_conn_opened(&srv.stats);
	ev_timer_again(l->ev, &c->timer);
}

/* The listener is level-triggered too: what is left after a batch is reported
 * again next iteration, after the open connections have had their turn. */
static void on_accept(struct ev_loop *ev, ev_io *w, int revents)
{
	struct loop *l = w->data;

	(void)ev;
	(void)revents;
	for (int i = 0; i < NET_ACCEPT_BATCH; i++) {
		if (!slots_take(&slots)) {
			listen_pause(l);
			return;
		}
		int fd = net_accept(l->lfd, true);
		if (fd < 0) {
			slot_release(l);
			if (fd != -EAGAIN)	/* -EMFILE: a client shed; -EBUSY: none (net.h) */
				STAT_ADD(&srv.stats, errors, 1);
			if (fd == -EBUSY)
				listen_backoff(l);
			return;
		}
		conn_open(l, fd);
	}
}

/* One read per wake-up: if it did not drain the socket, level-triggered epoll
 * says so next time. */
static void on_readable(struct loop *l, struct conn *c)
{
	size_t cap;
	char *buf = session_input_buf(c->s, &cap);
	ssize_t n;

	do
		n = read(c->io.fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		if (session_input(c->s, (size_t)n))
			ev_timer_again(l->ev, &c->timer);
	} else if (n == 0) {
		c->eof = true;
		session_input_eof(c->s);
	} else if (errno == EAGAIN) {
		return;
	} else {
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
		return;
	}
	conn_advance(l, c);
}

/* Runs on an offload thread: the loop does not touch c->work meanwhile, and
 * frees nothing of c until the work comes back through loop->done. */
static void work_thread(void *item, void *arg)
{
	struct conn *c = item;
	struct loop *l = c->loop;

	(void)arg;
	work_run(c->work);
	if (doneq_push(&l->done, &c->done))	/* one wake-up per batch */
		ev_async_send(l->ev, &l->wake);
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
		ev_timer_stop(l->ev, &c->timer);
		if (workq_push(offload, c) == 0)
			return;
		c->working = false;	/* out of memory: run it here */
		l->inflight--;
		ev_timer_again(l->ev, &c->timer);
	}
	work_run(w);
	/* The loop's clock stopped at the last epoll_wait: timers restarted after
	 * the work must count from now, not from before it. */
	ev_now_update(l->ev);
	session_work_done(c->s);
}

static void on_work_done(struct loop *l)
{
	struct doneq_item *it, *next;

	for (it = doneq_take(&l->done); it; it = next) {
		struct conn *c = conn_of(it, done);

		next = it->next;
		c->working = false;
		l->inflight--;
		if (c->io.fd < 0) {	/* the client left while its work ran */
			session_free(c->s);
			free(c);
			continue;
		}
		session_work_done(c->s);
		ev_timer_again(l->ev, &c->timer);
		conn_advance(l, c);
	}
	loop_maybe_exit(l);
}

/* Writes until the output is all in the kernel (1), the socket buffer is full
 * (0: output pending, EV_WRITE wanted), or the connection failed and is closed
 * (-1).  A short write means the buffer is full: trying again at once would
 * only return EAGAIN, so wait for EV_WRITE instead. */
static int conn_write(struct loop *l, struct conn *c)
{
	const char *p;
	size_t n;
	ssize_t w;

	while ((n = session_output(c->s, &p)) > 0) {
		do
			w = send(c->io.fd, p, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			STAT_ADD(&srv.stats, errors, 1);
			conn_close(l, c);
			return -1;
		}
		if (w > 0) {
			session_output_sent(c->s, (size_t)w);
			if (!c->working)
				ev_timer_again(l->ev, &c->timer);
		}
		if (w < (ssize_t)n) {
			c->blocked = true;
			return 0;
		}
	}
	c->blocked = false;
	return 1;
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
	int want = 0;

	if (!c->working && !c->eof && session_wants_input(c->s))
		want |= EV_READ;
	if (c->blocked)
		want |= EV_WRITE;
	conn_want(l, c, want);
}

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

static void on_linger_readable(struct loop *l, struct conn *c)
{
	ssize_t n;

	do
		n = read(c->io.fd, l->discard, sizeof l->discard);
	while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno != EAGAIN))
		conn_close(l, c);
}

/* After any event: run the work the session asks for, write what it produced,
 * then close or set what the watcher waits for.  Writing may let the session
 * parse a pipelined request that needs work of its own, hence the loop.
 * (session_work hands each work item out once.) */
static void conn_advance(struct loop *l, struct conn *c)
{
	struct work *w = c->working ? NULL : session_work(c->s);
	int r;

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

/* The loop ends once it drains and nothing is left: ev_run would go on while
 * any watcher is active, and `wake` always is. */
static void loop_maybe_exit(struct loop *l)
{
	if (l->draining && l->nconns == 0 && l->inflight == 0)
		ev_break(l->ev, EVBREAK_ALL);
}

/* Stop before close: libev keeps the descriptor in its epoll set until told.
 * A connection a worker still holds is freed when its work comes back. */
static void conn_close(struct loop *l, struct conn *c)
{
	ev_timer_stop(l->ev, &c->timer);
	ev_io_stop(l->ev, &c->io);
	close(c->io.fd);
	ev_io_set(&c->io, -1, 0);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	stats_conn_closed(&srv.stats);
	slot_release(l);
	if (!c->working) {
		if (c->s)
			session_free(c->s);
		free(c);
	}
	loop_maybe_exit(l);
}

/* libev reports errors and hang-ups as the events the watcher waits for: the
 * read or write we were waiting to do meets them. */
static void on_conn_event(struct ev_loop *ev, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)w;
	struct loop *l = c->loop;

	(void)ev;
	if (c->lingering)
		on_linger_readable(l, c);
	else if (revents & EV_WRITE)	/* EV_READ, if also set, comes back next time */
		conn_advance(l, c);
	else if (revents & EV_READ)
		on_readable(l, c);
}

/* SIGINT/SIGTERM: stop accepting, let each connection finish the request in
 * progress, and leave the loop when the last one has closed.  A drain that
 * outlasts SERVER_DRAIN_MS is cut short by the signal thread (server.h). */
static void loop_drain(struct loop *l)
{
	struct conn *c, *next;

	l->draining = true;
	ev_io_stop(l->ev, &l->shutdown);	/* readable forever */
	slots_resume(&slots, &l->paused);	/* stop waiting for a slot */
	ev_io_stop(l->ev, &l->listener);
	ev_timer_stop(l->ev, &l->retry);
	close(l->lfd);
	l->lfd = -1;
	for (c = l->conns; c; c = next) {
		next = c->next;
		if (c->working || c->lingering)
			continue;
		session_drain(c->s);
		conn_advance(l, c);
	}
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
	struct conn *c = conn_of(w, timer);

	(void)ev;
	(void)revents;
	if (!c->lingering)
		STAT_ADD(&srv.stats, timeouts, 1);
	conn_close(c->loop, c);
}

static void on_wake(struct ev_loop *ev, ev_async *w, int revents)
{
	struct loop *l = w->data;

	(void)ev;
	(void)revents;
	on_work_done(l);
	if (atomic_load(&l->paused) && slots_free(&slots))
		listen_resume(l);
}

/* libev runs the loop: epoll_wait, then the callbacks of every watcher whose
 * event came in (timers included), until loop_maybe_exit breaks it. */
static void loop_run(struct loop *l)
{
	ev_run(l->ev, 0);
}

static void *loop_thread(void *arg)
{
	loop_run(arg);
	return NULL;
}

/* EVFLAG_NOENV: LIBEV_FLAGS cannot swap the backend under the benchmark.
 * EVFLAG_NOSIGMASK: signals belong to server.c's signal thread. */
static void loop_init(struct loop *l, int lfd)
{
	l->ev = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV | EVFLAG_NOSIGMASK);
	if (!l->ev)
		die("ev_loop_new: no epoll backend");
	l->lfd = lfd;
	doneq_init(&l->done);

	ev_io_init(&l->listener, on_accept, lfd, EV_READ);
	l->listener.data = l;
	ev_io_start(l->ev, &l->listener);
	ev_init(&l->retry, listen_retry);
	l->retry.data = l;
	ev_async_init(&l->wake, on_wake);
	l->wake.data = l;
	ev_async_start(l->ev, &l->wake);
	ev_io_init(&l->shutdown, on_shutdown, srv.shutdown_fd, EV_READ);
	l->shutdown.data = l;
	ev_io_start(l->ev, &l->shutdown);
}

int main(int argc, char **argv)
{
	int *lfds;

	server_init(&srv, argc, argv, "libev", OPT_OFFLOAD | OPT_REACTORS);
	slots_init(&slots, srv.opts.max_conns);
	nloops = srv.opts.reactors;
	idle_s = srv.opts.idle_timeout_ms / 1000.;
	lfds = calloc((size_t)nloops, sizeof *lfds);
	loops = calloc((size_t)nloops, sizeof *loops);
	if (!lfds || !loops)
		die("out of memory");
	server_listen(&srv, lfds, nloops, true);

	if (srv.opts.offload > 0) {
		offload = workq_start(srv.opts.offload, 0, work_thread, NULL);
		if (!offload)
			die("starting %d offload threads: %s", srv.opts.offload,
			    strerror(errno));
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
	if (offload)
		workq_stop(offload);
	/* Only now: a late ev_async_send from another loop or a worker must
	 * still find this loop's wake-up descriptor open. */
	for (int i = 0; i < nloops; i++)
		ev_loop_destroy(loops[i].ev);
	server_finish(&srv);
	free(loops);
	return 0;
}
