/* The event models' database client: libpq, non-blocking and in pipeline
 * mode, driven by the model's own loop.  One per loop, with that loop's share
 * of --db-conns connections; many requests share each connection, their
 * queries sent back to back without waiting for the answers.
 *
 * It touches no event library.  It tells the model which sockets to watch and
 * for what through a callback (as c-ares does with its socket-state callback);
 * the model calls dbloop_ready() when one is ready, then takes the queries that
 * finished with dbloop_finished().  Watching those sockets is the lesson of
 * each model file: epoll_ctl, ev_io, uv_poll_t.
 *
 * Nothing here blocks after dbloop_new(), which waits (at most connect_timeout)
 * for the first connections so the first requests find them.  Whatever is not
 * connected is reconnected when a request comes, with back-off; a request that
 * finds no connection up gets 503 at once.  A connection with queries in
 * flight that hears nothing from the database for DB_SILENT_MS (a database
 * stopped or hung without closing) is given up on the same way: its queries
 * fail (503).  That deadline is a timerfd, one more descriptor the model
 * watches like the sockets (the last slot), so a model needs no timer of its
 * own for it.  Single-threaded: every call for one dbloop from that loop's
 * thread.
 */
#ifndef LB_DBLOOP_H
#define LB_DBLOOP_H

#include <stdbool.h>

#include "db.h"

struct dbloop;
struct server;

enum { DBLOOP_READ = 1, DBLOOP_WRITE = 2 };

/* The slots a model's table needs for a client of up to n connections: one
 * per connection, and the client's timer. */
#define DBLOOP_SLOTS(n)	((n) + 1)

/* Called whenever what the client wants from one of its descriptors changes:
 * watch `fd` (connection `slot`, 0..nconns-1, or the timer, slot nconns) for
 * `now` (DBLOOP_READ and/or
 * DBLOOP_WRITE), level-triggered, instead of `was` (0: not watched until now);
 * now == 0: stop watching fd -- it is closed right after the call.  A slot's
 * fd may change (a reconnection); the old one always gets its 0 first.  The
 * descriptors are the client's own duplicates of libpq's, so libpq closing a
 * socket never pulls one out from under the loop. */
typedef void dbloop_watch_fn(void *arg, int slot, int fd, unsigned was, unsigned now);

/* A client of nconns connections (>= 1) to uri, which the caller has checked
 * (dbconn_check).  Waits up to connect_timeout for them; those that do not
 * come up are retried when requests arrive.  NULL when out of memory. */
struct dbloop *dbloop_new(const char *uri, int nconns, dbloop_watch_fn *watch, void *arg);

/* A model's loop_init: the client of the next of srv's loops, with that loop's
 * share of --db-conns (N / --reactors, one more for the first N % --reactors,
 * at least one each), or NULL without --db.  die()s when out of memory.  Call
 * once per loop, from the thread that sets the loops up. */
struct dbloop *dbloop_for_loop(const struct server *srv, dbloop_watch_fn *watch, void *arg);

/* Sends q's queries on the connection with the fewest queries in flight, q->owner
 * set to owner (the model's connection).  True: q is on its way and comes back
 * from dbloop_finished.  False: q->failed is set now (no client, or no
 * connection up: 503) and the client will never return it. */
bool dbloop_submit(struct dbloop *dl, struct db_query *q, void *owner);

/* Connection `slot`'s socket is ready for `events` (what the loop reported;
 * errors and hang-ups count as both): reads and writes what it can.  For the
 * timer's slot: gives up on the connections that have been silent too long
 * (their queries come back failed from dbloop_finished). */
void dbloop_ready(struct dbloop *dl, int slot, unsigned events);

/* Takes the queries that finished since the last call: a list through q->next,
 * each connection's in the order they were submitted on it.  Each has its rows,
 * or `failed` set (the connection was lost, or the database refused that
 * request).  NULL when none did (or dl is NULL). */
struct db_query *dbloop_finished(struct dbloop *dl);

/* Queries submitted and not yet returned (0 for NULL: no client). */
int dbloop_pending(const struct dbloop *dl);

/* Closes every connection (stop watching first, through the callback) and
 * frees the client (NULL: nothing).  Queries still in flight are abandoned,
 * never returned: call it once dbloop_pending() is 0. */
void dbloop_free(struct dbloop *dl);

#endif
