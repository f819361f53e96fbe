/* iterative: one connection at a time, blocking I/O.
 *
 * The "traditional" server of the Node.js story: accept a connection, serve it
 * until the client closes it (keep-alive honoured), then accept the next.  No
 * threads, no readiness multiplexing, no state machine: blocking_serve reads,
 * works and writes as if the client were alone -- because it is.
 *
 * The database (/db, /queries) too: one blocking PQexecPrepared per row, a round
 * trip each, on one of the process's pooled connections (common/dbpool.c; only
 * one is ever in use).  Every client waits while PostgreSQL answers one.
 *
 * Trade-off: the simplest possible server, and the cheapest per request while
 * there is only one client.
 *
 * Where it breaks: a second client.  While one client holds its keep-alive
 * connection, every other one waits in the listen backlog, unanswered, until
 * the first closes or hits the idle timeout (--idle-timeout-ms).  One slow
 * request (/block, /cpu) or one slow reader stalls everyone.
 */
#include <unistd.h>

#include "common/blocking.h"
#include "common/server.h"

static struct server srv;

int main(int argc, char **argv)
{
	int lfd, fd;

	server_init(&srv, argc, argv, "iterative", 0);
	server_listen(&srv, &lfd, 1, true);

	/* Accept, then serve that client until it leaves: everyone else waits in
	 * the listen backlog meanwhile. */
	while ((fd = blocking_accept(&srv, lfd)) >= 0)
		blocking_serve(&srv, fd);

	close(lfd);
	server_finish(&srv);
	return 0;
}
