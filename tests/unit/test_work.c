/* The work unit (docs/contract.md): FNV-1a over i & 0xff.
 *
 * Expected values are not computed by the code under test.  units = 0 is the
 * FNV offset basis; units = 1 is FNV-1a of one zero byte, the well-known
 * 0x050c5d1f; the others come from node with Math.imul:
 *   node -e 'let h=0x811c9dc5|0; for(let i=0;i<U;i++) h=Math.imul(h^(i&0xff),16777619);
 *            console.log((h>>>0).toString(16))'
 */
#include <time.h>

#include "common/work.h"
#include "unit.h"

static const struct { uint64_t units; uint32_t sum; } sums[] = {
	{ 0, 0x811c9dc5 },
	{ 1, 0x050c5d1f },
	{ 2, 0x1076963a },
	{ 15, 0x8d1126b8 },
	{ 255, 0x1c2213b8 },
	{ 256, 0x90a458c5 },
	{ 1000, 0x655c5ffd },
	{ 3000000, 0x534c0785 },
	{ 123456789, 0x72cb4d0f },
};

static void test_fnv_known(void)
{
	for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++)
		CU_ASSERT_EQUAL(work_fnv_units(sums[i].units), sums[i].sum);
}

static void test_work_run(void)
{
	struct work w = { .kind = WORK_CPU, .us = 5, .units = 15 };

	work_run(&w);
	CU_ASSERT_EQUAL(w.checksum, 0x8d1126b8);
}

static double elapsed_ms(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* A sleep is at least as long as asked (a lower bound only: no timing flake). */
static void test_block_at_least(void)
{
	struct timespec t;
	struct work w = { .kind = WORK_BLOCK, .us = 20000 };

	clock_gettime(CLOCK_MONOTONIC, &t);
	work_run(&w);
	CU_ASSERT(elapsed_ms(&t) >= 20.0);
	clock_gettime(CLOCK_MONOTONIC, &t);
	work_block_us(1500000 / 100);
	CU_ASSERT(elapsed_ms(&t) >= 15.0);
}

static void test_calibrate(void)
{
	uint64_t k = work_calibrate();

	CU_ASSERT(k >= 1);
	CU_ASSERT(k < 1000000);
}

int suite_work(void)
{
	static const struct unit_test tests[] = {
		{ "FNV checksums for known unit counts", test_fnv_known },
		{ "work_run fills the checksum", test_work_run },
		{ "/block sleeps at least N us", test_block_at_least },
		{ "calibration gives a usable K", test_calibrate },
		{ NULL, NULL },
	};
	return add_suite("work", tests);
}
