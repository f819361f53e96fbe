/* The worker queue: every item runs exactly once, workq_stop drains first. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "common/workq.h"
#include "unit.h"

#define N 5000

static atomic_int runs[N];
static atomic_int total;

static void count(void *item, void *arg)
{
	int *base = arg;
	int i = (int)((int *)item - base);

	atomic_fetch_add(&runs[i], 1);
	atomic_fetch_add(&total, 1);
	if (i % 1000 == 0)
		usleep(1000);	/* some items are slow, so the queue backs up */
}

static void test_every_item_once(void)
{
	static int items[N];
	static const int stacks[] = { 0, 64 };

	for (size_t k = 0; k < sizeof stacks / sizeof stacks[0]; k++) {
		for (int i = 0; i < N; i++)
			atomic_store(&runs[i], 0);
		atomic_store(&total, 0);
		struct workq *q = workq_start(4, stacks[k], count, items);
		CU_ASSERT_PTR_NOT_NULL_FATAL(q);
		for (int i = 0; i < N; i++)
			CU_ASSERT_EQUAL(workq_push(q, &items[i]), 0);
		workq_stop(q);	/* runs what is queued, then joins */
		CU_ASSERT_EQUAL(atomic_load(&total), N);
		int once = 0;
		for (int i = 0; i < N; i++)
			once += atomic_load(&runs[i]) == 1;
		CU_ASSERT_EQUAL(once, N);
	}
}

static void test_bad_args(void)
{
	errno = 0;
	CU_ASSERT_PTR_NULL(workq_start(0, 0, count, NULL));
	CU_ASSERT_EQUAL(errno, EINVAL);
}

int suite_workq(void)
{
	static const struct unit_test tests[] = {
		{ "every item runs once; stop drains", test_every_item_once },
		{ "bad arguments", test_bad_args },
		{ NULL, NULL },
	};
	return add_suite("workq", tests);
}
