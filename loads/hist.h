/* Log-linear latency histogram, after HdrHistogram: values are whole microseconds
 * from 0 to HIST_MAX_US (one hour), kept to 3 significant digits.
 *
 * Values below 2048 are counted exactly.  Above, the range [1024 * 2^b, 2048 * 2^b)
 * is cut into 1024 buckets of width 2^b, so a bucket is never wider than 1/1024 of
 * the values it holds: any value read back (a percentile) is the upper bound of its
 * bucket, at most 0.1% above the true sample.  Merging adds the counters, so per-
 * thread histograms merge without loss.  Values above HIST_MAX_US are counted at
 * HIST_MAX_US (and in `clamped`).
 */
#ifndef LOADS_HIST_H
#define LOADS_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_MAX_US	3600000000ull
#define HIST_HALF_BITS	10			/* 1024 buckets per power of two */
#define HIST_HALF	(1u << HIST_HALF_BITS)
#define HIST_RANGES	22			/* 2048 << 21 > HIST_MAX_US */
#define HIST_LEN	((HIST_RANGES + 1) * HIST_HALF)

struct hist {
	uint64_t total;		/* number of values */
	uint64_t min, max;	/* exact, microseconds (min is UINT64_MAX when empty) */
	uint64_t sum;		/* exact sum, microseconds */
	double sumsq;		/* sum of squares, for the standard deviation */
	uint64_t clamped;	/* values above HIST_MAX_US */
	uint64_t counts[HIST_LEN];
};

struct hist_summary {
	uint64_t p50, p90, p99, p999, p9999, min, max;
	double mean, stdev;
};

/* Bucket index of value v (v <= HIST_MAX_US). */
static inline size_t hist_index(uint64_t v)
{
	int range = 63 - __builtin_clzll(v | (2 * HIST_HALF - 1)) - HIST_HALF_BITS;
	uint64_t sub = v >> range;

	return ((size_t)(range + 1) << HIST_HALF_BITS) + (size_t)(sub - HIST_HALF);
}

static inline void hist_record(struct hist *h, uint64_t us)
{
	if (us > HIST_MAX_US) {
		h->clamped++;
		us = HIST_MAX_US;
	}
	h->counts[hist_index(us)]++;
	h->total++;
	h->sum += us;
	h->sumsq += (double)us * (double)us;
	if (us > h->max)
		h->max = us;
	if (us < h->min)
		h->min = us;
}

/* A zeroed, empty histogram from the heap (NULL when out of memory); free() it. */
struct hist *hist_new(void);
void hist_reset(struct hist *h);

/* The smallest and the largest value that bucket idx holds. */
uint64_t hist_lowest(size_t idx);
uint64_t hist_highest(size_t idx);

/* dst += src. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile pct (0 < pct <= 100): the upper bound of the bucket that
 * holds the ceil(pct/100 * total)-th smallest value, but never above the exact max.
 * 0 for an empty histogram. */
uint64_t hist_percentile(const struct hist *h, double pct);

double hist_mean(const struct hist *h);
double hist_stdev(const struct hist *h);	/* population standard deviation */
void hist_summarize(const struct hist *h, struct hist_summary *s);

#endif
