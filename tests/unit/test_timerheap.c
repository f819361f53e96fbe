/* The timer heap: deadline order, ties in start order, stopping by handle, and
 * O(log n) work per operation (counted as entries moved, not timed). */
#include <stdlib.h>
#include <string.h>

#include "common/timerheap.h"
#include "unit.h"

/* The heap's invariants: no entry earlier than its parent, and every timer
 * knows where it is. */
static bool heap_ok(const struct timer_heap *h)
{
	for (uint32_t i = 0; i < h->n; i++) {
		const struct timer_entry *e = &h->v[i];

		if (e->t->pos != i + 1)
			return false;
		if (i > 0) {
			const struct timer_entry *p = &h->v[(i - 1) / 2];
			if (e->deadline_ms < p->deadline_ms ||
			    (e->deadline_ms == p->deadline_ms && e->seq < p->seq))
				return false;
		}
	}
	return true;
}

/* A small deterministic generator: the tests must not depend on the libc's. */
static uint32_t rng_next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_empty(void)
{
	struct timer_heap h;
	struct timer t = { 0 };

	timer_heap_init(&h);
	CU_ASSERT_EQUAL(timer_wait_ms(&h, 0), -1);
	CU_ASSERT_PTR_NULL(timer_expired(&h, UINT64_MAX));
	timer_stop(&h, &t);		/* not running: harmless */
	CU_ASSERT_FALSE(timer_running(&t));
	CU_ASSERT_EQUAL(timer_count(&h), 0);
	timer_heap_free(&h);
}

/* Never before ms: started at 10 for 100, not expired at 110 (a start at
 * 10.999 would be 99.x ms old), expired at 111.  ms = 0 expires at the next
 * millisecond. */
static void test_never_early(void)
{
	struct timer_heap h;
	struct timer a = { 0 }, b = { 0 };

	timer_heap_init(&h);
	CU_ASSERT_EQUAL(timer_heap_reserve(&h, 2), 0);
	timer_start(&h, &a, 10, 100);
	CU_ASSERT(timer_running(&a));
	CU_ASSERT_EQUAL(timer_wait_ms(&h, 10), 101);
	CU_ASSERT_PTR_NULL(timer_expired(&h, 110));
	CU_ASSERT_EQUAL(timer_wait_ms(&h, 110), 1);
	CU_ASSERT_PTR_EQUAL(timer_expired(&h, 111), &a);
	CU_ASSERT_FALSE(timer_running(&a));
	timer_start(&h, &b, 500, 0);
	CU_ASSERT_PTR_NULL(timer_expired(&h, 500));
	CU_ASSERT_EQUAL(timer_wait_ms(&h, 500), 1);
	CU_ASSERT_EQUAL(timer_wait_ms(&h, 9999), 0);
	CU_ASSERT_PTR_EQUAL(timer_expired(&h, 501), &b);
	CU_ASSERT_EQUAL(timer_wait_ms(&h, 501), -1);
	timer_heap_free(&h);
}

/* Different lengths started in one order expire in deadline order; equal
 * deadlines in the order they were started; a restart moves a timer. */
static void test_order(void)
{
	struct timer_heap h;
	struct timer t[6];
	static const uint64_t ms[6] = { 500, 100, 300, 100, 0, 100 };
	static const int want[6] = { 4, 1, 5, 3, 2, 0 };

	memset(t, 0, sizeof t);
	timer_heap_init(&h);
	CU_ASSERT_EQUAL(timer_heap_reserve(&h, 6), 0);
	for (int i = 0; i < 6; i++)
		timer_start(&h, &t[i], 1000, ms[i]);
	/* t[3] restarted later for the same length: now after t[5] */
	timer_start(&h, &t[3], 1000, 100);
	timer_start(&h, &t[2], 1000, 200);
	CU_ASSERT(heap_ok(&h));
	CU_ASSERT_EQUAL(timer_count(&h), 6);
	for (int i = 0; i < 6; i++) {
		struct timer *x = timer_expired(&h, 100000);
		CU_ASSERT_PTR_EQUAL(x, &t[want[i]]);
		CU_ASSERT(heap_ok(&h));
	}
	CU_ASSERT_PTR_NULL(timer_expired(&h, 100000));
	timer_heap_free(&h);
}

#define MANY 10000

/* Random starts, stops and restarts among 10,000 timers, the invariants checked
 * after every step, then everything expires in deadline order. */
static void test_random_stop_by_handle(void)
{
	struct timer_heap h;
	struct timer *t = calloc(MANY, sizeof *t);
	uint32_t seed = 12345;
	size_t running = 0;
	bool ok = true;

	CU_ASSERT_FATAL(t != NULL);
	timer_heap_init(&h);
	CU_ASSERT_EQUAL_FATAL(timer_heap_reserve(&h, MANY), 0);
	for (int step = 0; step < 4 * MANY; step++) {
		uint32_t i = rng_next(&seed) % MANY;
		uint32_t op = rng_next(&seed) % 3;

		if (op == 0 && timer_running(&t[i])) {
			timer_stop(&h, &t[i]);
			running--;
		} else {
			if (!timer_running(&t[i]))
				running++;
			timer_start(&h, &t[i], 0, rng_next(&seed) % 60001);
		}
		/* Full checks are O(n): every 97th step keeps this test fast. */
		if (step % 97 == 0 && !heap_ok(&h))
			ok = false;
	}
	CU_ASSERT(ok);
	CU_ASSERT(heap_ok(&h));
	CU_ASSERT_EQUAL(timer_count(&h), running);

	uint64_t last = 0;
	size_t n = 0;
	ok = true;
	for (uint64_t now = 0; now <= 60002; now += 250) {
		while (timer_count(&h) > 0 && h.v[0].deadline_ms <= now) {
			uint64_t d = h.v[0].deadline_ms;
			struct timer *x = timer_expired(&h, now);

			if (!x || timer_running(x) || d < last)
				ok = false;
			last = d;
			n++;
		}
		if (timer_expired(&h, now) != NULL)
			ok = false;
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(n, running);
	CU_ASSERT_EQUAL(timer_count(&h), 0);
	timer_heap_free(&h);
	free(t);
}

/* How many timers of t[0..n) changed position since snap[] was taken. */
static int moved(const struct timer *t, const uint32_t *snap, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += t[i].pos != snap[i];
	return k;
}

/* O(log n), counted: in a heap of 10,000, starting the nearest deadline moves
 * at most one entry per level (14 levels) plus itself, and stopping any timer
 * moves at most one entry per level plus the last entry that fills its hole.
 * A sorted array or list would move thousands. */
static void test_log_n_moves(void)
{
	struct timer_heap h;
	struct timer *t = calloc(MANY + 1, sizeof *t);
	uint32_t *snap = calloc(MANY + 1, sizeof *snap);
	uint32_t seed = 777;
	int worst_start = 0, worst_stop = 0;

	CU_ASSERT_FATAL(t != NULL && snap != NULL);
	timer_heap_init(&h);
	CU_ASSERT_EQUAL_FATAL(timer_heap_reserve(&h, MANY + 1), 0);
	for (int i = 0; i < MANY; i++)
		timer_start(&h, &t[i], 0, 1000 + rng_next(&seed) % 50000);

	for (int k = 0; k < 50; k++) {
		for (int i = 0; i <= MANY; i++)
			snap[i] = t[i].pos;
		timer_start(&h, &t[MANY], 0, (uint64_t)k);	/* a new root */
		int m = moved(t, snap, MANY + 1);
		worst_start = m > worst_start ? m : worst_start;
		CU_ASSERT_PTR_EQUAL(h.v[0].t, &t[MANY]);

		uint32_t victim = rng_next(&seed) % MANY;
		for (int i = 0; i <= MANY; i++)
			snap[i] = t[i].pos;
		timer_stop(&h, &t[victim]);
		m = moved(t, snap, MANY + 1);
		worst_stop = m > worst_stop ? m : worst_stop;
		timer_start(&h, &t[victim], 0, 1000 + rng_next(&seed) % 50000);
		timer_stop(&h, &t[MANY]);
	}
	CU_ASSERT(heap_ok(&h));
	CU_ASSERT(worst_start >= 2 && worst_start <= 15);
	CU_ASSERT(worst_stop >= 1 && worst_stop <= 16);
	timer_heap_free(&h);
	CU_ASSERT_FALSE(timer_running(&t[0]));	/* freeing forgets the timers */
	free(t);
	free(snap);
}

/* Room is reserved ahead (one per connection, at accept): starting timers
 * within it never moves the array, so nothing allocates on the request path. */
static void test_reserve(void)
{
	struct timer_heap h;
	struct timer t[100];

	memset(t, 0, sizeof t);
	timer_heap_init(&h);
	CU_ASSERT_EQUAL(timer_heap_reserve(&h, 0), 0);
	CU_ASSERT_EQUAL(timer_heap_reserve(&h, 100), 0);
	CU_ASSERT(h.cap >= 100);
	struct timer_entry *v = h.v;
	uint32_t cap = h.cap;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++)
			timer_start(&h, &t[i], (uint64_t)round, (uint64_t)(i * 37 % 100));
		CU_ASSERT_EQUAL(timer_count(&h), 100);
		while (timer_expired(&h, UINT64_MAX) != NULL)
			;
	}
	CU_ASSERT_PTR_EQUAL(h.v, v);
	CU_ASSERT_EQUAL(h.cap, cap);
	CU_ASSERT_EQUAL(timer_heap_reserve(&h, 50), 0);	/* never shrinks */
	CU_ASSERT_EQUAL(h.cap, cap);
	CU_ASSERT_EQUAL(timer_heap_reserve(&h, 1000), 0);
	CU_ASSERT(h.cap >= 1000);
	timer_heap_free(&h);
}

int suite_timerheap(void)
{
	static const struct unit_test tests[] = {
		{ "empty heap: no timeout, nothing expires", test_empty },
		{ "never before ms (truncated clock)", test_never_early },
		{ "deadline order, ties in start order, restart", test_order },
		{ "10,000 timers: random start/stop by handle", test_random_stop_by_handle },
		{ "O(log n) entries moved per start and stop", test_log_n_moves },
		{ "reserved room: starting never allocates", test_reserve },
		{ NULL, NULL },
	};
	return add_suite("timerheap", tests);
}
