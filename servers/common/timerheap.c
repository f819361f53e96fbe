/* Timers of different lengths: a binary min-heap of deadlines (see timerheap.h).
 *
 * The array is the usual implicit tree: the children of entry i are 2i+1 and
 * 2i+2, its parent (i-1)/2, and no entry is earlier than its parent.  Every
 * move of an entry goes through put(), which also tells the timer where it now
 * is; that is what makes stopping by handle O(log n). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "timerheap.h"

void timer_heap_init(struct timer_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->seq = 0;
}

void timer_heap_free(struct timer_heap *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		h->v[i].t->pos = 0;
	free(h->v);
	timer_heap_init(h);
}

static bool earlier(const struct timer_entry *a, const struct timer_entry *b)
{
	return a->deadline_ms < b->deadline_ms ||
	       (a->deadline_ms == b->deadline_ms && a->seq < b->seq);
}

static void put(struct timer_heap *h, uint32_t i, struct timer_entry e)
{
	h->v[i] = e;
	e.t->pos = i + 1;
}

/* Moves e up from the hole at i until its parent is earlier; returns where it
 * landed. */
static uint32_t sift_up(struct timer_heap *h, uint32_t i, struct timer_entry e)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!earlier(&e, &h->v[parent]))
			break;
		put(h, i, h->v[parent]);
		i = parent;
	}
	put(h, i, e);
	return i;
}

/* Moves e down from the hole at i until no child is earlier. */
static void sift_down(struct timer_heap *h, uint32_t i, struct timer_entry e)
{
	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && earlier(&h->v[child + 1], &h->v[child]))
			child++;
		if (!earlier(&h->v[child], &e))
			break;
		put(h, i, h->v[child]);
		i = child;
	}
	put(h, i, e);
}

/* Takes entry i out: the last entry fills the hole, then moves up or down to
 * where it belongs. */
static void remove_at(struct timer_heap *h, uint32_t i)
{
	struct timer_entry last = h->v[--h->n];

	h->v[i].t->pos = 0;
	if (i < h->n && sift_up(h, i, last) == i)
		sift_down(h, i, last);
}

/* Grows by doubling, so reserving one more at each accept costs O(1)
 * amortised. */
int timer_heap_reserve(struct timer_heap *h, size_t n)
{
	size_t cap = h->cap ? h->cap : 64;
	struct timer_entry *v;

	if (n <= h->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	v = realloc(h->v, cap * sizeof *v);
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = (uint32_t)cap;
	return 0;
}

void timer_start(struct timer_heap *h, struct timer *t, uint64_t now_ms, uint64_t ms)
{
	timer_stop(h, t);
	if (h->n == h->cap) {
		fprintf(stderr, "timer_start: more timers than reserved (%u)\n", h->cap);
		abort();
	}
	/* The +1: now_ms is truncated, so a timer started at x.999 ms would
	 * otherwise expire up to 1 ms early. */
	struct timer_entry e = { .deadline_ms = now_ms + ms + 1, .seq = h->seq++, .t = t };

	sift_up(h, h->n++, e);
}

void timer_stop(struct timer_heap *h, struct timer *t)
{
	if (t->pos)
		remove_at(h, t->pos - 1);
}

/* A turn with nothing due costs timer_expired's first test alone (timerheap.h). */
struct timer *timer_pop(struct timer_heap *h)
{
	struct timer *t = h->v[0].t;

	remove_at(h, 0);
	return t;
}
