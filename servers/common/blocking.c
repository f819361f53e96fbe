/* One connection served with blocking I/O, start to finish (see blocking.h).
 *
 * The loop is the session contract in its plainest form: run work inline,
 * write everything pending, stop if done, otherwise wait for input.  A
 * keep-alive request costs two system calls, recv and send, as it does in any
 * blocking server.
 *
 * The idle timeout (docs/contract.md) is the socket's own: recv waits with
 * SO_RCVTIMEO, send with SO_SNDTIMEO.  The deadline restarts at accept, after
 * each send that moved bytes, and when session_input() says the input was
 * activity (echo).  Each recv must wait only for what is left until the
 * deadline -- bytes of an incomplete request do not restart it, or a slowloris
 * client sending a byte a second would never be closed -- so rcvtimeo_arm sets
 * SO_RCVTIMEO to the time left, but only when that differs from the value in
 * force.  After a response the time left is the whole timeout, which is what
 * the previous request left set: a keep-alive client costs no setsockopt per
 * request; a client whose request arrives in pieces costs one per piece.  A
 * send that moves nothing for the whole timeout fails with EAGAIN.
 *
 * Shutdown.  A thread blocked in recv watches its socket only, so the drain
 * interrupts it: the signal thread calls wake_all (server_on_drain), which
 * sends WAKE_SIGNAL to every thread serving a connection.  recv returns EINTR,
 * the loop sees `draining`, and the session finishes the request in progress.
 * A signal that lands after the loop's last look at `draining` but before recv
 * has started would interrupt nothing, so the handler also sets the socket's
 * receive timeout to one tick: that recv returns at once.  (shutdown(SHUT_RD)
 * would wake recv too, but it cuts off a request that is still arriving, and
 * Linux answers input that comes after it with a reset, the very thing the
 * lingering close is there to prevent.) */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "blocking.h"
#include "clock.h"
#include "net.h"
#include "server.h"
#include "session.h"

#define WAKE_SIGNAL SIGUSR1

/* Connections open in this process (returned by blocking_accept and not yet
 * released), for --max-conns and for the wait at shutdown, and the threads
 * serving them, for the drain's wake-up.  Only the accept loop adds
 * connections; the threads serving them remove them. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_changed = PTHREAD_COND_INITIALIZER;
static int conns;

struct serving {
	pthread_t thread;
	struct serving *prev, *next;
};
static struct serving *serving;		/* under conns_lock */

/* The connection this thread serves and the receive timeout set on it, as the
 * signal handler sees them (rcvtimeo_ms -1: unknown, the handler changed it). */
static _Thread_local volatile sig_atomic_t serving_fd = -1;
static _Thread_local volatile sig_atomic_t rcvtimeo_ms;

static void on_wake_signal(int sig)
{
	struct timeval tick = { .tv_sec = 0, .tv_usec = 1 };	/* one jiffy; 0 would mean never */
	int saved = errno;

	(void)sig;
	if (serving_fd >= 0) {
		rcvtimeo_ms = -1;
		setsockopt(serving_fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
	}
	errno = saved;
}

/* Runs on the signal thread once draining is set. */
static void wake_all(void)
{
	pthread_mutex_lock(&conns_lock);
	for (struct serving *t = serving; t; t = t->next)
		pthread_kill(t->thread, WAKE_SIGNAL);
	pthread_mutex_unlock(&conns_lock);
}

/* No SA_RESTART: the point of the signal is the EINTR. */
void blocking_wake_setup(void)
{
	struct sigaction sa = { .sa_handler = on_wake_signal };

	sigemptyset(&sa.sa_mask);
	if (sigaction(WAKE_SIGNAL, &sa, NULL) < 0)
		die("sigaction: %s", strerror(errno));
}

int blocking_wake_process(pid_t pid)
{
	return kill(pid, WAKE_SIGNAL) < 0 ? -errno : 0;
}

static void wake_install(struct server *srv)
{
	blocking_wake_setup();
	server_on_drain(srv, wake_all);
}

static void serving_begin(struct serving *me, int fd)
{
	serving_fd = fd;
	rcvtimeo_ms = 0;	/* a new socket waits forever */
	me->thread = pthread_self();
	me->prev = NULL;
	pthread_mutex_lock(&conns_lock);
	me->next = serving;
	if (serving)
		serving->prev = me;
	serving = me;
	pthread_mutex_unlock(&conns_lock);
}

static void serving_end(struct serving *me)
{
	pthread_mutex_lock(&conns_lock);
	if (me->prev)
		me->prev->next = me->next;
	else
		serving = me->next;
	if (me->next)
		me->next->prev = me->prev;
	pthread_mutex_unlock(&conns_lock);
	serving_fd = -1;
}

static void conn_release(struct server *srv)
{
	stats_conn_closed(&srv->stats);
	pthread_mutex_lock(&conns_lock);
	conns--;
	pthread_cond_broadcast(&conns_changed);
	pthread_mutex_unlock(&conns_lock);
}

/* At --max-conns, waits until a connection is released.  Every connection
 * counted is in blocking_serve (or queued for it), which the drain ends, so a
 * drain always wakes this wait.  Returns false once draining. */
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
	static bool wake_installed;	/* only the accept loop calls this */
	struct pollfd pfd[2] = {
		{ .fd = lfd, .events = POLLIN },
		{ .fd = srv->shutdown_fd, .events = POLLIN },
	};

	if (!wake_installed) {
		wake_install(srv);
		wake_installed = true;
	}
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

int blocking_accept_shared(struct server *srv, int lfd)
{
	int fd;

	while (!atomic_load(&srv->draining)) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			pthread_mutex_lock(&conns_lock);
			conns++;
			pthread_mutex_unlock(&conns_lock);
			stats_conn_opened(&srv->stats);
			return fd;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Nothing to shed with: this process holds one connection at
			 * most.  Another worker may take the client meanwhile. */
			STAT_ADD(&srv->stats, errors, 1);
			poll(NULL, 0, NET_ACCEPT_BACKOFF_MS);
		}
		/* EINTR: the wake-up; EINVAL: the listener was shut down (the
		 * drain); ECONNABORTED and the like: that client is gone. */
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

/* Sets SO_RCVTIMEO to the time left until deadline_ns, rounded up to the
 * millisecond (timeout_ns 0: no timeout), unless that is the value in force.
 * rcvtimeo_ms is written before the call, so a wake-up signal in between
 * leaves it -1 and the next call sets the value again.  0, -ETIMEDOUT when the
 * deadline has passed, or -errno. */
static int rcvtimeo_arm(int fd, uint64_t deadline_ns, uint64_t timeout_ns)
{
	struct timeval tv;
	int want = 0;

	if (timeout_ns > 0) {
		uint64_t now = clock_ns();

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		want = (int)((deadline_ns - now + 999999) / 1000000);
	}
	if (want == rcvtimeo_ms)
		return 0;
	rcvtimeo_ms = want;
	tv.tv_sec = want / 1000;
	tv.tv_usec = (want % 1000) * 1000;
	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ? -errno : 0;
}

/* How a connection ended.  END_RESET: the peer reset it -- a blocking server
 * finds that out only at its next recv or send, for instance after a /sleep
 * whose client left meanwhile; it is the client's doing, not a server error. */
enum end { END_DONE, END_TIMEOUT, END_RESET, END_ERROR };

static enum end io_failed(int err)
{
	if (err == EAGAIN)
		return END_TIMEOUT;
	return err == ECONNRESET || err == EPIPE ? END_RESET : END_ERROR;
}

static enum end serve(struct server *srv, struct session *s, int fd)
{
	uint64_t timeout_ns = (uint64_t)srv->opts.idle_timeout_ms * 1000000;
	uint64_t deadline = clock_ns() + timeout_ns;
	bool drained = false;
	int r;

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
				return io_failed(errno);
			session_output_sent(s, (size_t)n);
			deadline = clock_ns() + timeout_ns;
			continue;
		}

		if (session_done(s))
			return END_DONE;
		if (!session_wants_input(s))
			return END_ERROR;	/* nothing to wait for: a bug; never spin */

		if ((r = rcvtimeo_arm(fd, deadline, timeout_ns)) < 0)
			return r == -ETIMEDOUT ? END_TIMEOUT : END_ERROR;
		/* The last look before recv: a wake-up after it finds the receive
		 * timeout armed, and the handler's tick ends the recv. */
		if (!drained && atomic_load(&srv->draining))
			continue;

		size_t cap;
		char *buf = session_input_buf(s, &cap);
		ssize_t n = recv(fd, buf, cap, 0);
		if (n > 0) {
			if (session_input(s, (size_t)n))
				deadline = clock_ns() + timeout_ns;
		} else if (n == 0) {
			session_input_eof(s);
		} else if (errno != EAGAIN && errno != EINTR) {
			return io_failed(errno);
		}
		/* EAGAIN: the timeout, or the wake-up's tick; rcvtimeo_arm tells
		 * which.  EINTR: the wake-up. */
	}
}

void blocking_serve(struct server *srv, int fd)
{
	struct session *s = session_new(srv);
	struct serving me;
	enum end how = END_ERROR;

	if (s) {
		if (srv->opts.idle_timeout_ms > 0) {
			struct timeval tv = {
				.tv_sec = srv->opts.idle_timeout_ms / 1000,
				.tv_usec = (srv->opts.idle_timeout_ms % 1000) * 1000,
			};
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		}
		serving_begin(&me, fd);
		how = serve(srv, s, fd);
		serving_end(&me);
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
	case END_RESET:
		STAT_ADD(&srv->stats, resets, 1);
		close(fd);
		break;
	case END_ERROR:
		STAT_ADD(&srv->stats, errors, 1);
		close(fd);
		break;
	}
	conn_release(srv);
}
