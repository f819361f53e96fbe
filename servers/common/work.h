/* The work behind /cpu and /block (docs/contract.md, "Work unit").  Pure functions: safe
 * to call from any thread. */
#ifndef LB_WORK_H
#define LB_WORK_H

#include <stdint.h>

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
