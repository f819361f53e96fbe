/* The process around a model: options, counters, start-up, listeners, shutdown.
 * Start-up code may die(); nothing here runs per request. */
#ifndef LB_SERVER_H
#define LB_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "opts.h"
#include "stats.h"

typedef void (*server_wake_fn)(void);

struct server {
	struct srv_opts opts;
	struct srv_stats stats;
	const char *model;		/* "epoll", ... */
	uint64_t cpu_iters_per_us;	/* K: given or calibrated, never 0 */
	atomic_bool draining;		/* SIGINT/SIGTERM seen */
	int shutdown_fd;		/* eventfd, readable (forever) once draining */
	_Atomic(server_wake_fn) wake;	/* see server_on_drain */
};

/* Parses the command line (usage on stderr and exit 2 on error, usage on stdout
 * and exit 0 for --help), ignores SIGPIPE, calibrates K when --cpu-iters-per-us
 * is absent, and starts the signal thread: SIGINT/SIGTERM are blocked in the
 * calling thread (and so in every thread it creates later); the first one sets
 * `draining` and makes `shutdown_fd` readable, a second one or a drain longer
 * than --drain-timeout-ms (SERVER_DRAIN_MS by default) writes the stats -- with
 * the waits it cut short -- and exits 1.  Every event loop waits on shutdown_fd
 * beside its sockets; a thread blocked on one socket is woken through
 * server_on_drain. */
void server_init(struct server *srv, int argc, char **argv, const char *model,
		 unsigned supported);

/* The default of --drain-timeout-ms (opts.c): long enough for any /block or
 * /cpu, shorter than the longest /sleep, which the drain then cuts. */
#define SERVER_DRAIN_MS 15000

/* For threads that wait where shutdown_fd cannot reach them (a blocking recv):
 * the signal thread calls fn once the drain has begun, after setting `draining`
 * and writing shutdown_fd.  fn runs on the signal thread. */
void server_on_drain(struct server *srv, server_wake_fn fn);

/* Opens n listening sockets on --host/--port (n > 1: SO_REUSEPORT, and with
 * --port 0 the first one picks the port and the rest bind to it), non-blocking
 * when asked, and prints "listening on HOST:PORT" (flushed) on stdout.  die()s on
 * failure with the reason (port busy, bad address). */
void server_listen(struct server *srv, int *fds, int n, bool nonblock);

/* Writes the stats JSON to --stats-file, else stderr.  Call once, at exit. */
void server_finish(struct server *srv);

/* Start-up errors: "srv-<model>: <message>" on stderr, exit 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Informational line on stderr, unless --quiet. */
void note(const struct server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
