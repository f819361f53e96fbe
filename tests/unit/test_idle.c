/* Idle deadlines: FIFO order by last activity, restart moves to the tail; the
 * clock they run on. */
#include <string.h>

#include "common/clock.h"
#include "common/idle.h"
#include "unit.h"

static void test_order(void)
{
	struct idle_list l;
	struct idle_entry e[4];

	memset(e, 0, sizeof e);
	idle_init(&l, 100);
	CU_ASSERT_EQUAL(idle_wait_ms(&l, 0), -1);
	CU_ASSERT_PTR_NULL(idle_expired(&l, 1000000));
	idle_touch(&l, &e[0], 10);
	idle_touch(&l, &e[1], 20);
	idle_touch(&l, &e[2], 30);
	idle_touch(&l, &e[3], 40);
	idle_touch(&l, &e[0], 50);	/* restarted: now the newest */
	idle_remove(&e[2]);
	idle_remove(&e[2]);		/* harmless twice */

	/* Never before T: a timer touched at ms 20 has not expired at 120. */
	CU_ASSERT_PTR_NULL(idle_expired(&l, 120));
	CU_ASSERT_EQUAL(idle_wait_ms(&l, 100), 21);
	CU_ASSERT_PTR_EQUAL(idle_expired(&l, 121), &e[1]);
	CU_ASSERT_PTR_NULL(idle_expired(&l, 121));
	CU_ASSERT_PTR_EQUAL(idle_expired(&l, 1000), &e[3]);
	CU_ASSERT_PTR_EQUAL(idle_expired(&l, 1000), &e[0]);
	CU_ASSERT_PTR_NULL(idle_expired(&l, 1000));
	CU_ASSERT_EQUAL(idle_wait_ms(&l, 1000), -1);

	/* An expired entry is off the list: touching it again re-queues it. */
	idle_touch(&l, &e[1], 2000);
	CU_ASSERT_EQUAL(idle_wait_ms(&l, 2000), 101);
	CU_ASSERT_EQUAL(idle_wait_ms(&l, 5000), 0);
	idle_remove(&e[1]);
	CU_ASSERT_EQUAL(idle_wait_ms(&l, 5000), -1);
}

static void test_off(void)
{
	struct idle_list l;
	struct idle_entry e;

	memset(&e, 0, sizeof e);
	idle_init(&l, 0);
	idle_touch(&l, &e, 10);
	CU_ASSERT_EQUAL(idle_wait_ms(&l, 10), -1);
	CU_ASSERT_PTR_NULL(idle_expired(&l, 1u << 30));
	idle_remove(&e);
}

static void test_many(void)
{
	struct idle_list l;
	static struct idle_entry e[1000];

	memset(e, 0, sizeof e);
	idle_init(&l, 5);
	for (int i = 0; i < 1000; i++)
		idle_touch(&l, &e[(i * 7) % 1000], (uint64_t)i);
	int n = 0;
	uint64_t last = 0;
	struct idle_entry *x;
	while ((x = idle_expired(&l, 100000)) != NULL) {
		CU_ASSERT(x->deadline_ms >= last);
		last = x->deadline_ms;
		n++;
	}
	CU_ASSERT_EQUAL(n, 1000);
}

static void test_now(void)
{
	uint64_t a = clock_ms(), b = clock_ms();

	CU_ASSERT(b >= a);
	CU_ASSERT(a > 0);
}

int suite_idle(void)
{
	static const struct unit_test tests[] = {
		{ "oldest first, restart moves to the tail", test_order },
		{ "timeout 0 queues nothing", test_off },
		{ "1000 entries expire in deadline order", test_many },
		{ "monotonic clock", test_now },
		{ NULL, NULL },
	};
	return add_suite("idle", tests);
}
