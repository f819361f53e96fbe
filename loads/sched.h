/* Open-loop schedule.
 *
 * Global request k (k = 0, 1, ...) falls due at t0 + floor(k * 10^12 / rate_mrps)
 * nanoseconds, rate_mrps being the rate in requests per 1000 s.  Every due time is
 * computed from k, never by adding a period to the previous one, so rounding never
 * accumulates: after a day at 3 requests/s, request 3n is due exactly n s after t0.
 *
 * Thread j of T owns the global requests k = m*T + j; m is its local index, and
 * the thread hands local request m to its connection m mod C.
 */
#ifndef LOADS_SCHED_H
#define LOADS_SCHED_H

#include <stdint.h>

struct sched {
	uint64_t t0;		/* due time of global request 0, ns */
	uint64_t rate_mrps;	/* requests per 1000 seconds, >= 1 */
	uint64_t stride;	/* T */
	uint64_t offset;	/* j */
};

/* rate in requests/s, rounded to the nearest 1/1000; 0 if it rounds to nothing. */
uint64_t sched_rate_mrps(double rate);

/* Due time of global request k. */
uint64_t sched_due_global(const struct sched *s, uint64_t k);

/* Number of global requests due at or before time t. */
uint64_t sched_count_global(const struct sched *s, uint64_t t);

/* Due time of this thread's local request m. */
static inline uint64_t sched_due(const struct sched *s, uint64_t m)
{
	return sched_due_global(s, m * s->stride + s->offset);
}

/* Number of this thread's local requests due at or before time t. */
uint64_t sched_count(const struct sched *s, uint64_t t);

#endif
