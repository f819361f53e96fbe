/* pool: a fixed set of worker threads, blocking I/O.
 *
 * Threads are created once (--threads N, default 64) instead of per connection;
 * accepted connections wait in a FIFO queue, and a worker that takes one serves
 * it with blocking I/O until the client closes it (blocking_serve).  This is the
 * Apache worker MPM, or classic Tomcat with keep-alive.
 *
 * The database (/db, /queries) is waited for in the worker: it takes a
 * connection from the process's pool of --db-conns (waiting for a free one if
 * need be), runs one blocking PQexecPrepared per row, a round trip each, and
 * gives it back (common/dbpool.c).  While it waits, the worker and the
 * connection it owns are both held; N workers keep at most N queries in
 * flight, fewer when --db-conns is smaller.
 *
 * Trade-off: memory and thread count are bounded and no thread is created on the
 * request path, but a worker is held by its connection even while the client
 * sits idle between requests.
 *
 * Where it breaks: more connections than workers.  Connection N+1 is accepted and
 * then waits in the queue, unanswered, until some client disconnects or hits the
 * idle timeout (--idle-timeout-ms): with keep-alive clients its wait is
 * unbounded by the server's speed.  Raising N brings back the threads model's
 * costs.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/blocking.h"
#include "common/server.h"
#include "common/workq.h"

static struct server srv;

/* A connection is just its socket, queued as the item itself; blocking_serve
 * holds the worker that takes it until the connection ends. */
static void conn_serve(void *item, void *arg)
{
	(void)arg;
	blocking_serve(&srv, (int)(intptr_t)item);
}

int main(int argc, char **argv)
{
	struct workq *q;
	int lfd, fd;

	server_init(&srv, argc, argv, "pool", OPT_THREADS | OPT_STACK_KB);
	server_listen(&srv, &lfd, 1, true);

	q = workq_start(srv.opts.threads, srv.opts.stack_kb, conn_serve, NULL);
	if (!q)
		die("starting %d workers: %s", srv.opts.threads, strerror(errno));

	/* Accept: queue the connection for the next free worker.  The queue only
	 * fails when memory does; that one client loses its connection. */
	while ((fd = blocking_accept(&srv, lfd)) >= 0)
		if (workq_push(q, (void *)(intptr_t)fd) < 0)
			blocking_reject(&srv, fd);

	/* Draining: queued connections are still served (each sees the drain and
	 * closes after at most the request in progress), then the workers are
	 * joined. */
	close(lfd);
	workq_stop(q);
	server_finish(&srv);
	return 0;
}
