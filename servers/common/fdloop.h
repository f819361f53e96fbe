/* fdloop: the reactor of a model that keeps its interest set itself -- what
 * poll.c and select.c do the same way, so that each holds only how it waits
 * (as libev's ev.c stands beside ev_poll.c and ev_select.c, and redis's ae.c
 * beside ae_select.c).
 *
 * epoll.c is this reactor written out in one file, over a set the kernel keeps
 * (epoll_ctl once per change, epoll_wait returns only what is ready).  Here
 * the set is the model's own -- an array of struct pollfd, or fd_set bitmaps
 * -- and goes to the kernel whole on every wait.  The model gives three
 * functions that change its set, as epoll_ctl's ADD, MOD and DEL do (struct
 * fdloop_ops), and writes the loop:
 *
 *	while (!fdloop_finished(fl)) {
 *		n = <wait on the whole set, fdloop_timeout(fl) ms at most>;
 *		fdloop_begin(fl);
 *		for each ready descriptor: fdloop_ready(fl, w, FDLOOP_IN | ...);
 *		fdloop_end(fl);
 *	}
 *
 * In return it gets what epoll.c does for itself: the connections (one read
 * per wake-up, work on the loop or on the --offload pool, writes until the
 * kernel is full, lingering close), the listener and its pauses (reactor.h),
 * the wake-up of other threads (an eventfd), the drain, and the timers --
 * idle, linger, and the waits of /sleep in a min-heap of deadlines
 * (timerheap.h) -- which drive fdloop_timeout.  Requests that wait on the
 * database wait here too: the database client's sockets (dbloop.h) are
 * watches in the model's set like the connections.  No wait ever goes to the
 * --offload pool.  Level-triggered throughout,
 * with epoll.c's rule of exact interest: a connection is watched for input
 * only while it can take input, for output only while output is pending.
 *
 * Everything the model watches is a struct fdwatch: a descriptor and what it
 * is watched for.  While the model hands fdloop_ready the results of one wait,
 * watches come and go (a connection closes, a client is accepted): the model's
 * set must never report a watch after ops->remove, nor report to a watch added
 * since the wait a result it did not take part in.
 *
 * One fdloop per loop (--reactors N: N of them), used by its thread only,
 * except fdloop_wake, which any thread may call. */
#ifndef LB_FDLOOP_H
#define LB_FDLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "idle.h"
#include "reactor.h"
#include "timerheap.h"

struct dbloop;
struct fdloop;
struct fdloop_dbsock;
struct server;

/* What a descriptor is watched for, and what a wait reports: FDLOOP_ERR is an
 * error or hang-up, which a model reports when its wait can tell one apart. */
enum { FDLOOP_IN = 1, FDLOOP_OUT = 2, FDLOOP_ERR = 4 };

struct fdwatch {
	int fd;
	unsigned events;	/* FDLOOP_IN | FDLOOP_OUT watched for now; 0: nothing
				 * (errors still, where the model's wait reports them) */
	int index;		/* the model's: where the watch sits in its set */
	void (*ready)(struct fdloop *fl, struct fdwatch *w, unsigned events);
};

/* How a model changes its set.  Nothing here may block; only add may fail. */
struct fdloop_ops {
	/* Watch w->fd for w->events from the next wait on.  0, or -errno: it
	 * cannot be watched (no memory; select: a descriptor beyond FD_SETSIZE),
	 * and the caller closes it. */
	int (*add)(struct fdloop *fl, struct fdwatch *w);
	/* Watch w for `events` from now on instead of w->events (the caller
	 * stores it in w->events afterwards). */
	void (*modify)(struct fdloop *fl, struct fdwatch *w, unsigned events);
	/* Stop watching w; its descriptor is closed right after. */
	void (*remove)(struct fdloop *fl, struct fdwatch *w);
	/* Does the wait report an error or hang-up on a descriptor watched for
	 * nothing (poll: yes, as epoll; select: no)?  If not, a connection whose
	 * request sleeps keeps reading ahead, to hear a client that resets. */
	bool reports_hangups;
};

struct fdloop {
	struct reactor r;		/* what every event model shares (reactor.h) */
	const struct fdloop_ops *ops;
	struct server *srv;
	struct fdwatch listener;	/* r.lfd, while accepting */
	struct fdwatch wake;		/* eventfd: work done, or a --max-conns slot freed */
	struct fdwatch shutdown;	/* srv->shutdown_fd, until the drain begins */
	bool listening;			/* the listener is in the set */
	bool woken, drain;		/* seen in this wait, handled after it */
	uint64_t now_ms;		/* read once per wait */
	uint64_t retry_ms;		/* out of descriptors: the listener is out of the set until then */
	struct idle_list idle;		/* --idle-timeout-ms */
	struct idle_list linger;	/* NET_LINGER_MS */
	struct timer_heap waits;	/* /sleep: one deadline per waiting request */
	struct dbloop *db;		/* the database client; NULL without --db */
	struct fdloop_dbsock *dbsock;	/* a watch per database connection */
	bool dblost;			/* one of them could not join the set */
};

/* The reactor_ops a model passes to reactors_run: its own size, offset (of
 * its struct fdloop's r), init, run and fini, with these for wake and listen. */
void fdloop_wake(struct reactor *r);
void fdloop_listen(struct reactor *r, bool on);

/* From the model's ops->init, once its set exists: the eventfd, the timers,
 * the listener, wake-up and shutdown descriptors added to the set, and with
 * --db the loop's database client (its sockets join the set as it connects).
 * die()s when any of that fails (start-up). */
void fdloop_init(struct fdloop *fl, struct server *srv, const struct fdloop_ops *ops);

/* From the model's ops->fini, while its set still exists: closes the
 * database client (its sockets leave the set) and the eventfd. */
void fdloop_fini(struct fdloop *fl);

/* True once the loop may end: drained, nothing open, nothing at a worker or
 * with the database. */
bool fdloop_finished(const struct fdloop *fl);

/* The longest the next wait may sleep, in ms (-1: until something happens):
 * the nearest /sleep, idle, linger or listener-retry deadline. */
int fdloop_timeout(const struct fdloop *fl);

/* Call once the wait has returned (reads the clock)... */
void fdloop_begin(struct fdloop *fl);

/* ...then for each watch the wait found ready (FDLOOP_IN, FDLOOP_OUT,
 * FDLOOP_ERR)... */
static inline void fdloop_ready(struct fdloop *fl, struct fdwatch *w, unsigned events)
{
	w->ready(fl, w, events);
}

/* ...then once: what reaches across connections runs after the batch --
 * answers from the database, results of work, the drain, the sleeps that are
 * over, the timers, the listener's retry. */
void fdloop_end(struct fdloop *fl);

#endif
