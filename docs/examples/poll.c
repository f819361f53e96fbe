/* poll: the reactor of epoll.c on poll(2), for docs/architecture.md.
 *
 * One thread; each iteration builds an array of every connection's interest and
 * hands all of it to the kernel.  That is the difference from epoll: poll() costs
 * O(connections) per call, in the kernel and here, where epoll keeps the interest
 * set in the kernel and returns only what is ready.  Fine for a hundred
 * connections, wasteful for ten thousand.  Work runs on the loop (no --offload),
 * one loop (no --reactors); a /sleep waits on a timer of the loop, in the same
 * min-heap of deadlines as epoll.c's (common/timerheap.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/idle.h"
#include "common/net.h"
#include "common/server.h"
#include "common/session.h"
#include "common/timerheap.h"

struct conn {
	int fd;
	bool eof, blocked, lingering, waiting;
	struct session *s;
	struct idle_entry timer;	/* in idle, or in linger */
	struct timer wait;		/* in waits while its request waits (/sleep) */
};

#define conn_of(p, member) ((struct conn *)((char *)(p) - offsetof(struct conn, member)))

static struct server srv;
static struct conn **conns;		/* conns[i] is polled at pfd[i + 2] */
static int nconns, cap;
static struct idle_list idle, linger;
static struct timer_heap waits;
static uint64_t now_ms;
static char discard[16384];

static void conn_close(struct conn *c)
{
	idle_remove(&c->timer);
	timer_stop(&waits, &c->wait);
	close(c->fd);
	c->fd = -1;			/* swept out of conns after the batch */
	stats_conn_closed(&srv.stats);
	if (c->s)
		session_free(c->s);
	c->s = NULL;
}

static void conn_open(int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (nconns == cap) {
		struct conn **n = realloc(conns, (size_t)(cap ? 2 * cap : 64) * sizeof *n);
		if (n) {
			conns = n;
			cap = cap ? 2 * cap : 64;
		}
	}
	if (!c || nconns == cap || !(c->s = session_new(&srv)) ||
	    timer_heap_reserve(&waits, (size_t)nconns + 1) < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	conns[nconns++] = c;
	stats_conn_opened(&srv.stats);
	idle_touch(&idle, &c->timer, now_ms);
}

/* 1: all written, 0: pending (POLLOUT wanted), -1: closed. */
static int conn_write(struct conn *c)
{
	/* LAB 2 ALSO BEGIN */
	const char *p;
	size_t n;
	ssize_t w;

	while ((n = session_output(c->s, &p)) > 0) {
		do
			w = send(c->fd, p, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			stats_io_error(&srv.stats, errno);
			conn_close(c);
			return -1;
		}
		if (w > 0) {
			session_output_sent(c->s, (size_t)w);
			if (!c->waiting) {	/* from the clock: see epoll.c's idle_restart */
				now_ms = clock_ms();
				idle_touch(&idle, &c->timer, now_ms);
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

/* Work runs here, on the loop: every other connection waits (experiment hol).
 * A /sleep runs nothing: a timer of the loop, counted from now, and the
 * connection waits without holding anyone up (on_waits_due ends it). */
static void conn_advance(struct conn *c)
{
	struct work *w = session_work(c->s);	/* handed out once: keep it */

	for (;;) {
		if (w && w->kind == WORK_SLEEP) {
			now_ms = clock_ms();
			timer_start(&waits, &c->wait, now_ms, w->ms);
			c->waiting = true;
			idle_remove(&c->timer);
		} else if (w) {
			work_run(w);
			if (atomic_load(&srv.draining))	/* SIGTERM came meanwhile */
				session_drain(c->s);
			session_work_done(c->s);
		}
		int r = conn_write(c);
		if (r < 0)
			return;
		if (r == 0 || !(w = session_work(c->s)))
			break;
	}
	if (!session_done(c->s))
		return;
	if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {	/* lingering close */
		conn_close(c);
		return;
	}
	session_free(c->s);
	c->s = NULL;
	c->lingering = true;
	idle_remove(&c->timer);
	idle_touch(&linger, &c->timer, now_ms);
}

static void on_readable(struct conn *c)
{
	/* LAB 2 ALSO BEGIN */
	size_t room;
	char *buf = c->lingering ? discard : session_input_buf(c->s, &room);
	ssize_t n;

	if (c->lingering)
		room = sizeof discard;
	do
		n = read(c->fd, buf, room);
	while (n < 0 && errno == EINTR);
	if (c->lingering) {
		if (n == 0 || (n < 0 && errno != EAGAIN))
			conn_close(c);
		return;
	}
	if (n > 0) {
		if (session_input(c->s, (size_t)n))
			idle_touch(&idle, &c->timer, now_ms);
	} else if (n == 0) {
		c->eof = true;
		session_input_eof(c->s);
	} else if (errno == EAGAIN) {
		return;
	} else {
		stats_io_error(&srv.stats, errno);
		conn_close(c);
		return;
	}
	conn_advance(c);
	/* LAB 2 ALSO END */
}

static void on_waits_due(void)
{
	struct timer *t;

	while ((t = timer_expired(&waits, now_ms)) != NULL) {
		struct conn *c = conn_of(t, wait);

		c->waiting = false;
		session_work_done(c->s);
		idle_touch(&idle, &c->timer, now_ms);
		conn_advance(c);
	}
}

/* What poll should wait for: the same rule as epoll.c's conn_watch, recomputed
 * every iteration instead of kept in the kernel. */
static short conn_events(const struct conn *c)
{
	/* LAB 2 ALSO BEGIN */
	if (c->lingering)
		return POLLIN;
	return (short)((!c->eof && session_wants_input(c->s) ? POLLIN : 0) |
		       (c->blocked ? POLLOUT : 0));
	/* LAB 2 ALSO END */
}

static void loop_run(int lfd)
{
	struct pollfd *pfd = NULL;
	bool draining = false;

	while (!draining || nconns > 0) {
		struct idle_entry *e;
		int a = idle_wait_ms(&idle, now_ms), b = idle_wait_ms(&linger, now_ms);
		int timeout = a < 0 ? b : b < 0 ? a : a < b ? a : b;
		int t = timer_wait_ms(&waits, now_ms);

		timeout = timeout < 0 ? t : t < 0 ? timeout : t < timeout ? t : timeout;
		bool room = srv.opts.max_conns == 0 || nconns < srv.opts.max_conns;
		struct pollfd *np = realloc(pfd, (size_t)(nconns + 2) * sizeof *pfd);

		if (!np)
			die("out of memory");
		pfd = np;
		pfd[0] = (struct pollfd){ .fd = draining || !room ? -1 : lfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = draining ? -1 : srv.shutdown_fd, .events = POLLIN };
		for (int i = 0; i < nconns; i++)
			pfd[i + 2] = (struct pollfd){ .fd = conns[i]->fd, .events = conn_events(conns[i]) };
		int n = poll(pfd, (nfds_t)nconns + 2, timeout);
		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		now_ms = clock_ms();
		int polled = nconns;		/* conn_open appends after these */
		for (int i = 0; n > 0 && i < polled; i++) {
			struct conn *c = conns[i];
			short re = pfd[i + 2].revents;

			if (c->fd < 0 || re == 0)
				continue;
			if (re & (POLLERR | POLLHUP))	/* the read or write will meet it */
				re |= pfd[i + 2].events;
			if (re & POLLOUT && !c->lingering)
				conn_advance(c);
			else if (re & POLLIN)
				on_readable(c);
			else if (re & (POLLERR | POLLHUP | POLLNVAL)) {
				STAT_ADD(&srv.stats, resets, 1);	/* waiting, and reset */
				conn_close(c);
			}
		}
		if (n > 0 && pfd[0].revents) {
			int fd;
			while ((srv.opts.max_conns == 0 || nconns < srv.opts.max_conns) &&
			       (fd = net_accept(lfd, true)) >= 0)
				conn_open(fd);
		}
		if (n > 0 && pfd[1].revents) {	/* SIGTERM: finish what is in progress */
			draining = true;
			close(lfd);
			for (int i = 0; i < nconns; i++)
				if (conns[i]->fd >= 0 && !conns[i]->lingering) {
					session_drain(conns[i]->s);
					conn_advance(conns[i]);
				}
		}
		on_waits_due();
		while ((e = idle_expired(&idle, now_ms)) != NULL) {
			STAT_ADD(&srv.stats, timeouts, 1);
			conn_close(conn_of(e, timer));
		}
		while ((e = idle_expired(&linger, now_ms)) != NULL)
			conn_close(conn_of(e, timer));
		int k = 0;			/* sweep the closed ones out */
		for (int i = 0; i < nconns; i++) {
			if (conns[i]->fd >= 0)
				conns[k++] = conns[i];
			else
				free(conns[i]);
		}
		nconns = k;
	}
	free(pfd);
}

int main(int argc, char **argv)
{
	int lfd;

	server_init(&srv, argc, argv, "poll", 0);
	server_listen(&srv, &lfd, 1, true);
	idle_init(&idle, (uint64_t)srv.opts.idle_timeout_ms);
	idle_init(&linger, NET_LINGER_MS);
	timer_heap_init(&waits);
	now_ms = clock_ms();
	loop_run(lfd);
	timer_heap_free(&waits);
	server_finish(&srv);
	return 0;
}
