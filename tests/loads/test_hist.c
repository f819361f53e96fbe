/* Histogram: bucket geometry, percentiles against an exact sort of the same
 * random samples (within the histogram's precision), mean/stdev, merging. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "tests.h"

#define NSAMPLES 200000

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double uniform01(void)
{
	return (double)(next_rand() >> 11) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every bucket is contiguous with the next, holds what hist_index says it holds,
 * and is never wider than 1/1024 of its lowest value (exact below 2048). */
static void test_geometry(void)
{
	for (size_t i = 0; i + 1 < HIST_LEN; i++) {
		CU_ASSERT_EQUAL_FATAL(hist_highest(i) + 1, hist_lowest(i + 1));
		if (hist_lowest(i) < 2048) {
			CU_ASSERT_EQUAL_FATAL(hist_lowest(i), hist_highest(i));
		} else {
			CU_ASSERT_FATAL(hist_highest(i) - hist_lowest(i) + 1 <= hist_lowest(i) / 1024);
		}
	}
	CU_ASSERT(hist_index(HIST_MAX_US) < HIST_LEN);
	for (uint64_t v = 0; v < 70000; v++) {
		size_t i = hist_index(v);
		CU_ASSERT_FATAL(hist_lowest(i) <= v && v <= hist_highest(i));
	}
	for (int k = 0; k < 100000; k++) {
		uint64_t v = (uint64_t)exp(uniform01() * log((double)HIST_MAX_US));
		size_t i = hist_index(v);
		CU_ASSERT_FATAL(i < HIST_LEN);
		CU_ASSERT_FATAL(hist_lowest(i) <= v && v <= hist_highest(i));
	}
}

typedef uint64_t (*sampler)(void);

static uint64_t uniform_1ms(void) { return next_rand() % 1000; }
static uint64_t uniform_10s(void) { return next_rand() % 10000000; }
static uint64_t log_uniform(void) { return (uint64_t)exp(uniform01() * log(3.6e9)); }
static uint64_t exponential(void) { return (uint64_t)(-log(1.0 - uniform01()) * 250.0); }
static uint64_t bimodal(void)	/* a fast mode and a 1 s stall, like a SIGSTOP */
{
	return next_rand() % 100 ? 40 + next_rand() % 20 : 1000000 + next_rand() % 1000;
}

static void check_against_sort(sampler draw)
{
	static uint64_t s[NSAMPLES];
	static const double pcts[] = { 0.001, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 99.999, 100 };
	struct hist *h = hist_new();
	double sum = 0, sumsq = 0, mean, sd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	for (int i = 0; i < NSAMPLES; i++) {
		s[i] = draw();
		hist_record(h, s[i]);
		sum += (double)s[i];
	}
	qsort(s, NSAMPLES, sizeof(s[0]), cmp_u64);
	for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
		uint64_t rank = (uint64_t)ceil(pcts[k] / 100.0 * NSAMPLES);
		uint64_t exact = s[(rank ? rank : 1) - 1];
		uint64_t got = hist_percentile(h, pcts[k]);

		/* At or above the true sample, by at most one bucket (0.1%). */
		CU_ASSERT(got >= exact);
		CU_ASSERT(got <= exact + exact / 1024);
	}
	CU_ASSERT_EQUAL(hist_percentile(h, 100), s[NSAMPLES - 1]);
	CU_ASSERT_EQUAL(h->max, s[NSAMPLES - 1]);
	CU_ASSERT_EQUAL(h->min, s[0]);
	CU_ASSERT_EQUAL(h->total, NSAMPLES);
	mean = sum / NSAMPLES;
	for (int i = 0; i < NSAMPLES; i++)
		sumsq += ((double)s[i] - mean) * ((double)s[i] - mean);
	sd = sqrt(sumsq / NSAMPLES);
	CU_ASSERT_DOUBLE_EQUAL(hist_mean(h), mean, mean * 1e-9 + 1e-9);
	CU_ASSERT_DOUBLE_EQUAL(hist_stdev(h), sd, sd * 1e-6 + 1e-6);
	free(h);
}

static void test_uniform_small(void) { check_against_sort(uniform_1ms); }
static void test_uniform_large(void) { check_against_sort(uniform_10s); }
static void test_log_uniform(void) { check_against_sort(log_uniform); }
static void test_exponential(void) { check_against_sort(exponential); }
static void test_bimodal(void) { check_against_sort(bimodal); }

/* Merging per-thread histograms gives exactly the histogram of all samples. */
static void test_merge(void)
{
	struct hist *all = hist_new(), *a = hist_new(), *b = hist_new();

	CU_ASSERT_FATAL(all && a && b);
	for (int i = 0; i < 50000; i++) {
		uint64_t v = log_uniform();
		hist_record(all, v);
		hist_record(next_rand() & 1 ? a : b, v);
	}
	hist_merge(a, b);
	CU_ASSERT_EQUAL(a->total, all->total);
	CU_ASSERT_EQUAL(a->min, all->min);
	CU_ASSERT_EQUAL(a->max, all->max);
	CU_ASSERT_EQUAL(a->sum, all->sum);
	CU_ASSERT(memcmp(a->counts, all->counts, sizeof(a->counts)) == 0);
	CU_ASSERT_EQUAL(hist_percentile(a, 99.9), hist_percentile(all, 99.9));
	/* Merging an empty histogram changes nothing (min stays, max stays). */
	hist_reset(b);
	hist_merge(a, b);
	CU_ASSERT_EQUAL(a->min, all->min);
	CU_ASSERT_EQUAL(a->total, all->total);
	free(all);
	free(a);
	free(b);
}

static void test_empty_and_clamp(void)
{
	struct hist *h = hist_new();
	struct hist_summary s;

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(hist_percentile(h, 50), 0);
	hist_summarize(h, &s);
	CU_ASSERT_EQUAL(s.max, 0);
	CU_ASSERT_EQUAL(s.min, 0);
	CU_ASSERT_DOUBLE_EQUAL(s.mean, 0, 1e-12);
	hist_record(h, 0);
	CU_ASSERT_EQUAL(hist_percentile(h, 50), 0);
	hist_record(h, HIST_MAX_US * 10);	/* beyond an hour: counted at the top */
	CU_ASSERT_EQUAL(h->clamped, 1);
	CU_ASSERT_EQUAL(h->max, HIST_MAX_US);
	CU_ASSERT_EQUAL(hist_percentile(h, 100), HIST_MAX_US);
	CU_ASSERT_EQUAL(hist_percentile(h, 50), 0);
	free(h);
}

void suite_hist(void)
{
	CU_pSuite s = CU_add_suite("hist", NULL, NULL);

	CU_add_test(s, "bucket geometry", test_geometry);
	CU_add_test(s, "percentiles vs sort: uniform 0..1 ms", test_uniform_small);
	CU_add_test(s, "percentiles vs sort: uniform 0..10 s", test_uniform_large);
	CU_add_test(s, "percentiles vs sort: log-uniform 1 us..1 h", test_log_uniform);
	CU_add_test(s, "percentiles vs sort: exponential", test_exponential);
	CU_add_test(s, "percentiles vs sort: bimodal (stall)", test_bimodal);
	CU_add_test(s, "merge equals one histogram", test_merge);
	CU_add_test(s, "empty, zero and clamped values", test_empty_and_clamp);
}
