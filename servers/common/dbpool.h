/* The blocking models' database: a bounded pool of blocking libpq connections,
 * one per process.  A serving thread takes a connection, runs its queries one
 * round trip at a time (PQexecPrepared: the thread sleeps in the kernel while
 * PostgreSQL works), and gives it back.  With more threads than connections a
 * thread waits for a free one, at most DB_WAIT_MS. */
#ifndef LB_DBPOOL_H
#define LB_DBPOOL_H

#include "db.h"

/* A request that found no free connection for this long gets 503 (the load
 * generator's default --timeout-ms: a client would have given up anyway). */
#define DB_WAIT_MS	5000

/* Sets the process's pool up: uri (checked by the caller), at most nconns
 * connections, each opened when first needed (and reopened after it broke,
 * with back-off).  Event models never call dbpool_run, so they open none.
 * Call once, before any dbpool_run.  0 or -ENOMEM. */
int dbpool_init(const char *uri, int nconns);

/* Runs q's queries on a pooled connection, blocking the calling thread;
 * q->failed when there is no pool, no connection within DB_WAIT_MS, or the
 * database failed (then the connection is reopened at its next use).
 * Thread-safe. */
void dbpool_run(struct db_query *q);

/* Closes every connection (tests; a server exits without it).  No
 * dbpool_run may be running; dbpool_init may be called again. */
void dbpool_close(void);

#endif
