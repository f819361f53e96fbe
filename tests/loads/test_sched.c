/* Open-loop schedule: exact due times over long runs (no drift), the count as the
 * inverse of the due time, and threads that partition the global schedule. */
#include <CUnit/CUnit.h>

#include "sched.h"
#include "tests.h"

#define T0 123456789ull

static void test_no_drift(void)
{
	/* 3/s and 7/s have periods that are not whole nanoseconds: adding a rounded
	 * period would drift by a second within days; computing from k does not. */
	struct sched s3 = { .t0 = T0, .rate_mrps = sched_rate_mrps(3), .stride = 1 };
	struct sched s7 = { .t0 = T0, .rate_mrps = sched_rate_mrps(7), .stride = 1 };
	struct sched fast = { .t0 = T0, .rate_mrps = sched_rate_mrps(123456.789), .stride = 1 };
	uint64_t year = 365ull * 86400;

	CU_ASSERT_EQUAL(sched_due_global(&s3, 3 * year), T0 + year * 1000000000ull);
	CU_ASSERT_EQUAL(sched_due_global(&s7, 7 * year), T0 + year * 1000000000ull);
	CU_ASSERT_EQUAL(sched_due_global(&s3, 1), T0 + 333333333);
	CU_ASSERT_EQUAL(sched_due_global(&s3, 2), T0 + 666666666);
	/* 123456789 requests at 123456.789/s take exactly 1000 s. */
	CU_ASSERT_EQUAL(sched_due_global(&fast, 123456789), T0 + 1000ull * 1000000000ull);
	/* A day at 1 M/s: still exact. */
	struct sched m = { .t0 = T0, .rate_mrps = sched_rate_mrps(1e6), .stride = 1 };
	CU_ASSERT_EQUAL(sched_due_global(&m, 86400ull * 1000000), T0 + 86400ull * 1000000000ull);
}

static void test_spacing(void)
{
	struct sched s = { .t0 = T0, .rate_mrps = sched_rate_mrps(30000), .stride = 1 };
	uint64_t prev = sched_due_global(&s, 0);

	CU_ASSERT_EQUAL(prev, T0);
	for (uint64_t k = 1; k < 1000000; k++) {
		uint64_t d = sched_due_global(&s, k);
		/* 33333.33 ns apart: every gap is 33333 or 33334 */
		CU_ASSERT_FATAL(d - prev == 33333 || d - prev == 33334);
		prev = d;
	}
}

static void test_count_inverse(void)
{
	static const double rates[] = { 0.5, 1, 3, 1000, 123456.789, 1e6 };

	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		struct sched s = { .t0 = T0, .rate_mrps = sched_rate_mrps(rates[r]), .stride = 1 };

		CU_ASSERT_EQUAL(sched_count_global(&s, T0 - 1), 0);
		CU_ASSERT_EQUAL(sched_count_global(&s, T0), 1);
		for (uint64_t k = 1; k < 200000; k += 1 + k / 3) {
			uint64_t d = sched_due_global(&s, k);
			CU_ASSERT_FATAL(sched_count_global(&s, d) == k + 1);
			CU_ASSERT_FATAL(sched_count_global(&s, d - 1) == k);
		}
	}
}

/* Three threads' local schedules, merged, are the global schedule. */
static void test_threads_partition(void)
{
	struct sched g = { .t0 = T0, .rate_mrps = sched_rate_mrps(7777), .stride = 1 };
	struct sched t[3];
	uint64_t next[3] = { 0, 0, 0 };

	for (int j = 0; j < 3; j++)
		t[j] = (struct sched){ .t0 = T0, .rate_mrps = g.rate_mrps, .stride = 3, .offset = (uint64_t)j };
	for (uint64_t k = 0; k < 30000; k++) {
		int j = (int)(k % 3);
		CU_ASSERT_FATAL(sched_due(&t[j], next[j]) == sched_due_global(&g, k));
		next[j]++;
	}
	for (uint64_t tt = T0; tt < T0 + 2000000000ull; tt += 7654321) {
		uint64_t sum = sched_count(&t[0], tt) + sched_count(&t[1], tt) + sched_count(&t[2], tt);
		CU_ASSERT_FATAL(sum == sched_count_global(&g, tt));
	}
}

static void test_rate_rounding(void)
{
	CU_ASSERT_EQUAL(sched_rate_mrps(0.001), 1);
	CU_ASSERT_EQUAL(sched_rate_mrps(2.5), 2500);
	CU_ASSERT_EQUAL(sched_rate_mrps(0), 0);
	CU_ASSERT_EQUAL(sched_rate_mrps(-1), 0);
}

void suite_sched(void)
{
	CU_pSuite s = CU_add_suite("sched", NULL, NULL);

	CU_add_test(s, "due times exact over a year (no drift)", test_no_drift);
	CU_add_test(s, "spacing at 30000/s over 1M requests", test_spacing);
	CU_add_test(s, "count is the inverse of due", test_count_inverse);
	CU_add_test(s, "threads partition the schedule", test_threads_partition);
	CU_add_test(s, "rate rounding", test_rate_rounding);
}
