/* The work behind /cpu and /block (docs/contract.md, "Work unit").  A session
 * hands out a struct work (session_work); the model runs it wherever its model
 * says -- inline, on a pool, on libuv's pool -- with work_run.  Everything here
 * is safe to call from any thread. */
#ifndef LB_WORK_H
#define LB_WORK_H

#include <stdint.h>

enum work_kind { WORK_CPU, WORK_BLOCK };

struct work {
	enum work_kind kind;
	uint64_t us;		/* from the query: /cpu?us=N, /block?us=N */
	uint64_t units;		/* WORK_CPU: N x K */
	uint32_t checksum;	/* WORK_CPU: the result, set by work_run */
};

/* Runs a work item: work_fnv_units(units) into checksum, or a sleep of us
 * microseconds.  May take seconds. */
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
