/* select: the reactor of epoll.c on select(2), the interest set kept as bitmaps.
 *
 * One thread, non-blocking sockets, level-triggered, one read and one write
 * per request -- epoll.c's loop, and poll.c's way of keeping the set: by the
 * program, handed whole to the kernel on every call.  Here the set is two
 * fd_set bitmaps, bit d for descriptor d (read, write), and select()
 * overwrites the sets it is given with the answer, so every call:
 *
 *   - copies the two sets (the answer must not destroy the question);
 *   - the kernel copies them in and, for every descriptor number from 0 to
 *     the highest watched, tests its bits and calls the poll method of each
 *     one watched -- hanging a wait-queue entry on each before it sleeps,
 *     polling them all again when woken -- and copies the answer out;
 *   - then this loop tests the bits of every number up to the highest.
 *
 * So a wake-up costs O(highest descriptor number), however few are ready --
 * poll's cost, measured in numbers rather than entries: a loop that watches
 * ten descriptors numbered up to a thousand scans a thousand.  With
 * --reactors N the numbers are the process's, shared by every loop, so each
 * loop scans past the other loops' descriptors too.  And select cannot hear a
 * hang-up or an error on a descriptor it watches for nothing (they come back
 * only as "readable" or "writable"): a client that resets while its request
 * waits for a worker is noticed when the response is written, and one whose
 * request sleeps (/sleep, a timer in the loop's heap) is heard only because
 * the connection goes on reading ahead meanwhile, as libev's does
 * (reports_hangups below).
 *
 * FD_SETSIZE.  An fd_set is a fixed array of FD_SETSIZE = 1024 bits, and
 * FD_SET on a descriptor >= 1024 writes past its end: undefined behaviour
 * (glibc's _FORTIFY_SOURCE aborts instead).  The kernel numbers descriptors
 * lowest-free-first, so accept() returns one that high only once every number
 * below is taken -- by this loop's connections, another loop's, the
 * listeners, stdio, the --offload pool's wake-ups, anything the process holds.
 * set_add refuses such a descriptor before it comes near a bitmap: the client
 * is accepted and closed at once, counted in errors, exactly as a client is
 * shed when the process is out of descriptors (docs/contract.md).  So with
 * seven descriptors of its own (stdio, the listener, net.c's reserve, the
 * shutdown and wake-up eventfds), one process holds at most 1,017 connections
 * at a time, fewer with more loops or with --db, whatever --max-conns and the
 * descriptor limit say.
 *
 * The database client's sockets (/db, /queries: common/dbloop.h) are bits in
 * the same two sets, two descriptors per connection to PostgreSQL (libpq's
 * and the client's duplicate, which is the one watched).  One reopened while
 * clients hold every number below FD_SETSIZE meets the same refusal; the
 * client then drops that connection, its requests get 503, and it is tried
 * again with back-off -- never a bit past the end of a set.
 *
 * The rest -- reading, work, writing, the timers, --offload -- is fdloop.h's,
 * shared with poll.c; a table indexed by descriptor number maps a ready bit
 * back to what watches it.
 */
#include <errno.h>
#include <string.h>
#include <sys/select.h>

#include "common/fdloop.h"
#include "common/server.h"

/* Everything one reactor owns.  With --reactors N there are N of these. */
struct loop {
	struct fdloop fl;		/* the connections, timers, listener (fdloop.h) */
	fd_set rd, wr;			/* the interest set: kept here, copied for each call */
	fd_set ready_rd, ready_wr;	/* the copies select() overwrites with the answer */
	struct fdwatch *watch[FD_SETSIZE];	/* what watches descriptor d; NULL: nothing */
	int maxfd;			/* the highest descriptor watched, -1: none */
};

static struct server srv;

static struct timeval *to_timeval(int ms, struct timeval *tv)
{
	if (ms < 0)
		return NULL;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* Copy the set, hand it over, test every bit up to the highest descriptor.  n
 * counts the bits set in the answer, so the scan stops after the last ready
 * one. */
static void loop_run(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, fl.r);

	while (!fdloop_finished(&l->fl)) {
		struct timeval tv;
		int nfds = l->maxfd + 1;

		l->ready_rd = l->rd;
		l->ready_wr = l->wr;
		int n = select(nfds, &l->ready_rd, &l->ready_wr, NULL,
			       to_timeval(fdloop_timeout(&l->fl), &tv));

		if (n < 0 && errno != EINTR)
			die("select: %s", strerror(errno));
		fdloop_begin(&l->fl);
		for (int fd = 0; n > 0 && fd < nfds; fd++) {
			unsigned ev = (FD_ISSET(fd, &l->ready_rd) ? FDLOOP_IN : 0) |
				      (FD_ISSET(fd, &l->ready_wr) ? FDLOOP_OUT : 0);

			if (ev == 0)
				continue;
			n -= ev == (FDLOOP_IN | FDLOOP_OUT) ? 2 : 1;
			if (l->watch[fd])	/* else removed since the call */
				fdloop_ready(&l->fl, l->watch[fd], ev);
		}
		fdloop_end(&l->fl);
	}
}

/* The set: bits and the table, by descriptor number. */

static void set_bits(struct loop *l, int fd, unsigned events)
{
	if (events & FDLOOP_IN)
		FD_SET(fd, &l->rd);
	else
		FD_CLR(fd, &l->rd);
	if (events & FDLOOP_OUT)
		FD_SET(fd, &l->wr);
	else
		FD_CLR(fd, &l->wr);
}

/* The one place a descriptor number meets an fd_set it may not fit in.  A
 * number freed and taken again while a batch of results is handled must not
 * inherit the old descriptor's answer: its ready bits are cleared. */
static int set_add(struct fdloop *fl, struct fdwatch *w)
{
	struct loop *l = container_of(fl, struct loop, fl);

	if (w->fd < 0 || w->fd >= FD_SETSIZE)
		return -EMFILE;		/* for select, the process is out of descriptors */
	set_bits(l, w->fd, w->events);
	FD_CLR(w->fd, &l->ready_rd);
	FD_CLR(w->fd, &l->ready_wr);
	l->watch[w->fd] = w;
	if (w->fd > l->maxfd)
		l->maxfd = w->fd;
	return 0;
}

static void set_modify(struct fdloop *fl, struct fdwatch *w, unsigned events)
{
	set_bits(container_of(fl, struct loop, fl), w->fd, events);
}

static void set_remove(struct fdloop *fl, struct fdwatch *w)
{
	struct loop *l = container_of(fl, struct loop, fl);

	set_bits(l, w->fd, 0);
	l->watch[w->fd] = NULL;
	while (l->maxfd >= 0 && !l->watch[l->maxfd])
		l->maxfd--;
}

static void loop_init(struct reactor *r)
{
	static const struct fdloop_ops set_ops = { set_add, set_modify, set_remove, false };
	struct loop *l = container_of(r, struct loop, fl.r);

	FD_ZERO(&l->rd);
	FD_ZERO(&l->wr);
	l->maxfd = -1;
	fdloop_init(&l->fl, &srv, &set_ops);
}

static void loop_fini(struct reactor *r)
{
	fdloop_fini(container_of(r, struct fdloop, r));
}

int main(int argc, char **argv)
{
	static const struct reactor_ops ops = {
		.size = sizeof(struct loop), .offset = offsetof(struct loop, fl.r), .offload = true,
		.init = loop_init, .run = loop_run, .wake = fdloop_wake, .listen = fdloop_listen,
		.fini = loop_fini,
	};

	server_init(&srv, argc, argv, "select", OPT_OFFLOAD | OPT_REACTORS);
	reactors_run(&srv, &ops);
	server_finish(&srv);
	return 0;
}
