/* Blocking I/O, start to finish: the accept loop and the per-connection loop of
 * the iterative, threads, pool and prefork models.  Those differ only in who
 * runs blocking_serve for a connection blocking_accept returned: the accept
 * loop itself, a new thread, a worker from a queue -- or, in prefork, a
 * worker process that accepted it (blocking_accept_shared). */
#ifndef LB_BLOCKING_H
#define LB_BLOCKING_H

#include <sys/types.h>

struct server;

/* Waits for the next connection and returns its socket, counted open (stats
 * and --max-conns), or -1 once the server is draining.  At --max-conns it stops
 * accepting until a connection is released: new clients wait in the backlog.
 * The listener must be non-blocking: poll() waits for it beside shutdown_fd, and
 * a connection reset between poll and accept would otherwise leave the caller
 * blocked in accept(), deaf to SIGTERM. */
int blocking_accept(struct server *srv, int lfd);

/* Serves fd until the connection ends, then closes it (lingering close) and
 * releases it: stats, timeouts, I/O errors, its --max-conns slot.  Blocks in
 * recv and send, the idle timeout set on the socket (SO_RCVTIMEO, SO_SNDTIMEO);
 * runs /cpu and /block inline.  A drain interrupts the thread with a signal
 * (blocking.c says how), so this thread must not block SIGUSR1. */
void blocking_serve(struct server *srv, int fd);

/* A connection from blocking_accept that could not be handed on (no thread, no
 * memory): closes it, counts an error, releases it. */
void blocking_reject(struct server *srv, int fd);

/* Waits until every connection blocking_accept returned has been released. */
void blocking_wait_all(void);

/* Processes instead of threads (prefork): workers that share one listener.
 *
 * blocking_accept_shared blocks in accept() itself, where the kernel wakes
 * one waiting process per client (a poll on the shared listener would wake
 * every worker for each client).  The listener must be blocking.  Returns the
 * client's socket, counted open, or -1 once draining.
 *
 * The drain reaches the workers from the parent: it calls blocking_wake_setup
 * before it forks, so every worker inherits the handler of the wake-up
 * signal, and in its server_on_drain callback shuts the listener down (every
 * accept returns) and calls blocking_wake_process for each worker (a recv
 * returns, as blocking_serve's threads do). */
int blocking_accept_shared(struct server *srv, int lfd);
void blocking_wake_setup(void);
int blocking_wake_process(pid_t pid);

#endif
