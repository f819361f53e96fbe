/* iterative: one connection at a time, blocking I/O.
 *
 * The "traditional" server of the Node.js story: accept a connection, serve it
 * until the client closes it (keep-alive honoured), then accept the next.  No
 * threads, no readiness multiplexing, no state machine: blocking_serve reads,
 * works and writes as if the client were alone -- because it is.
 *
 * Trade-off: the simplest possible server, and the cheapest per request while
 * there is only one client.
 *
 * Where it breaks: a second client.  While one client holds its keep-alive
 * connection, every other one waits in the listen backlog, unanswered, until
 * the first closes or hits the idle timeout (--idle-timeout-ms).  One slow
 * request (/block, /cpu) or one slow reader stalls everyone.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "common/blocking.h"
#include "common/net.h"
#include "common/server.h"

static struct server srv;

/* The listener is non-blocking although this is the blocking model: poll()
 * waits for it beside shutdown_fd, and a connection reset between poll and
 * accept would otherwise leave us blocked in accept(), deaf to SIGTERM. */
static void accept_loop(int lfd)
{
	struct pollfd pfd[2] = {
		{ .fd = lfd, .events = POLLIN },
		{ .fd = srv.shutdown_fd, .events = POLLIN },
	};

	while (!atomic_load(&srv.draining)) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		int fd = net_accept(lfd, false);
		if (fd >= 0) {
			stats_conn_opened(&srv.stats);
			blocking_serve(&srv, fd);	/* everyone else waits here */
		} else if (fd != -EAGAIN) {
			STAT_ADD(&srv.stats, errors, 1);	/* -EMFILE: shed */
		}
	}
}

int main(int argc, char **argv)
{
	int lfd;

	server_init(&srv, argc, argv, "iterative", 0);
	server_listen(&srv, &lfd, 1, true);
	accept_loop(lfd);
	close(lfd);
	server_finish(&srv);
	return 0;
}
