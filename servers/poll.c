/* poll: the reactor of epoll.c on poll(2), the interest set kept by the program.
 *
 * One thread, non-blocking sockets, level-triggered, one read and one write
 * per request -- epoll.c's loop.  What changes is who keeps the interest set.
 * Here it is an array of struct pollfd, one entry per descriptor watched, and
 * every call to poll() hands the kernel all of it:
 *
 *   - the kernel copies the whole array in, calls each descriptor's poll
 *     method, and when nothing is ready yet hangs a wait-queue entry on every
 *     one of them before it sleeps; woken, it polls them all again, takes
 *     every entry down, and copies every revents back out;
 *   - then this loop scans the array for the entries that came back ready.
 *
 * So a wake-up costs O(descriptors watched), however few are ready: an idle
 * keep-alive connection, which costs epoll nothing until it speaks, costs
 * poll a little on every call, and ten thousand of them cost a lot (Banga,
 * Mogul and Druschel, USENIX 1999, measured it for select; libev's ev(3):
 * poll "will slow down considerably with a lot of inactive fds").  epoll
 * keeps the set in the kernel, with a callback on each socket registered
 * once, and returns only what is ready: O(ready).
 *
 * What poll gets right where select does not: no limit on descriptor
 * numbers, a cost that follows the count watched rather than the highest
 * number, and hang-ups and errors reported whatever an entry waits for (so a
 * client that resets while its request waits for a worker or sleeps is
 * noticed at once, as with epoll).  Changing interest is a store into the array, no
 * system call: epoll.c pays an epoll_ctl for each change.
 *
 * The array: an entry is appended when a descriptor is added and modified in
 * place; one that leaves becomes a hole (fd -1, which poll skips) until the
 * holes are squeezed out before the next call, so entries never move while
 * a batch of results is being handled.  The connections themselves --
 * reading, work, writing, the timers -- are fdloop.h's, shared with
 * select.c; --offload and --reactors as in epoll.c (one array per loop).
 *
 * A request that sleeps (/sleep) costs no entry: its deadline goes into the
 * loop's min-heap of timers (common/timerheap.h), whose nearest deadline is
 * poll()'s timeout.  A request that waits on the database (/db, /queries)
 * waits in this array: the loop's database client (common/dbloop.h) has a socket per
 * connection to PostgreSQL, and each is one more entry, watched for input
 * always and for output while libpq has queries the kernel has not taken.
 * A waiting request adds no entry: its client's entry asks for nothing
 * until the rows are in, and only the few database sockets carry the work.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "common/fdloop.h"
#include "common/server.h"

/* Everything one reactor owns.  With --reactors N there are N of these. */
struct loop {
	struct fdloop fl;		/* the connections, timers, listener (fdloop.h) */
	struct pollfd *set;		/* what poll() is given: set[0..n) */
	struct fdwatch **watch;		/* watch[i] is polled at set[i]; NULL: a hole */
	int n, cap, holes;
};

static struct server srv;

static void set_squeeze(struct loop *l);

static unsigned from_revents(short re)
{
	return (re & POLLIN ? FDLOOP_IN : 0) | (re & POLLOUT ? FDLOOP_OUT : 0) |
	       (re & (POLLERR | POLLHUP | POLLNVAL) ? FDLOOP_ERR : 0);
}

static short to_events(unsigned events)
{
	return (short)((events & FDLOOP_IN ? POLLIN : 0) | (events & FDLOOP_OUT ? POLLOUT : 0));
}

/* The whole array goes in on every call; then the scan.  n counts the entries
 * with revents, so the scan stops at the last ready one.  Entries appended
 * while handling (a client accepted) lie beyond `polled` and took no part in
 * this call. */
static void loop_run(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, fl.r);

	while (!fdloop_finished(&l->fl)) {
		if (l->holes)
			set_squeeze(l);
		int polled = l->n;
		int n = poll(l->set, (nfds_t)polled, fdloop_timeout(&l->fl));

		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		fdloop_begin(&l->fl);
		for (int i = 0; n > 0 && i < polled; i++) {
			short re = l->set[i].revents;

			if (re == 0)
				continue;
			n--;
			if (l->watch[i])	/* else removed since the call */
				fdloop_ready(&l->fl, l->watch[i], from_revents(re));
		}
		fdloop_end(&l->fl);
	}
}

/* The set: append, modify in place, leave a hole. */

static int set_add(struct fdloop *fl, struct fdwatch *w)
{
	struct loop *l = container_of(fl, struct loop, fl);

	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 64;
		struct pollfd *set = realloc(l->set, (size_t)cap * sizeof *set);

		if (!set)
			return -ENOMEM;
		l->set = set;
		struct fdwatch **watch = realloc(l->watch, (size_t)cap * sizeof *watch);
		if (!watch)
			return -ENOMEM;
		l->watch = watch;
		l->cap = cap;
	}
	l->set[l->n] = (struct pollfd){ .fd = w->fd, .events = to_events(w->events) };
	l->watch[l->n] = w;
	w->index = l->n++;
	return 0;
}

static void set_modify(struct fdloop *fl, struct fdwatch *w, unsigned events)
{
	container_of(fl, struct loop, fl)->set[w->index].events = to_events(events);
}

static void set_remove(struct fdloop *fl, struct fdwatch *w)
{
	struct loop *l = container_of(fl, struct loop, fl);

	l->set[w->index].fd = -1;
	l->watch[w->index] = NULL;
	l->holes++;
}

/* Before a call, never during a scan: entries move down over the holes. */
static void set_squeeze(struct loop *l)
{
	int k = 0;

	for (int i = 0; i < l->n; i++) {
		if (!l->watch[i])
			continue;
		l->set[k] = l->set[i];
		l->watch[k] = l->watch[i];
		l->watch[k]->index = k;
		k++;
	}
	l->n = k;
	l->holes = 0;
}

static void loop_init(struct reactor *r)
{
	static const struct fdloop_ops set_ops = { set_add, set_modify, set_remove, true };

	fdloop_init(container_of(r, struct fdloop, r), &srv, &set_ops);
}

static void loop_fini(struct reactor *r)
{
	struct loop *l = container_of(r, struct loop, fl.r);

	fdloop_fini(&l->fl);
	free(l->set);
	free(l->watch);
}

int main(int argc, char **argv)
{
	static const struct reactor_ops ops = {
		.size = sizeof(struct loop), .offset = offsetof(struct loop, fl.r), .offload = true,
		.init = loop_init, .run = loop_run, .wake = fdloop_wake, .listen = fdloop_listen,
		.fini = loop_fini,
	};

	server_init(&srv, argc, argv, "poll", OPT_OFFLOAD | OPT_REACTORS);
	reactors_run(&srv, &ops);
	server_finish(&srv);
	return 0;
}
