/* One client connection (conn.c): connect (ramped), read and hand the bytes to
 * its requests (request.h), fail and reconnect, close.
 *
 * Every function may close the connection (on an error, or when the server said
 * "Connection: close"); callers look at c->state afterwards, never at a saved fd.
 */
#ifndef LOADS_CONN_H
#define LOADS_CONN_H

#include <stdint.h>

#include "types.h"

/* epoll's data for a connection: its index and generation, so events read in
 * the same batch as a close are recognised as stale. */
static inline uint64_t conn_key(const struct conn *c)
{
	return ((uint64_t)c->gen << 32) | c->id;
}

void conn_init(struct conn *c, struct worker *w, uint32_t id, struct req *ring);

/* Connect now, or queue behind the ramp (w->max_connecting in flight at once). */
void conn_open(struct conn *c, uint64_t now);

/* Connect now (the ramp has room); c is CONN_CLOSED and on no list. */
void conn_connect(struct conn *c, uint64_t now);

/* epoll reported `events` for c. */
void conn_event(struct conn *c, uint32_t events);

/* Time out a connect or the oldest request in flight. */
void conn_check_timeout(struct conn *c, uint64_t now);

/* Close for good; requests still in flight count as abandoned. */
void conn_retire(struct conn *c);

/* The connection failed: each request in flight on it counts one error of this
 * kind (once if none was); it is closed and reconnects after a back-off. */
void conn_fail(struct conn *c, enum err_kind kind, uint64_t now);

/* n errors of a kind, in accounting bucket acc, at time now (for --timeline). */
void conn_count_errors(struct worker *w, int acc, enum err_kind kind, uint64_t n, uint64_t now);

void conn_list_push(struct conn_list *l, struct conn *c);
void conn_list_remove(struct conn_list *l, struct conn *c);
struct conn *conn_list_pop(struct conn_list *l);

#endif
