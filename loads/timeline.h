/* Per-second rows for --timeline, kept per thread and merged at the end.
 *
 * A thread fills one full histogram for the current second; when time moves on,
 * only its non-empty buckets are copied out (a few hundred at most in practice)
 * and the histogram is cleared, so an hour-long run costs kilobytes, not a
 * histogram per second.  Rows are indexed by whole seconds since the window began,
 * and a value lands in the second in which its response (or error) happened.
 */
#ifndef LOADS_TIMELINE_H
#define LOADS_TIMELINE_H

#include <stdint.h>
#include <stdio.h>

#include "hist.h"

struct tl_entry {
	uint32_t idx;		/* histogram bucket */
	uint32_t count;
};

struct tl_row {
	uint64_t requests, errors;
	size_t first, n;	/* its buckets: entries[first .. first+n) */
};

struct timeline {
	struct hist *cur;	/* the current second's latencies */
	uint64_t sec;		/* index of the current second */
	uint64_t cur_requests, cur_errors;
	struct tl_row *rows;	/* seconds before `sec`, complete */
	size_t nrows, rows_cap;
	struct tl_entry *entries;
	size_t nentries, entries_cap;
};

/* Returns 0 or -ENOMEM. */
int timeline_init(struct timeline *t);
void timeline_free(struct timeline *t);

/* A response in second sec with latency us, or n errors.  Seconds are expected in
 * order; one earlier than the current second (clock readings taken out of order
 * within a loop turn) is counted in the current one.  Return 0 or -ENOMEM. */
int timeline_request(struct timeline *t, uint64_t sec, uint64_t us);
int timeline_errors(struct timeline *t, uint64_t sec, uint64_t n);

/* Closes the current second (its row is written even when empty); call once at
 * the end, after timeline_errors(t, last second, 0) to cover the whole window. */
int timeline_finish(struct timeline *t);

/* Writes the CSV (header t_s,requests,errors,p50_us,p99_us and one row per second)
 * merging n threads' timelines.  Returns 0 or -errno. */
int timeline_write_csv(FILE *f, struct timeline *const *tls, size_t n);

#endif
