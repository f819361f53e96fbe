/* Finished work back to a loop: doneq.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/doneq.h"
#include "unit.h"

#define PUSHERS 4
#define PER_PUSHER 20000

struct item {
	struct doneq_item q;
	int pusher, seq;
};

static struct doneq dq;
static struct item items[PUSHERS][PER_PUSHER];
static atomic_int wakeups;

static void *pusher(void *arg)
{
	int p = (int)(intptr_t)arg;

	for (int i = 0; i < PER_PUSHER; i++) {
		items[p][i].pusher = p;
		items[p][i].seq = i;
		if (doneq_push(&dq, &items[p][i].q))
			atomic_fetch_add(&wakeups, 1);
	}
	return NULL;
}

/* Every item comes out exactly once, each pusher's in its order, and an empty
 * queue turning non-empty is reported once per batch. */
static void test_doneq_concurrent(void)
{
	pthread_t t[PUSHERS];
	int next[PUSHERS] = { 0 }, got = 0, batches = 0;

	doneq_init(&dq);
	CU_ASSERT_PTR_NULL(doneq_take(&dq));
	for (int p = 0; p < PUSHERS; p++)
		pthread_create(&t[p], NULL, pusher, (void *)(intptr_t)p);
	while (got < PUSHERS * PER_PUSHER) {
		struct doneq_item *it = doneq_take(&dq);
		if (it)
			batches++;
		for (; it; it = it->next) {
			struct item *x = (struct item *)it;
			CU_ASSERT_EQUAL_FATAL(x->seq, next[x->pusher]);
			next[x->pusher]++;
			got++;
		}
	}
	for (int p = 0; p < PUSHERS; p++)
		pthread_join(t[p], NULL);
	CU_ASSERT_PTR_NULL(doneq_take(&dq));
	CU_ASSERT_EQUAL(atomic_load(&wakeups), batches);
	doneq_destroy(&dq);
}

int suite_doneq(void)
{
	static const struct unit_test tests[] = {
		{ "every item once, in order, one wake-up per batch", test_doneq_concurrent },
		{ NULL, NULL },
	};
	return add_suite("doneq", tests);
}
