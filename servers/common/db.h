/* TechEmpower's database routes, the part every model shares (docs/contract.md,
 * "/db and /queries"): how many rows a request asks for, which ones, and the
 * JSON of the answer.  No I/O here: the queries are run by dbpool.c (blocking
 * models, one connection per serving thread at a time) or dbloop.c (event
 * models, pipelined from the loop). */
#ifndef LB_DB_H
#define LB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_ROWS		10000	/* World holds the ids 1..DB_ROWS */
#define DB_MAX_QUERIES	500	/* /queries?n= is clamped to 1..DB_MAX_QUERIES */

struct db_row {
	int32_t id;		/* in: the id to look up */
	int32_t number;		/* out: its randomNumber */
};

/* One request's queries: n ids in, n rows (or a failure) out.  It lives in the
 * session; whoever runs it fills rows[].number, or sets `failed`. */
struct db_query {
	unsigned n;		/* 1..DB_MAX_QUERIES */
	bool array;		/* /queries: a JSON array, even of one row */
	bool failed;		/* the database did not answer: 503 */
	struct db_row *rows;	/* &one for n == 1 (/db allocates nothing), else malloc'd */
	struct db_row one;

	/* The event models' bookkeeping (dbloop.c): */
	void *owner;		/* the model's connection, set before dbloop_submit */
	struct db_query *next;	/* in a database connection's queue, or a finished list */
	unsigned answered;	/* statements whose result has come back */
};

/* The row count /queries asks for, clamped as TechEmpower does, from the first
 * `key=` pair of a query string: a value of decimal digits gives its number,
 * 0 gives 1, above DB_MAX_QUERIES (overflowing included) gives DB_MAX_QUERIES;
 * missing, empty, negative ("-" and digits) or anything else ("abc", "12abc",
 * "+5", "1.5") gives 1.  Never an error: the one exception to the 400 rule. */
unsigned db_queries_count(const char *query, size_t len, const char *key);

/* Prepares q for n rows (1..DB_MAX_QUERIES) with ids from the calling thread's
 * generator.  0, or -ENOMEM (n > 1 needs an allocation). */
int db_query_init(struct db_query *q, unsigned n, bool array);

/* Frees what db_query_init allocated; q can be initialised again.  Idempotent. */
void db_query_release(struct db_query *q);

/* A uniformly random id in 1..DB_ROWS from the calling thread's generator
 * (splitmix64, seeded per thread from getrandom, or by db_random_seed). */
int32_t db_random_id(void);

/* Seeds the calling thread's generator (tests: a reproducible sequence). */
void db_random_seed(uint64_t seed);

/* The answer's JSON: {"id":I,"randomNumber":R} for /db, a JSON array of such
 * objects for /queries.  The key is written as TechEmpower spells it:
 * PostgreSQL folds the unquoted column name to "randomnumber".
 * db_json_len() is its exact length; db_json() writes it (no NUL) into buf,
 * which must hold db_json_len(q) bytes, and returns that length. */
size_t db_json_len(const struct db_query *q);
size_t db_json(const struct db_query *q, char *buf);

#endif
