/* The work a request hands to its model: /cpu and /block (docs/contract.md,
 * "Work unit"), the wait of /sleep and the queries of /db and /queries.  A
 * session hands out a struct work (session_work); the model runs it wherever
 * its model says -- inline, on a pool, on libuv's pool -- with work_run, or,
 * for a wait (work_is_wait), waits for it its own way.  Everything here is
 * safe to call from any thread. */
#ifndef LB_WORK_H
#define LB_WORK_H

#include <stdbool.h>
#include <stdint.h>

struct db_query;

enum work_kind { WORK_CPU, WORK_BLOCK, WORK_SLEEP, WORK_DB };

struct work {
	enum work_kind kind;
	uint64_t us;		/* from the query: /cpu?us=N, /block?us=N */
	uint64_t units;		/* WORK_CPU: N x K */
	uint32_t checksum;	/* WORK_CPU: the result, set by work_run */
	uint64_t ms;		/* WORK_SLEEP: from /sleep?ms=N */
	struct db_query *db;	/* WORK_DB: n ids in, n rows (or a failure) out */
};

/* True for the kinds a model waits for its own way -- an event model on a
 * timer or a socket of the connection's own loop (the database client's), a
 * blocking model in the serving thread -- and never on the --offload pool: a
 * wait needs no CPU, so handing it to a thread would only spend that thread. */
static inline bool work_is_wait(const struct work *w)
{
	return w->kind == WORK_SLEEP || w->kind == WORK_DB;
}

/* Runs a work item in the calling thread: work_fnv_units(units) into checksum,
 * a sleep of us microseconds (/block), or -- in a blocking model -- a wait: the
 * sleep of /sleep (ms milliseconds), or (WORK_DB) the queries on a connection
 * of the process's blocking pool (dbpool.h).  May take seconds. */
void work_run(struct work *w);

/* `units` steps of 32-bit FNV-1a over i & 0xff, i = 0 .. units-1, from the FNV
 * offset basis.  The checksum that /cpu returns (as 8 lowercase hex digits). */
uint32_t work_fnv_units(uint64_t units);

/* Sleeps `us` microseconds, resuming after signals (a stand-in for a blocking
 * disk or database call). */
void work_block_us(uint64_t us);

/* Measures how many work units this CPU runs per microsecond (about 50 ms of
 * work).  The harness measures it once and passes it to every model. */
uint64_t work_calibrate(void);

#endif
