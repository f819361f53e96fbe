#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));

	if (h)
		hist_reset(h);
	return h;
}

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t hist_lowest(size_t idx)
{
	int range = (int)(idx >> HIST_HALF_BITS) - 1;
	uint64_t sub = (idx & (HIST_HALF - 1)) + HIST_HALF;

	/* The first 2048 buckets are the exact values 0..2047. */
	if (range < 0) {
		sub -= HIST_HALF;
		range = 0;
	}
	return sub << range;
}

uint64_t hist_highest(size_t idx)
{
	int range = (int)(idx >> HIST_HALF_BITS) - 1;

	return hist_lowest(idx) + (range > 0 ? (1ull << range) - 1 : 0);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (!src->total)
		return;
	for (size_t i = 0; i < HIST_LEN; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->sum += src->sum;
	dst->sumsq += src->sumsq;
	dst->clamped += src->clamped;
	if (src->max > dst->max)
		dst->max = src->max;
	if (src->min < dst->min)
		dst->min = src->min;
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
	uint64_t rank, seen = 0;

	if (!h->total)
		return 0;
	if (pct >= 100.0)
		return h->max;
	rank = (uint64_t)ceil(pct / 100.0 * (double)h->total);
	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < HIST_LEN; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = hist_highest(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? (double)h->sum / (double)h->total : 0.0;
}

double hist_stdev(const struct hist *h)
{
	double mean, var;

	if (!h->total)
		return 0.0;
	mean = hist_mean(h);
	var = h->sumsq / (double)h->total - mean * mean;
	return var > 0 ? sqrt(var) : 0.0;
}

void hist_summarize(const struct hist *h, struct hist_summary *s)
{
	s->p50 = hist_percentile(h, 50.0);
	s->p90 = hist_percentile(h, 90.0);
	s->p99 = hist_percentile(h, 99.0);
	s->p999 = hist_percentile(h, 99.9);
	s->p9999 = hist_percentile(h, 99.99);
	s->min = h->total ? h->min : 0;
	s->max = h->max;
	s->mean = hist_mean(h);
	s->stdev = hist_stdev(h);
}
