/* A load thread's state: set up before the load, torn down after it (its loop
 * is in loop.c, declared in loop.h).  Threads share nothing but struct run
 * (read-only once the load starts, plus a few atomics for the window's edges);
 * main merges their results after joining them.
 */
#ifndef LOADS_WORKER_H
#define LOADS_WORKER_H

#include <stdint.h>

#include "types.h"

/* Allocates w's connections, buffers and histograms for nconns connections and,
 * with -n in closed loop, a share of quota window requests.  Dies when out of
 * memory or descriptors (start-up only). */
void worker_init(struct worker *w, struct run *run, unsigned id, uint32_t nconns, uint64_t quota);
void worker_free(struct worker *w);

#endif
