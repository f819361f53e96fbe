/* uring: a completion-based reactor on io_uring.
 *
 * epoll says "this socket is ready: now read it"; io_uring says "the read you
 * asked for is done: here are the bytes".  The loop hands the kernel requests
 * (entries of a submission ring) and takes back their results (entries of a
 * completion ring); both rings are memory shared with the kernel, and one
 * io_uring_enter per loop turn submits everything queued since the last one
 * and waits for the next results.  The requests this loop keeps in the kernel:
 *
 *   - one multishot accept on its listener: armed once, it completes once per
 *     client, with the new descriptor as its result;
 *   - one multishot receive per connection, into a ring of buffers provided in
 *     advance: armed once, it completes once per arrival of bytes, naming the
 *     buffer the kernel filled;
 *   - at most one send per connection, submitted when a response is ready.
 *
 * Who owns a buffer, and when.  With epoll every buffer is always ours: the
 * kernel touches one only inside our read() or write().  Here a buffer handed to
 * the kernel is the kernel's until the completion says otherwise.  The receive
 * buffers (BUF_COUNT per loop) belong to the kernel while they sit in the
 * provided-buffer ring; a completion hands one to us, we copy its bytes into the
 * session and give it back at once (io_uring_buf_ring_add).  A send reads its
 * bytes whenever the socket has room, possibly long after we asked, while the
 * session keeps appending responses (pipelined requests, echo) to an output
 * buffer that may move; so a send reads from the connection's own copy, and the
 * session hears "sent" only at the completion.
 *
 * What a completion means: it is done.  The bytes are in our buffer or in the
 * socket; the client is accepted -- even if --max-conns filled up meanwhile (a
 * multishot accept cannot be told to stop at N, so a client it took past the
 * limit waits here, unread, until a slot frees).  A request in flight holds its
 * socket open, so closing a descriptor does not stop it: closing a connection
 * cancels its requests, and the connection is freed only when the last of them
 * has completed.
 *
 * Why fewer system calls: epoll makes a read() and a write() per request and an
 * epoll_wait per batch; here the receive is already armed and the send rides in
 * the next io_uring_enter, so a loop turn costs one system call however many
 * requests it serves.  No SQPOLL kernel thread, no busy polling and no timed
 * batching: each would buy fewer system calls with CPU or latency.
 *
 * A request that waits runs nothing.  /sleep: a timeout request
 * (IORING_OP_TIMEOUT), one per sleeping connection -- the kernel keeps the
 * timers, and a sleep that is due arrives as one more completion; closing the
 * connection cancels it.  (epoll.c keeps its sleeps in a heap of its own and
 * makes the nearest the timeout of its wait.)  /db and
 * /queries: the database client (common/dbloop.h) drives libpq without
 * blocking, in pipeline mode, over this loop's share of --db-conns sockets
 * (and a timerfd, its deadline for a database gone silent), and says which to
 * watch and for what; each watched descriptor has a poll request
 * (IORING_OP_POLL_ADD) in the ring, armed again after every completion, so the
 * kernel reports it level-triggered as epoll would.  While a connection waits
 * (or its work is on a worker) it has no receive in the kernel, so a poll
 * request watches it for a reset instead, which ends the wait at once -- as
 * epoll reports an error on a socket it watches for nothing.
 *
 * Kernel features: multishot accept and provided-buffer rings (Linux 5.19),
 * multishot receive (6.0), IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN (6.1:
 * completions are processed only inside our io_uring_enter, never by
 * interrupting the loop).  At start-up the server tries each; where one is
 * missing, or io_uring is blocked (kernel.io_uring_disabled, a container's
 * seccomp profile), it says which and exits 2 -- there is no fallback to epoll.
 *
 * Trade-off: as epoll.c -- nothing on the loop may block; /cpu and /block run
 * on the loop unless --offload N moves them to worker threads; one loop uses
 * one core, --reactors N runs N loops on SO_REUSEPORT listeners.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/dbloop.h"
#include "common/idle.h"
#include "common/net.h"
#include "common/reactor.h"
#include "common/server.h"
#include "common/session.h"

#define SQ_ENTRIES	1024		/* requests queued per loop turn, at most */
#define CQ_ENTRIES	4096		/* results waiting to be read */
/* The receive buffers are used in turn, each completion taking the next one in
 * the ring, so all of them are touched all the time: 128 pages of 4 KiB stay in
 * the caches and the TLB (with 256 buffers of 16 KiB, 4 MiB, the kernel's copy
 * into them took twice the share of a perf profile of GET /).  A message larger
 * than a buffer arrives in several completions; a ring that runs dry ends a
 * receive with -ENOBUFS, and the connection arms a new one (none ran dry at
 * 1,000 connections of GET /). */
#define BUF_COUNT	128		/* provided receive buffers per loop */
#define BUF_SIZE	4096
#define BUF_GROUP	0
#define SEND_MAX	65536		/* bytes copied for one send, at most */
#define SEND_INLINE	256		/* responses up to this size need no allocation */
#define SEND_SPARE	16		/* SEND_MAX buffers a loop keeps for the next sends */

/* What a completion is for: the top byte of its user_data (the rest is the
 * address of the connection or loop it concerns: user space addresses fit in
 * 56 bits).  OP_NONE: a request whose success needs no answer. */
enum op { OP_NONE, OP_ACCEPT, OP_READY, OP_RECV, OP_SEND, OP_CLOSE, OP_WAKE, OP_DRAIN,
	  OP_DBPOLL, OP_RESET, OP_SLEEP };
#define OP_SHIFT 56
#define TAG(p, op) ((uint64_t)(uintptr_t)(p) | (uint64_t)(op) << OP_SHIFT)

struct conn {
	int fd;				/* -1 once its close is submitted */
	bool eof;			/* the peer sent FIN: nothing more to read */
	bool working;			/* its work is on the offload pool, or its
					 * queries with the database client */
	bool waiting;			/* its request sleeps: a timeout is in the kernel */
	bool watching;			/* a poll for a reset is in the kernel */
	bool lingering;			/* write side shut, draining input */
	bool receiving;			/* a multishot receive is in the kernel */
	bool cancelling;		/* ... and its cancel is on the way */
	bool sending;			/* a send is in the kernel, reading `out` */
	bool closing;			/* its close is in the kernel */
	struct session *s;
	struct loop *loop;
	char *out;			/* what the send in flight reads: small or heap */
	char small[SEND_INLINE];
	struct idle_entry timer;	/* in loop->idle, or loop->linger */
	struct __kernel_timespec sleep;	/* /sleep's time, read when the timeout is submitted */
	struct reactor_conn rc;		/* in the loop's list, walked by the drain */
	struct reactor_job job;		/* --offload: its work, on the way back */
};

/* A descriptor the database client asked this loop to watch -- one of its
 * sockets, or its timer (a timerfd: DB_SILENT_MS) -- and its poll. */
struct dbwatch {
	int fd;
	unsigned events;		/* DBLOOP_READ | DBLOOP_WRITE; 0: not watched */
	bool polling;			/* a poll request for it is in the kernel */
	bool stale;			/* ... for what it watched before: cancelled */
};

/* Everything one reactor owns (reactor.h has the part every model shares).
 * With --reactors N there are N of these, each run by its own thread. */
struct loop {
	struct reactor r;
	struct io_uring ring;
	struct io_uring_buf_ring *bufs;	/* the provided-buffer ring, then the buffers */
	char *buf_base;
	size_t bufs_size;
	int wake_fd;			/* eventfd: work done, or a --max-conns slot freed */
	uint64_t wake_count;		/* what the read of wake_fd fills in */
	bool accepting;			/* the listener's request is in the kernel */
	bool listening;			/* ... and it is wanted (reactor's listen) */
	bool starved;			/* out of descriptors: the request is a poll */
	bool woken, drain;		/* seen in this batch, handled after it */
	int zombies;			/* closed connections waiting for completions */
	int *parked;			/* clients accepted past --max-conns */
	int nparked, parked_cap;
	char *spare[SEND_SPARE];	/* send buffers back from the kernel, for reuse */
	int nspare;
	bool ring_up;			/* ring_open has run: requests can be queued */
	struct dbloop *db;		/* NULL without --db */
	struct dbwatch *dbw;		/* one per descriptor of the database client: its
					 * connections' sockets, then its timer */
	uint64_t now_ms;		/* read once per iteration */
	uint64_t retry_ms;		/* out of descriptors: accept again then */
	struct idle_list idle;		/* --idle-timeout-ms */
	struct idle_list linger;	/* NET_LINGER_MS */
};

static struct server srv;

static void on_completion(struct loop *l, const struct io_uring_cqe *cqe);
static void on_accept(struct loop *l, int res, unsigned flags);
static void on_received(struct loop *l, struct conn *c, int res, unsigned flags);
static void on_sent(struct loop *l, struct conn *c, int res);
static void on_work_done(struct reactor_job *job);
static void work_back(struct loop *l, struct conn *c);
static void wait_start(struct loop *l, struct conn *c, struct work *w);
static void on_db_poll(struct loop *l, struct dbwatch *w, int res);
static void db_poll_arm(struct loop *l, struct dbwatch *w);
static void on_db_done(struct loop *l);
static void on_sleep_done(struct loop *l, struct conn *c, int res);
static void on_reset_poll(struct loop *l, struct conn *c, int res);
static void idle_restart(struct loop *l, struct conn *c);
static void conn_advance(struct loop *l, struct conn *c);
static void work_start(struct loop *l, struct conn *c, struct work *w);
static int conn_write(struct loop *l, struct conn *c);
static void conn_watch(struct loop *l, struct conn *c);
static void conn_close(struct loop *l, struct conn *c);
static void conn_linger(struct loop *l, struct conn *c);
static void conn_release(struct loop *l, struct conn *c);
static void park(struct loop *l, int fd);
static struct io_uring_sqe *sqe_get(struct loop *l, void *p, enum op op);
static void listener_arm(struct loop *l);
static void on_listener_ready(struct loop *l, int res);
static void wake_arm(struct loop *l);
static void drain_arm(struct loop *l);
static void loop_drain(struct loop *l);
static void conn_expired(struct idle_entry *e);
static struct __kernel_timespec *loop_timeout(const struct loop *l, struct __kernel_timespec *ts);
static void ring_open(struct loop *l);

/* One io_uring_enter per turn: it submits every request queued since the
 * last, then waits for at least one completion (or the nearest timer).  The
 * completions are read straight from the shared ring and marked seen as a
 * batch.  A connection is freed only after its last completion, so a handler
 * never meets a freed one further down the batch; what reaches across
 * connections -- work results, the drain, timers -- still runs after it. */
static void loop_run(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);

	ring_open(l);		/* on this thread: the ring's only submitter */
	listener_arm(l);
	wake_arm(l);
	drain_arm(l);
	for (int i = 0; l->dbw && i < DBLOOP_SLOTS(srv.opts.db_conns); i++)
		db_poll_arm(l, &l->dbw[i]);	/* what the client asked for before */
	while (!reactor_finished(r) || l->zombies > 0 || dbloop_pending(l->db) > 0) {
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int ret = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, loop_timeout(l, &ts), NULL);

		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY)
			die("io_uring_enter: %s", strerror(-ret));
		l->now_ms = clock_ms();
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			on_completion(l, cqe);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
		on_db_done(l);
		if (l->woken) {
			l->woken = false;
			reactor_woken(r, on_work_done);
		}
		if (l->drain) {
			l->drain = false;
			loop_drain(l);
		}
		reactor_expire(&l->idle, &l->linger, l->now_ms, conn_expired);
		if (l->retry_ms && l->now_ms >= l->retry_ms) {
			l->retry_ms = 0;
			reactor_retry(r);
		}
	}
}

static void on_completion(struct loop *l, const struct io_uring_cqe *cqe)
{
	void *p = (void *)(uintptr_t)(cqe->user_data & ((1ULL << OP_SHIFT) - 1));

	switch ((enum op)(cqe->user_data >> OP_SHIFT)) {
	case OP_ACCEPT:
		on_accept(l, cqe->res, cqe->flags);
		break;
	case OP_READY:
		on_listener_ready(l, cqe->res);
		break;
	case OP_RECV:
		on_received(l, p, cqe->res, cqe->flags);
		break;
	case OP_SEND:
		on_sent(l, p, cqe->res);
		break;
	case OP_CLOSE:
		((struct conn *)p)->closing = false;
		conn_release(l, p);
		break;
	case OP_WAKE:
		l->woken = true;
		wake_arm(l);
		break;
	case OP_DRAIN:
		l->drain = true;
		break;
	case OP_DBPOLL:
		on_db_poll(l, p, cqe->res);
		break;
	case OP_RESET:
		on_reset_poll(l, p, cqe->res);
		break;
	case OP_SLEEP:
		on_sleep_done(l, p, cqe->res);
		break;
	case OP_NONE:		/* a cancel that found nothing, a failed shutdown */
		break;
	}
}

/* The connection's receive: bytes land in a buffer the kernel picks from the
 * ring.  A multishot receive keeps them landing until it is cancelled or
 * fails -- while the connection sends nothing.  With output on its way
 * (pipelined requests, an echo or a streamed body) each receive takes one
 * buffer and is armed again after it: a multishot receive runs on until its
 * cancel reaches the kernel, so when the session stops reading for
 * back-pressure it could have handed it as much as the whole ring. */
static void recv_arm(struct loop *l, struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get(l, c, OP_RECV);
	const char *p;

	if (c->sending || (c->s && session_output(c->s, &p) > 0))
		io_uring_prep_recv(sqe, c->fd, NULL, 0, 0);
	else
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	c->receiving = true;
}

/* A client with a --max-conns slot: from now on the kernel reads for it. */
static void conn_open(struct loop *l, int fd)
{
	struct conn *c = calloc(1, sizeof *c);
	struct session *s = c ? session_new(&srv) : NULL;

	if (!s) {
		STAT_ADD(&srv.stats, errors, 1);	/* out of memory: turned away */
		session_free(s);
		free(c);
		close(fd);
		reactor_slot_release(&l->r);
		return;
	}
	c->s = s;
	c->fd = fd;
	c->loop = l;
	reactor_conn_opened(&l->r, &c->rc);
	idle_touch(&l->idle, &c->timer, l->now_ms);
	conn_watch(l, c);
}

/* A client the multishot accept took. */
static void on_accept(struct loop *l, int res, unsigned flags)
{
	if (!(flags & IORING_CQE_F_MORE))
		l->accepting = false;
	if (l->r.draining) {
		if (res >= 0)
			close(res);	/* accepted as the listener closed */
		return;
	}
	if (res >= 0) {
		if (reactor_slot_take(&l->r))
			conn_open(l, res);
		else
			park(l, res);
	} else if (res == -EMFILE || res == -ENFILE) {
		l->starved = true;	/* see on_listener_ready */
	} else if (res != -ECANCELED) {
		STAT_ADD(&srv.stats, errors, 1);
	}
	if (l->listening && !l->accepting)
		listener_arm(l);
}

/* Bytes arrived, in a buffer that is ours until we put it back in the ring.
 * The session copies them (a receive buffer must go back at once, or the ring
 * runs dry for every connection); then the driver runs as after epoll's read. */
static void on_received(struct loop *l, struct conn *c, int res, unsigned flags)
{
	const char *data = NULL;
	unsigned bid = 0;

	if (!(flags & IORING_CQE_F_MORE))
		c->receiving = c->cancelling = false;
	if (flags & IORING_CQE_F_BUFFER) {
		bid = flags >> IORING_CQE_BUFFER_SHIFT;
		data = l->buf_base + (size_t)bid * BUF_SIZE;
	}
	if (c->fd >= 0 && !c->lingering && res > 0 && data) {
		for (size_t off = 0, cap; off < (size_t)res; ) {
			char *buf = session_input_buf(c->s, &cap);
			size_t n = (size_t)res - off < cap ? (size_t)res - off : cap;

			memcpy(buf, data + off, n);
			off += n;
			if (session_input(c->s, n))
				idle_touch(&l->idle, &c->timer, l->now_ms);
		}
	}
	if (data) {
		io_uring_buf_ring_add(l->bufs, (void *)data, BUF_SIZE, (unsigned short)bid,
				      io_uring_buf_ring_mask(BUF_COUNT), 0);
		io_uring_buf_ring_advance(l->bufs, 1);
	}
	if (c->fd < 0) {
		conn_release(l, c);
	} else if (res < 0 && res != -ENOBUFS && res != -ECANCELED) {
		if (!c->lingering)
			stats_io_error(&srv.stats, -res);	/* a reset, or an error */
		conn_close(l, c);
	} else if (c->lingering) {	/* what it sends now is dropped: wait for its FIN */
		if (res == 0)
			conn_close(l, c);
		else if (!c->receiving)
			recv_arm(l, c);
	} else {
		if (res == 0) {
			c->eof = true;
			session_input_eof(c->s);
		}
		/* -ENOBUFS (the ring ran dry) and -ECANCELED (back-pressure) end
		 * the receive: conn_watch arms it again if input is wanted. */
		conn_advance(l, c);
	}
}

static const struct reactor_steps steps = { work_start, conn_write, conn_linger, conn_watch };

/* After any event: work, write, then close or set what the kernel watches. */
static void conn_advance(struct loop *l, struct conn *c)
{
	reactor_advance(&steps, l, c, c->s);
}

/* A wait is handed to the kernel or the database client (wait_start).  With
 * --offload a worker runs the work: the connection leaves the idle list, and
 * its receive is cancelled (conn_watch) until the result is back.  Without,
 * the loop runs it and every other connection waits. */
static void work_start(struct loop *l, struct conn *c, struct work *w)
{
	if (work_is_wait(w)) {
		wait_start(l, c, w);
	} else if (reactor_offload(&l->r, &c->job, w)) {
		c->working = true;
		idle_remove(&c->timer);
	} else {
		work_run(w);
		l->now_ms = clock_ms();	/* timers restarted after the work count from now */
		session_work_done(c->s);
	}
}

/* Submits a send of the session's next bytes, copied into the connection's
 * own buffer, which the kernel owns until on_sent.  Returns 1 when nothing is
 * left to send, 0 while a send is in the kernel (its completion continues). */
static int conn_write(struct loop *l, struct conn *c)
{
	const char *p;
	size_t n;

	if (c->sending)
		return 0;
	if ((n = session_output(c->s, &p)) == 0)
		return 1;
	if (n > SEND_MAX)
		n = SEND_MAX;
	if (n <= sizeof c->small)
		c->out = c->small;
	else if (l->nspare > 0)
		c->out = l->spare[--l->nspare];
	else if (!(c->out = malloc(SEND_MAX))) {	/* a smaller copy: progress, not failure */
		c->out = c->small;
		n = sizeof c->small;
	}
	memcpy(c->out, p, n);
	io_uring_prep_send(sqe_get(l, c, OP_SEND), c->fd, c->out, n, MSG_NOSIGNAL);
	c->sending = true;
	/* The send reaches the kernel at the next io_uring_enter, before this
	 * turn's timers could see a stale deadline (epoll's write is done by
	 * then): output is on its way, so the idle timer restarts now too. */
	if (!c->working && !c->waiting)
		idle_restart(l, c);
	return 0;
}

/* The send is over: its buffer is ours again (a large one goes back to the
 * loop's spares: allocating 64 KiB per send costs page faults).  Bytes the
 * kernel took count, even on a connection closed meanwhile: the client may
 * well read them. */
static void on_sent(struct loop *l, struct conn *c, int res)
{
	c->sending = false;
	if (c->out != c->small) {
		if (l->nspare < SEND_SPARE)
			l->spare[l->nspare++] = c->out;
		else
			free(c->out);
	}
	c->out = NULL;
	if (res > 0 && c->s)
		session_output_sent(c->s, (size_t)res);
	if (c->fd < 0) {
		conn_release(l, c);
		return;
	}
	if (res <= 0) {		/* -EPIPE, -ECONNRESET: the peer is gone */
		stats_io_error(&srv.stats, res < 0 ? -res : EIO);	/* a reset, or an error */
		conn_close(l, c);
		return;
	}
	if (!c->working && !c->waiting)
		idle_restart(l, c);
	conn_advance(l, c);
}

/* Input is wanted unless the session says otherwise: the receive is armed
 * while it is, and cancelled (back-pressure) when it is not.  Bytes that land
 * before the cancel does are still given to the session, which holds them. */
static void conn_watch(struct loop *l, struct conn *c)
{
	bool want = !c->working && !c->eof && session_wants_input(c->s);

	if (want && !c->receiving) {
		recv_arm(l, c);
	} else if (!want && c->receiving && !c->cancelling) {
		io_uring_prep_cancel64(sqe_get(l, NULL, OP_NONE), TAG(c, OP_RECV), 0);
		c->cancelling = true;
	}
	if ((c->working || c->waiting) && !c->watching) {
		/* No receive while it waits: a poll reports the peer's reset (the
		 * kernel adds POLLERR and POLLHUP to any mask).  It stays in the
		 * kernel after the wait, until the socket reports something or
		 * closes, so a keep-alive client's next wait needs no new one. */
		io_uring_prep_poll_add(sqe_get(l, c, OP_RESET), c->fd, POLLERR | POLLHUP);
		c->watching = true;
	}
}

/* The reset poll completed.  An error or hang-up while the connection waits
 * ends it: the client is gone, so its wait stops (a timer) or its answer is
 * dropped when it comes (work, queries); counted as the client's doing.  At
 * any other time the receive or the send will meet it.  The poll is not armed
 * again here: a socket that reported its peer's FIN (POLLRDHUP, which the
 * kernel also adds) would complete it again at once. */
static void on_reset_poll(struct loop *l, struct conn *c, int res)
{
	c->watching = false;
	if (c->fd < 0) {
		conn_release(l, c);
		return;
	}
	if (res > 0 && (res & (POLLERR | POLLHUP)) && (c->working || c->waiting)) {
		STAT_ADD(&srv.stats, resets, 1);
		conn_close(l, c);
	}
}

/* Its work is back, from a worker or from the database; the session takes
 * the result -- unless the client left meanwhile: then the work may have been
 * the last thing holding the connection (conn_release). */
static void work_back(struct loop *l, struct conn *c)
{
	c->working = false;
	if (c->fd < 0) {
		conn_release(l, c);
		return;
	}
	session_work_done(c->s);
	idle_touch(&l->idle, &c->timer, l->now_ms);
	conn_advance(l, c);
}

static void on_work_done(struct reactor_job *job)
{
	struct conn *c = container_of(job, struct conn, job);

	work_back(c->loop, c);
}

/* A request that waits.  /sleep: a timeout request, due in on_sleep_done.
 * /db, /queries: its queries go to this loop's database client, and come back
 * in on_db_done; if the client cannot take them (no connection up), 503 now.
 * Either way the connection reads nothing more (the session wants no input)
 * and leaves the idle list until its answer. */
static void wait_start(struct loop *l, struct conn *c, struct work *w)
{
	if (w->kind == WORK_SLEEP) {
		c->sleep.tv_sec = (long long)(w->ms / 1000);
		c->sleep.tv_nsec = (long long)(w->ms % 1000) * 1000000;
		io_uring_prep_timeout(sqe_get(l, c, OP_SLEEP), &c->sleep, 0, 0);
		c->waiting = true;
	} else if (w->kind == WORK_DB && dbloop_submit(l->db, w->db, c)) {
		c->working = true;
	} else {
		session_work_done(c->s);	/* 503: no connection to the database */
		return;
	}
	idle_remove(&c->timer);
}

/* A sleep's timeout completed: -ETIME when its time has passed, and the
 * response is due; -ECANCELED when the connection closed meanwhile. */
static void on_sleep_done(struct loop *l, struct conn *c, int res)
{
	c->waiting = false;
	if (c->fd < 0) {
		conn_release(l, c);
		return;
	}
	(void)res;		/* only a close cancels it, and then fd < 0 */
	l->now_ms = clock_ms();
	session_work_done(c->s);
	idle_touch(&l->idle, &c->timer, l->now_ms);
	conn_advance(l, c);
}

/* Output moved: the idle timer restarts from the clock, not from the loop's
 * time, which was read when io_uring_enter returned -- the loop may have
 * served other connections since (a vDSO read, no system call). */
static void idle_restart(struct loop *l, struct conn *c)
{
	l->now_ms = clock_ms();
	idle_touch(&l->idle, &c->timer, l->now_ms);
}

/* The database client's descriptors.  It says which to watch and for what (maybe
 * before this loop's ring exists: then ring_open arms them); a poll armed for
 * what it watched before is cancelled, and its answer ignored. */
static void db_watch(void *arg, int slot, int fd, unsigned was, unsigned now)
{
	struct loop *l = arg;
	struct dbwatch *w = &l->dbw[slot];

	(void)was;
	if (w->polling && !w->stale && (w->fd != fd || w->events != now)) {
		io_uring_prep_cancel64(sqe_get(l, NULL, OP_NONE), TAG(w, OP_DBPOLL), 0);
		w->stale = true;
	}
	w->fd = fd;
	w->events = now;
	if (l->ring_up)
		db_poll_arm(l, w);
}

/* One poll request per watched socket, armed again after each completion:
 * a socket still ready completes it at once, so readiness is reported
 * level-triggered, as the client expects. */
static void db_poll_arm(struct loop *l, struct dbwatch *w)
{
	if (w->polling || !w->events)
		return;
	io_uring_prep_poll_add(sqe_get(l, w, OP_DBPOLL), w->fd,
			       ((w->events & DBLOOP_READ) ? POLLIN : 0) |
			       ((w->events & DBLOOP_WRITE) ? POLLOUT : 0));
	w->polling = true;
}

/* A database socket is ready (errors and hang-ups count as both): the client
 * reads and writes what it can.  The queries that finished are taken after
 * the batch (on_db_done), like any work that comes back. */
static void on_db_poll(struct loop *l, struct dbwatch *w, int res)
{
	unsigned events = 0;
	bool stale = w->stale;

	w->polling = w->stale = false;
	if (!stale && res > 0) {
		if (res & (POLLIN | POLLERR | POLLHUP))
			events |= DBLOOP_READ;
		if (res & (POLLOUT | POLLERR | POLLHUP))
			events |= DBLOOP_WRITE;
		dbloop_ready(l->db, (int)(w - l->dbw), events);
	}
	db_poll_arm(l, w);
}

static void on_db_done(struct loop *l)
{
	struct db_query *q, *next;

	for (q = dbloop_finished(l->db); q; q = next) {
		next = q->next;
		work_back(l, q->owner);
	}
}

/* Closing is a request too: the connection's receive, send and reset poll
 * are cancelled first (a request holds the socket open), then the descriptor
 * is closed.  The connection and its session are freed when the last of them
 * has completed (conn_release).  Every request naming this descriptor is queued
 * before the close and runs in order, at once (a socket has no flush method,
 * so its close is never handed to a kernel worker): the number is free for
 * the next client only once nothing here refers to it. */
static void conn_close(struct loop *l, struct conn *c)
{
	struct io_uring_sqe *sqe;

	idle_remove(&c->timer);
	if (c->waiting)		/* its sleep ends now; the connection goes after */
		io_uring_prep_timeout_remove(sqe_get(l, NULL, OP_NONE), TAG(c, OP_SLEEP), 0);
	reactor_conn_closed(&l->r, &c->rc);
	if (c->receiving || c->sending || c->watching) {
		sqe = sqe_get(l, NULL, OP_NONE);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		sqe->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
	}
	io_uring_prep_close(sqe_get(l, c, OP_CLOSE), c->fd);
	c->closing = true;
	c->fd = -1;
	l->zombies++;
}

/* A closed connection goes once nothing in the kernel or on a worker still
 * refers to it. */
static void conn_release(struct loop *l, struct conn *c)
{
	if (c->fd >= 0 || c->receiving || c->sending || c->watching || c->closing ||
	    c->working || c->waiting)
		return;
	session_free(c->s);
	free(c);
	l->zombies--;
}

/* The hardening: lingering close, the listener's pauses, the drain, timers. */

/* The last response is out.  If the peer may still be sending, shut down our
 * side and let the receive drop what comes until its FIN or NET_LINGER_MS:
 * closing with unread input sends a reset, which can destroy a response the
 * peer has not read yet. */
static void conn_linger(struct loop *l, struct conn *c)
{
	/* shutdown(2) itself, not IORING_OP_SHUTDOWN: that one always runs on a
	 * kernel worker thread, which looks the descriptor up by its number only
	 * when it gets to it -- by then the number may be another client's. */
	if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(l, c);
		return;
	}
	c->lingering = true;
	session_free(c->s);
	c->s = NULL;
	idle_remove(&c->timer);
	idle_touch(&l->linger, &c->timer, l->now_ms);
	if (!c->receiving)
		recv_arm(l, c);
}

/* A client accepted while no --max-conns slot was free waits here, unread. */
static void park(struct loop *l, int fd)
{
	if (l->nparked == l->parked_cap) {
		int cap = l->parked_cap ? 2 * l->parked_cap : 16;
		int *p = realloc(l->parked, (size_t)cap * sizeof *p);

		if (!p) {
			STAT_ADD(&srv.stats, errors, 1);
			close(fd);
			return;
		}
		l->parked = p;
		l->parked_cap = cap;
	}
	l->parked[l->nparked++] = fd;
}

/* Out of descriptors, a multishot accept fails at once whether a client waits
 * or not (the kernel takes the descriptor before it looks for a client), so
 * arming it again would spin.  Until a descriptor is free the loop watches the
 * listener for readiness instead, and each client that arrives is shed -- or
 * taken, once descriptors are back -- the way every model does it
 * (reactor_accept). */
static void on_listener_ready(struct loop *l, int res)
{
	int fd = -EAGAIN;

	l->accepting = false;
	if (l->r.draining || !l->listening || res < 0)
		return;
	for (int i = 0; i < NET_ACCEPT_BATCH && (fd = reactor_accept(&l->r)) >= 0; i++)
		conn_open(l, fd);
	l->starved = fd == -EMFILE || fd == -ENFILE;
	if (fd == -EBUSY)	/* the listener is stopped: try again later */
		l->retry_ms = l->now_ms + NET_ACCEPT_BACKOFF_MS;
	if (l->listening && !l->accepting)
		listener_arm(l);
}

/* The listener is paused at --max-conns and after EMFILE (reactor.h).  Pausing
 * cancels the multishot accept; resuming first opens the clients parked
 * meanwhile, oldest first, then arms it again. */
static void loop_listen(struct reactor *r, bool on)
{
	struct loop *l = container_of(r, struct loop, r);
	int i = 0;

	l->listening = on;
	if (!on) {
		if (l->accepting)
			io_uring_prep_cancel64(sqe_get(l, NULL, OP_NONE),
					       TAG(l, l->starved ? OP_READY : OP_ACCEPT), 0);
		return;
	}
	while (i < l->nparked && l->listening && reactor_slot_take(r))
		conn_open(l, l->parked[i++]);
	memmove(l->parked, l->parked + i, (size_t)(l->nparked - i) * sizeof *l->parked);
	l->nparked -= i;
	if (l->listening && !l->accepting)
		listener_arm(l);
}

/* Each open connection finishes the request in progress; one whose work is
 * out, or that lingers (its session is gone), is finishing already. */
static void conn_drain(struct reactor_conn *rc)
{
	struct conn *c = container_of(rc, struct conn, rc);

	if (!c->working && !c->lingering) {
		session_drain(c->s);
		conn_advance(c->loop, c);
	}
}

/* SIGINT/SIGTERM (the poll on shutdown_fd completed): stop accepting, let
 * each connection finish the request in progress; loop_run returns when the
 * last one has closed.  A drain that outlasts SERVER_DRAIN_MS is cut short by
 * the signal thread. */
static void loop_drain(struct loop *l)
{
	l->retry_ms = 0;
	loop_listen(&l->r, false);
	while (l->nparked > 0)
		close(l->parked[--l->nparked]);
	reactor_drain(&l->r, conn_drain);
}

/* Its idle timer or lingering close ran out (reactor_expire). */
static void conn_expired(struct idle_entry *e)
{
	struct conn *c = container_of(e, struct conn, timer);

	conn_close(c->loop, c);
}

/* The wait's timeout, passed with io_uring_enter itself (NULL: none). */
static struct __kernel_timespec *loop_timeout(const struct loop *l, struct __kernel_timespec *ts)
{
	int t = reactor_wait_ms(&l->idle, &l->linger, NULL, l->retry_ms, l->now_ms);

	if (t < 0)
		return NULL;
	ts->tv_sec = t / 1000;
	ts->tv_nsec = (long long)(t % 1000) * 1000000;
	return ts;
}

/* The next free submission entry, tagged for on_completion.  A full ring is
 * submitted early (one more io_uring_enter in that turn). */
static struct io_uring_sqe *sqe_get(struct loop *l, void *p, enum op op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		io_uring_submit(&l->ring);
		if (!(sqe = io_uring_get_sqe(&l->ring)))
			die("io_uring: the submission ring stays full");
	}
	io_uring_sqe_set_data64(sqe, TAG(p, op));
	return sqe;
}

/* The listener's request: a multishot accept, or while out of descriptors a
 * poll for readiness (on_listener_ready). */
static void listener_arm(struct loop *l)
{
	if (l->starved)
		io_uring_prep_poll_add(sqe_get(l, l, OP_READY), l->r.lfd, POLLIN);
	else
		io_uring_prep_multishot_accept(sqe_get(l, l, OP_ACCEPT), l->r.lfd, NULL, NULL,
					       SOCK_CLOEXEC);
	l->accepting = l->listening = true;
}

/* Work done, or a slot freed: another thread writes the eventfd, and this
 * read of it completes. */
static void wake_arm(struct loop *l)
{
	io_uring_prep_read(sqe_get(l, l, OP_WAKE), l->wake_fd, &l->wake_count,
			   sizeof l->wake_count, 0);
}

static void drain_arm(struct loop *l)
{
	io_uring_prep_poll_add(sqe_get(l, l, OP_DRAIN), srv.shutdown_fd, POLLIN);
}

/* From a worker or any loop (this one too). */
static void loop_wake(struct reactor *r)
{
	eventfd_write(container_of(r, struct loop, r)->wake_fd, 1);
}

/* Start-up.  The ring, and the receive buffers registered with it, as every
 * loop sets them up; main's probe sets up one the same way first.  0 or
 * -errno, with what failed in *what. */
static int ring_setup(struct io_uring *ring, struct io_uring_buf_ring **bufs, char **base,
		      size_t *size, const char **what)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
			 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		.cq_entries = CQ_ENTRIES,
	};
	struct io_uring_buf_reg reg = { .ring_entries = BUF_COUNT, .bgid = BUF_GROUP };
	int ret;

	*what = "io_uring_setup with IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN (Linux 6.1)";
	if ((ret = io_uring_queue_init_params(SQ_ENTRIES, ring, &p)) < 0)
		return ret;
	*what = "a provided-buffer ring (io_uring_register_buf_ring, Linux 5.19)";
	*size = BUF_COUNT * (sizeof(struct io_uring_buf) + BUF_SIZE);
	/* Populated now: the kernel fills every buffer in turn, so all of them
	 * are resident soon anyway -- memory the loop has from its start, not
	 * memory that grows with what a client sends. */
	void *mem = mmap(NULL, *size, PROT_READ | PROT_WRITE,
			 MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		io_uring_queue_exit(ring);
		return ret;
	}
	*bufs = mem;
	*base = (char *)mem + BUF_COUNT * sizeof(struct io_uring_buf);
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	if ((ret = io_uring_register_buf_ring(ring, &reg, 0)) < 0) {
		munmap(mem, *size);
		io_uring_queue_exit(ring);
		return ret;
	}
	io_uring_buf_ring_init(*bufs);
	for (int i = 0; i < BUF_COUNT; i++)
		io_uring_buf_ring_add(*bufs, *base + (size_t)i * BUF_SIZE, BUF_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(BUF_COUNT), i);
	io_uring_buf_ring_advance(*bufs, BUF_COUNT);
	io_uring_register_ring_fd(ring);	/* an optimisation: enter skips fget */
	return 0;
}

static void ring_teardown(struct io_uring *ring, void *bufs, size_t size)
{
	io_uring_queue_exit(ring);
	munmap(bufs, size);
}

static void ring_open(struct loop *l)
{
	const char *what;
	int ret = ring_setup(&l->ring, &l->bufs, &l->buf_base, &l->bufs_size, &what);

	if (ret < 0)
		die("%s: %s", what, strerror(-ret));
	l->ring_up = true;
}

static void loop_init(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);
	int one = 1;

	l->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (l->wake_fd < 0)
		die("eventfd: %s", strerror(errno));
	idle_init(&l->idle, (uint64_t)srv.opts.idle_timeout_ms);
	idle_init(&l->linger, NET_LINGER_MS);
	l->now_ms = clock_ms();
	/* Accepted sockets inherit it: small responses leave at once, not after
	 * Nagle's 40 ms, without a setsockopt per client. */
	setsockopt(r->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (srv.opts.db) {
		if (!(l->dbw = calloc(DBLOOP_SLOTS((size_t)srv.opts.db_conns), sizeof *l->dbw)))
			die("out of memory");
		l->db = dbloop_for_loop(&srv, db_watch, l);
	}
}

static void loop_fini(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, r);

	dbloop_free(l->db);	/* its last watch changes queue nothing the ring will run */
	ring_teardown(&l->ring, l->bufs, l->bufs_size);
	free(l->dbw);
	close(l->wake_fd);
	free(l->parked);
	while (l->nspare > 0)
		free(l->spare[--l->nspare]);
}

/* Waits for one completion of a probe request; its result and flags. */
static int probe_wait(struct io_uring *ring, unsigned *flags)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_sec = 1 };
	int ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);

	if (!cqe)
		return ret < 0 ? ret : -ETIME;
	ret = cqe->res;
	*flags = cqe->flags;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* Tries every feature this model needs, on a ring set up as a loop's: a
 * multishot accept of a loopback client, then a multishot receive of a byte
 * it sends.  NULL when all work, else what is missing. */
static const char *uring_probe(char *why, size_t len)
{
	struct io_uring ring;
	struct io_uring_buf_ring *bufs;
	struct io_uring_sqe *sqe;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	const char *what;
	char *base;
	size_t size;
	unsigned flags = 0;
	int lfd = -1, cfd = -1, sfd = -1, ret;

	if ((ret = ring_setup(&ring, &bufs, &base, &size, &what)) == -EPERM || ret == -ENOSYS) {
		snprintf(why, len, "io_uring_setup: %s (io_uring is blocked: kernel.io_uring_disabled, "
			 "or a seccomp filter such as a container's)", strerror(-ret));
		return why;
	}
	if (ret < 0) {
		snprintf(why, len, "%s: %s", what, strerror(-ret));
		return why;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		snprintf(why, len, "a loopback socket for the probe: %s", strerror(errno));
		goto out;
	}
	snprintf(why, len, "multishot accept (Linux 5.19)");
	io_uring_prep_multishot_accept(io_uring_get_sqe(&ring), lfd, NULL, NULL, SOCK_CLOEXEC);
	if (connect(cfd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    (sfd = probe_wait(&ring, &flags)) < 0 || !(flags & IORING_CQE_F_MORE))
		goto out;
	snprintf(why, len, "multishot receive into a provided-buffer ring (Linux 6.0)");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv_multishot(sqe, sfd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	if (send(cfd, "x", 1, MSG_NOSIGNAL) != 1 || probe_wait(&ring, &flags) != 1 ||
	    !(flags & IORING_CQE_F_MORE) || !(flags & IORING_CQE_F_BUFFER))
		goto out;
	why = NULL;
out:
	if (sfd >= 0)
		close(sfd);
	if (cfd >= 0)
		close(cfd);
	if (lfd >= 0)
		close(lfd);
	ring_teardown(&ring, bufs, size);
	return why;
}

int main(int argc, char **argv)
{
	static const struct reactor_ops ops = {
		.size = sizeof(struct loop), .offset = offsetof(struct loop, r), .offload = true,
		.init = loop_init, .run = loop_run, .wake = loop_wake, .listen = loop_listen,
		.fini = loop_fini,
	};
	char why[256];

	server_init(&srv, argc, argv, "uring", OPT_OFFLOAD | OPT_REACTORS);
	if (uring_probe(why, sizeof why)) {
		fprintf(stderr, "srv-uring: io_uring unavailable: %s\n", why);
		return 2;
	}
	reactors_run(&srv, &ops);
	server_finish(&srv);
	return 0;
}
