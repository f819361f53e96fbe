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
 * Trade-off: nothing on the loop may block.  /cpu and /block run on the loop
 * unless --offload N moves them to worker threads, so one slow request stalls
 * every connection (experiment hol).  One loop uses one core; --reactors N runs
 * N loops, each in its own thread with its own SO_REUSEPORT listener, and the
 * kernel spreads connections among them by hash, not by load.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/idle.h"
#include "common/doneq.h"
#include "common/slots.h"
#include "common/net.h"
#include "common/server.h"
#include "common/session.h"
#include "common/workq.h"

#define MAX_EVENTS	256	/* events taken per epoll_wait */

struct conn {
	int fd;				/* -1 once closed */
	uint32_t events;		/* what epoll watches for it now */
	bool eof;			/* the peer sent FIN: nothing more to read */
	bool blocked;			/* output pending after a short write */
	bool working;			/* its work is on the offload pool */
	bool lingering;			/* write side shut, draining input */
	struct session *s;
	struct work *work;		/* what a worker is running for it */
	struct loop *loop;
	struct idle_entry timer;	/* in loop->idle, or loop->linger */
	struct conn *prev, *next;	/* loop->conns, walked by the drain */
	struct doneq_item done;		/* in loop->done while its work comes back */
};

#define conn_of(p, member) ((struct conn *)((char *)(p) - offsetof(struct conn, member)))

/* Everything one reactor owns.  With --reactors N there are N of these, each
 * run by its own thread; they share only the offload pool and the counters. */
struct loop {
	int epfd;
	int lfd;			/* -1 once closed */
	int wake_fd;			/* eventfd: work done, or a --max-conns slot freed */
	atomic_bool paused;		/* at --max-conns: lfd left the epoll set */
	uint64_t retry_ms;		/* out of descriptors: lfd left the set until then */
	bool draining;
	uint64_t now_ms;		/* read once per iteration */
	struct idle_list idle;		/* --idle-timeout-ms */
	struct idle_list linger;	/* NET_LINGER_MS */
	struct conn *conns;
	int nconns;
	int inflight;			/* connections a worker holds */
	struct doneq done;		/* work finished, for the loop to pick up */
	pthread_t thread;
	struct epoll_event events[MAX_EVENTS];
	char discard[16384];		/* what lingering connections still send */
};

static struct server srv;
static struct loop *loops;
static int nloops;
static struct workq *offload;		/* NULL: work runs on the loop */
static struct slots slots;		/* --max-conns, across loops */

static void conn_advance(struct loop *l, struct conn *c);
static void conn_close(struct loop *l, struct conn *c);

/* --max-conns counts connections across loops (slots.h): a slot is taken
 * before accepting and given back at close.  A loop with no slot left takes its
 * listener out of the set and checks again after each iteration; a freed slot
 * wakes the other paused loops, which may be asleep. */
static void slot_release(struct loop *l)
{
	if (!slots_release(&slots))
		return;
	for (int i = 0; i < nloops; i++)
		if (&loops[i] != l && atomic_load(&loops[i].paused))
			eventfd_write(loops[i].wake_fd, 1);
}

static void listen_pause(struct loop *l)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->lfd, NULL);
	slots_pause(&slots, &l->paused);
}

static void listen_resume(struct loop *l)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &l->lfd };

	if (slots_resume(&slots, &l->paused) && l->lfd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->lfd, &e);
}

/* Out of descriptors with nothing shed (net.h): the listener stays readable, so
 * leave it alone for a while rather than spin on it. */
static void listen_backoff(struct loop *l)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->lfd, NULL);
	l->retry_ms = l->now_ms + NET_ACCEPT_BACKOFF_MS;
}

static void listen_retry(struct loop *l)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &l->lfd };

	l->retry_ms = 0;
	if (l->lfd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->lfd, &e);
}

static void conn_open(struct loop *l, int fd)
{
	struct conn *c = calloc(1, sizeof *c);
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };

	if (!c || !(c->s = session_new(&srv)) ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		if (c && c->s)
			session_free(c->s);
		free(c);
		close(fd);
		slot_release(l);
		return;
	}
	c->fd = fd;
	c->events = EPOLLIN;
	c->loop = l;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	stats_conn_opened(&srv.stats);
	idle_touch(&l->idle, &c->timer, l->now_ms);
}

/* The listener is level-triggered too: what is left after a batch is reported
 * again next iteration, after the open connections have had their turn. */
static void on_accept(struct loop *l)
{
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
	/* LAB 2 BEGIN */
	size_t cap;
	char *buf = session_input_buf(c->s, &cap);
	ssize_t n;

	do
		n = read(c->fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		if (session_input(c->s, (size_t)n))
			idle_touch(&l->idle, &c->timer, l->now_ms);
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
	/* LAB 2 END */
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
		eventfd_write(l->wake_fd, 1);
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
		idle_remove(&c->timer);
		if (workq_push(offload, c) == 0)
			return;
		c->working = false;	/* out of memory: run it here */
		l->inflight--;
		idle_touch(&l->idle, &c->timer, l->now_ms);
	}
	work_run(w);
	/* The loop's clock stopped at the last epoll_wait: timers restarted after
	 * the work must count from now, not from before it. */
	l->now_ms = clock_ms();
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
		if (c->fd < 0) {	/* the client left while its work ran */
			session_free(c->s);
			free(c);
			continue;
		}
		session_work_done(c->s);
		idle_touch(&l->idle, &c->timer, l->now_ms);
		conn_advance(l, c);
	}
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
			STAT_ADD(&srv.stats, errors, 1);
			conn_close(l, c);
			return -1;
		}
		if (w > 0) {
			session_output_sent(c->s, (size_t)w);
			if (!c->working)
				idle_touch(&l->idle, &c->timer, l->now_ms);
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

static void on_linger_readable(struct loop *l, struct conn *c)
{
	ssize_t n;

	do
		n = read(c->fd, l->discard, sizeof l->discard);
	while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno != EAGAIN))
		conn_close(l, c);
}

/* After any event: run the work the session asks for, write what it produced,
 * then close or set what epoll watches.  Writing may let the session parse a
 * pipelined request that needs work of its own, hence the loop.  (session_work
 * hands each work item out once.) */
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

/* close() also takes fd out of the epoll set (nothing else holds the file).
 * A connection a worker still holds is freed when its work comes back. */
static void conn_close(struct loop *l, struct conn *c)
{
	idle_remove(&c->timer);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	stats_conn_closed(&srv.stats);
	slot_release(l);
	if (c->working)
		return;
	if (c->s)
		session_free(c->s);
	free(c);
}

static void on_conn_event(struct loop *l, struct conn *c, uint32_t ev)
{
	/* Errors and hang-ups are reported whatever we watch: the read or write
	 * we were waiting to do will meet them. */
	if (ev & (EPOLLERR | EPOLLHUP))
		ev |= c->events;
	if (c->lingering)
		on_linger_readable(l, c);
	else if (ev & EPOLLOUT)		/* EPOLLIN, if also set, comes back next time */
		conn_advance(l, c);
	else if (ev & EPOLLIN)
		on_readable(l, c);
	else if (ev & (EPOLLERR | EPOLLHUP)) {	/* watching nothing: its work is out */
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
	}
}

/* SIGINT/SIGTERM: stop accepting, let each connection finish the request in
 * progress, and leave the loop when the last one has closed.  A drain that
 * outlasts SERVER_DRAIN_MS is cut short by the signal thread (server.h). */
static void loop_drain(struct loop *l)
{
	struct conn *c, *next;

	l->draining = true;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, srv.shutdown_fd, NULL);	/* readable forever */
	slots_resume(&slots, &l->paused);	/* stop waiting for a slot */
	close(l->lfd);
	l->lfd = -1;
	for (c = l->conns; c; c = next) {
		next = c->next;
		if (c->working || c->lingering)
			continue;
		session_drain(c->s);
		conn_advance(l, c);
	}
}

static void loop_expire(struct loop *l)
{
	struct idle_entry *e;

	while ((e = idle_expired(&l->idle, l->now_ms)) != NULL) {
		STAT_ADD(&srv.stats, timeouts, 1);
		conn_close(l, conn_of(e, timer));
	}
	while ((e = idle_expired(&l->linger, l->now_ms)) != NULL)
		conn_close(l, conn_of(e, timer));
}

static int sooner(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* epoll_wait's timeout: the nearest of the idle, linger and listener-retry
 * deadlines (-1: none). */
static int loop_timeout(const struct loop *l)
{
	int t = sooner(idle_wait_ms(&l->idle, l->now_ms), idle_wait_ms(&l->linger, l->now_ms));

	if (l->retry_ms)
		t = sooner(t, l->retry_ms > l->now_ms ? (int)(l->retry_ms - l->now_ms) : 0);
	return t;
}

/* Handlers called from the event batch touch only their own connection: one
 * closed by someone else could still have an event further down the batch.  So
 * what reaches across connections -- results of work, the drain, timers -- runs
 * after the batch. */
static void loop_run(struct loop *l)
{
	while (!l->draining || l->nconns > 0 || l->inflight > 0) {
		bool work_done = false, drain = false;
		int n = epoll_wait(l->epfd, l->events, MAX_EVENTS, loop_timeout(l));

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		l->now_ms = clock_ms();
		for (int i = 0; i < n; i++) {
			void *p = l->events[i].data.ptr;

			if (p == &l->lfd)
				on_accept(l);
			else if (p == &l->wake_fd) {
				eventfd_t v;
				eventfd_read(l->wake_fd, &v);
				work_done = true;
			} else if (p == &srv.shutdown_fd)
				drain = true;
			else
				on_conn_event(l, p, l->events[i].events);
		}
		if (work_done)
			on_work_done(l);
		if (drain)
			loop_drain(l);
		loop_expire(l);
		if (atomic_load(&l->paused) && slots_free(&slots))
			listen_resume(l);
		if (l->retry_ms && l->now_ms >= l->retry_ms)
			listen_retry(l);
	}
}

static void *loop_thread(void *arg)
{
	loop_run(arg);
	return NULL;
}

static void loop_init(struct loop *l, int lfd)
{
	struct epoll_event e = { .events = EPOLLIN };

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->epfd < 0 || l->wake_fd < 0)
		die("epoll/eventfd: %s", strerror(errno));
	l->lfd = lfd;
	idle_init(&l->idle, (uint64_t)srv.opts.idle_timeout_ms);
	idle_init(&l->linger, NET_LINGER_MS);
	doneq_init(&l->done);
	l->now_ms = clock_ms();

	e.data.ptr = &l->lfd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, lfd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	e.data.ptr = &l->wake_fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	e.data.ptr = &srv.shutdown_fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, srv.shutdown_fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	int *lfds;

	server_init(&srv, argc, argv, "epoll", OPT_OFFLOAD | OPT_REACTORS);
	slots_init(&slots, srv.opts.max_conns);
	nloops = srv.opts.reactors;
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
	server_finish(&srv);
	return 0;
}
