/* threads: one thread per connection, blocking I/O.
 *
 * The oldest way to serve many clients at once: accept, hand the socket to a new
 * thread, and let that thread block in recv() and send() as if it were alone
 * (blocking_serve).  The kernel's scheduler does the multiplexing, so the code
 * has no state machine at all.
 *
 * The database (/db, /queries) is waited for the same way: the serving thread
 * takes a connection from the process's pool of --db-conns (a thread waits for
 * a free one), runs one blocking PQexecPrepared per row -- a round trip each,
 * asleep in recv() meanwhile -- and gives the connection back
 * (common/dbpool.c).  A waiting request costs its whole thread, and with more
 * threads than database connections, the threads queue for those.
 *
 * Trade-off: every connection costs a thread -- a stack (--stack-kb; 8 MiB of
 * address space by default), a kernel task, a context switch on every wake-up --
 * and an idle keep-alive client holds all of it while doing nothing.  A burst of
 * connects pays pthread_create per connection.
 *
 * Where it breaks: thousands of connections.  Memory and scheduling cost grow
 * with connections, not with requests, and pthread_create fails (EAGAIN) at the
 * thread limit; that connection is then closed and counted as an error.
 */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "common/blocking.h"
#include "common/server.h"

static struct server srv;

/* A connection is just its socket: everything else lives on its thread's stack,
 * inside blocking_serve, which blocks this thread and nobody else. */
static void *conn_thread(void *arg)
{
	blocking_serve(&srv, (int)(intptr_t)arg);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_attr_t attr;
	pthread_t t;
	int lfd, fd;

	server_init(&srv, argc, argv, "threads", OPT_STACK_KB);
	server_listen(&srv, &lfd, 1, true);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (srv.opts.stack_kb > 0 &&
	    pthread_attr_setstacksize(&attr, (size_t)srv.opts.stack_kb * 1024) != 0)
		die("--stack-kb %d: too small for a thread stack", srv.opts.stack_kb);

	/* Accept: one thread per connection.  If the thread cannot be created
	 * (thread limit, memory), that one client loses its connection; the server
	 * carries on. */
	while ((fd = blocking_accept(&srv, lfd)) >= 0)
		if (pthread_create(&t, &attr, conn_thread, (void *)(intptr_t)fd) != 0)
			blocking_reject(&srv, fd);

	/* Draining: the drain interrupts the connection threads, which finish the
	 * request in progress and end. */
	close(lfd);
	blocking_wait_all();
	pthread_attr_destroy(&attr);
	server_finish(&srv);
	return 0;
}
