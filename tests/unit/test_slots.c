/* --max-conns across loops: slots.h. */
#include "common/slots.h"
#include "unit.h"

static void test_slots_limit(void)
{
	struct slots s;
	atomic_bool paused = false;

	slots_init(&s, 2);
	CU_ASSERT_TRUE(slots_take(&s));
	CU_ASSERT_TRUE(slots_take(&s));
	CU_ASSERT_FALSE(slots_take(&s));	/* the third waits */
	CU_ASSERT_FALSE(slots_take(&s));	/* a refusal takes nothing */
	CU_ASSERT_FALSE(slots_release(&s));	/* nobody paused: no wake-up */
	CU_ASSERT_TRUE(slots_take(&s));
	slots_pause(&s, &paused);
	CU_ASSERT_TRUE(slots_release(&s));	/* a paused loop must be woken */
	CU_ASSERT_TRUE(slots_resume(&s, &paused));
	CU_ASSERT_FALSE(slots_resume(&s, &paused));	/* only once */
	CU_ASSERT_FALSE(slots_release(&s));
	CU_ASSERT_EQUAL(atomic_load(&s.open), 0);
}

static void test_slots_unlimited(void)
{
	struct slots s;

	slots_init(&s, 0);
	for (int i = 0; i < 100000; i++)
		CU_ASSERT_TRUE_FATAL(slots_take(&s));
	CU_ASSERT_FALSE(slots_release(&s));
}

int suite_slots(void)
{
	static const struct unit_test tests[] = {
		{ "the limit, refusals and wake-ups", test_slots_limit },
		{ "no limit", test_slots_unlimited },
		{ NULL, NULL },
	};
	return add_suite("slots", tests);
}
