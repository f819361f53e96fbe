/* libpq, the way both database clients use it: the connection parameters, the
 * one prepared statement, the binary parameter and row, and the back-off
 * between attempts to reach a database that went away.  dbpool.c (blocking)
 * and dbloop.c (non-blocking, pipelined) differ only in how they wait. */
#ifndef LB_DBCONN_H
#define LB_DBCONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* One statement, prepared once per connection: one query per row (TechEmpower
 * forbids batching the ids into one IN (...)). */
#define DB_STATEMENT	"world"
#define DB_SQL		"SELECT id, randomNumber FROM World WHERE id = $1"

/* libpq's connect_timeout unless --db sets its own (libpq's minimum is 2 s). */
#define DB_CONNECT_TIMEOUT_S	2

/* A connection with a query in flight that has heard nothing from the
 * database for this long is given up on, its requests answered 503: the
 * database stopped or hung without closing (the kernel keeps such a TCP
 * connection open for many minutes).  A query here is a one-row index lookup,
 * answered in well under a millisecond, and a busy database still sends
 * something every few; so 2 s of silence is a database that is not working,
 * not a slow one -- the same bound libpq's connect_timeout puts on a connect. */
#define DB_SILENT_MS		2000

/* Back-off between attempts to reach the database: the first attempt after a
 * connection broke is immediate, each failed one doubles the wait, up to half
 * a second -- so a server is back within a second of the database's return
 * however long it was away (tests/faults: a restart, a 10 s stop), and an
 * attempt against a database that refuses at once costs a connect every half
 * second per connection while it is down. */
#define DB_RETRY_MIN_MS		100
#define DB_RETRY_MAX_MS		500

/* Checks that uri parses as a libpq connection string or URI.  0, or -EINVAL
 * with libpq's reason in err. */
int dbconn_check(const char *uri, char *err, size_t errlen);

/* Starts a connection to uri with connect_timeout DB_CONNECT_TIMEOUT_S unless
 * uri sets one: blocking (PQconnectdbParams, which waits up to that timeout)
 * or not (PQconnectStartParams: the caller polls and keeps the time itself).
 * NULL only when out of memory; otherwise check PQstatus. */
PGconn *dbconn_connect(const char *uri, bool blocking);

/* The connect_timeout in force on c, in milliseconds. */
int dbconn_timeout_ms(PGconn *c);

/* The statement's one parameter, an int4 in binary (network order): what
 * PQsendQueryPrepared/PQexecPrepared take as paramValues etc. */
struct db_param {
	uint32_t be;
	const char *values[1];
	int lengths[1];
	int formats[1];
};
void dbconn_param(struct db_param *p, int32_t id);

/* PQprepare / PQsendPrepare arguments for DB_STATEMENT: one int4. */
extern const unsigned int dbconn_param_types[1];

/* Reads the one row of a binary result into row->number, after checking that
 * it is the row asked for (row->id).  0, or -1 for anything else (an error
 * status, no row, a malformed row). */
int dbconn_row(const PGresult *res, struct db_row *row);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t dbconn_now_ms(void);

struct db_backoff {
	uint64_t next_ms;	/* no attempt before this */
	uint32_t delay_ms;	/* 0: the last attempt succeeded */
};

/* True when an attempt may be made now. */
bool db_backoff_ready(const struct db_backoff *b, uint64_t now_ms);
/* A connection that worked broke: try again at once. */
void db_backoff_broken(struct db_backoff *b, uint64_t now_ms);
/* An attempt failed: wait twice as long as last time (DB_RETRY_MIN..MAX_MS). */
void db_backoff_failed(struct db_backoff *b, uint64_t now_ms);
/* An attempt succeeded. */
void db_backoff_ok(struct db_backoff *b);

#endif
