#include "sched.h"

#include <math.h>

#define PS_PER_S 1000000000000ull	/* 10^9 ns per s times 1000 for the milli-rate */

__extension__ typedef unsigned __int128 u128;

uint64_t sched_rate_mrps(double rate)
{
	if (!(rate > 0) || rate > 1e12)
		return 0;
	return (uint64_t)llround(rate * 1000.0);
}

uint64_t sched_due_global(const struct sched *s, uint64_t k)
{
	return s->t0 + (uint64_t)((u128)k * PS_PER_S / s->rate_mrps);
}

/* due(k) <= t  <=>  floor(k*P/r) <= d  <=>  k*P < (d+1)*r  (d = t - t0, P = 10^12),
 * so the count is ceil((d+1)*r / P). */
uint64_t sched_count_global(const struct sched *s, uint64_t t)
{
	u128 x;

	if (t < s->t0)
		return 0;
	x = (u128)(t - s->t0 + 1) * s->rate_mrps;
	return (uint64_t)((x + PS_PER_S - 1) / PS_PER_S);
}

uint64_t sched_count(const struct sched *s, uint64_t t)
{
	uint64_t k = sched_count_global(s, t);	/* global requests 0..k-1 are due */

	if (k <= s->offset)
		return 0;
	return (k - 1 - s->offset) / s->stride + 1;
}
