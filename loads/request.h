/* The requests on a connection (request.c): started, written, matched to the
 * bytes that come back, accounted for.  The connection itself is conn.c's. */
#ifndef LOADS_REQUEST_H
#define LOADS_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

/* Start the requests this connection may start now (closed loop: refill the
 * pipeline; open loop: those that have fallen due), then write. */
void conn_fill(struct conn *c, uint64_t now);

/* Write what is pending; EPOLLOUT is armed only while a write is stuck. */
void conn_flush(struct conn *c);

/* The oldest request in flight is answered with an HTTP status (echo: 200 when
 * every byte came back): 2xx is a request, 503 an `unavailable` error, anything
 * else a `status` error. */
void req_complete(struct conn *c, int status, uint64_t now);

/* n bytes read: match them to the requests in flight.  Return the number of
 * requests completed, or -1 if the connection failed (and was closed).  They set
 * c->close_after when the connection must close after this read. */
int req_consume_http(struct conn *c, const char *buf, size_t n, uint64_t now);
int req_consume_echo(struct conn *c, const char *buf, size_t n, uint64_t now);

#endif
