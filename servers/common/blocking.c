/* One connection served with blocking I/O, start to finish (see blocking.h).
 *
 * The loop is the session contract in its plainest form: run work inline,
 * write everything pending, stop if done, otherwise wait for input.  The idle
 * timeout is the poll() timeout while waiting for input, and SO_SNDTIMEO while
 * a write makes no progress; the deadline restarts at accept, after each write
 * that sent bytes, and when session_input() says the input was activity. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "blocking.h"
#include "clock.h"
#include "net.h"
#include "server.h"
#include "session.h"

/* Connections open in this process (returned by blocking_accept and not yet
 * released), for --max-conns and for the wait at shutdown.  Only the accept loop
 * adds; the threads serving connections remove. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_changed = PTHREAD_COND_INITIALIZER;
static int conns;

static void conn_release(struct server *srv)
{
	stats_conn_closed(&srv->stats);
	pthread_mutex_lock(&conns_lock);
	conns--;
	pthread_cond_broadcast(&conns_changed);
	pthread_mutex_unlock(&conns_lock);
}

/* At --max-conns, waits until a connection is released.  Every connection
 * counted is in blocking_serve (or queued for it), which notices shutdown_fd and
 * ends, so a drain always wakes this wait.  Returns false once draining. */
static bool wait_below_limit(struct server *srv)
{
	pthread_mutex_lock(&conns_lock);
	while (srv->opts.max_conns > 0 && conns >= srv->opts.max_conns &&
	       !atomic_load(&srv->draining))
		pthread_cond_wait(&conns_changed, &conns_lock);
	pthread_mutex_unlock(&conns_lock);
	return !atomic_load(&srv->draining);
}

int blocking_accept(struct server *srv, int lfd)
{
	struct pollfd pfd[2] = {
		{ .fd = lfd, .events = POLLIN },
		{ .fd = srv->shutdown_fd, .events = POLLIN },
	};

	while (wait_below_limit(srv)) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno != EINTR)	/* ENOMEM: wait, never spin */
				poll(NULL, 0, 10);
			continue;
		}
		if (pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		int fd = net_accept(lfd, false);
		if (fd >= 0) {
			pthread_mutex_lock(&conns_lock);
			conns++;
			pthread_mutex_unlock(&conns_lock);
			stats_conn_opened(&srv->stats);
			return fd;
		}
		if (fd != -EAGAIN)	/* -EMFILE: net_accept shed the client */
			STAT_ADD(&srv->stats, errors, 1);
		if (fd == -EBUSY)	/* nothing shed: poll would say readable at once */
			poll(NULL, 0, NET_ACCEPT_BACKOFF_MS);
	}
	return -1;
}

void blocking_reject(struct server *srv, int fd)
{
	STAT_ADD(&srv->stats, errors, 1);
	close(fd);
	conn_release(srv);
}

void blocking_wait_all(void)
{
	pthread_mutex_lock(&conns_lock);
	while (conns > 0)
		pthread_cond_wait(&conns_changed, &conns_lock);
	pthread_mutex_unlock(&conns_lock);
}

enum end { END_DONE, END_TIMEOUT, END_ERROR };

static enum end serve(struct server *srv, struct session *s, int fd)
{
	int timeout = srv->opts.idle_timeout_ms;
	uint64_t deadline = clock_ms() + (uint64_t)timeout;
	bool drained = false;

	for (;;) {
		if (!drained && atomic_load(&srv->draining)) {
			session_drain(s);
			drained = true;
		}

		struct work *w = session_work(s);
		if (w) {
			work_run(w);
			session_work_done(s);
			continue;
		}

		const char *p;
		size_t len = session_output(s, &p);
		if (len > 0) {
			ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return errno == EAGAIN ? END_TIMEOUT : END_ERROR;
			session_output_sent(s, (size_t)n);
			deadline = clock_ms() + (uint64_t)timeout;
			continue;
		}

		if (session_done(s))
			return END_DONE;
		if (!session_wants_input(s))
			return END_ERROR;	/* nothing to wait for: a bug; never spin */

		struct pollfd pfd[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = srv->shutdown_fd, .events = POLLIN },
		};
		int wait = -1;
		if (timeout > 0) {
			uint64_t now = clock_ms();
			wait = deadline > now ? (int)(deadline - now) : 0;
		}
		int r = poll(pfd, drained ? 1 : 2, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return END_ERROR;
		if (r == 0) {
			if (clock_ms() >= deadline)
				return END_TIMEOUT;
			continue;	/* woke a little early */
		}
		if (!pfd[0].revents)
			continue;	/* shutdown_fd: drain at the top */

		size_t cap;
		char *buf = session_input_buf(s, &cap);
		ssize_t n = recv(fd, buf, cap, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return END_ERROR;
		if (n == 0)
			session_input_eof(s);
		else if (session_input(s, (size_t)n))
			deadline = clock_ms() + (uint64_t)timeout;
	}
}

void blocking_serve(struct server *srv, int fd)
{
	struct session *s = session_new(srv);
	enum end how = END_ERROR;

	if (s) {
		if (srv->opts.idle_timeout_ms > 0) {
			struct timeval tv = {
				.tv_sec = srv->opts.idle_timeout_ms / 1000,
				.tv_usec = (srv->opts.idle_timeout_ms % 1000) * 1000,
			};
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		}
		how = serve(srv, s, fd);
		session_free(s);
	}
	switch (how) {
	case END_DONE:
		net_linger_close(fd, NET_LINGER_MS);
		break;
	case END_TIMEOUT:
		STAT_ADD(&srv->stats, timeouts, 1);
		close(fd);
		break;
	case END_ERROR:
		STAT_ADD(&srv->stats, errors, 1);
		close(fd);
		break;
	}
	conn_release(srv);
}
