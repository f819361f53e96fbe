/* Timers of different lengths for an event loop: a binary min-heap of deadlines.
 *
 * Why a heap.  The idle timeout (idle.h) gives every connection the same length,
 * so a FIFO in order of last activity is already sorted by deadline.  A wait
 * (/sleep?ms=N) has a length of its own, 0 to 60,000 ms, so the order in which
 * timers start is not the order in which they expire.  A sorted list would cost
 * O(n) per start -- thousands of steps per request at 10,000 waiting
 * connections.  A hashed timing wheel (the Linux kernel's) starts in O(1) but
 * fixes a granularity and must cascade or scan its slots.  A binary heap keeps
 * the nearest deadline at the root, starts and stops a timer in O(log n) (14
 * levels at 10,000 timers) and needs nothing but an array: libuv (heap-inl.h)
 * and libev (a 4-ary variant) keep their timers the same way.  The deadline is
 * stored in the array beside the timer's pointer, as libev does, so the sift
 * loops compare without touching the connections.
 *
 * How it drives the loop.  Before each epoll_wait the loop takes
 * timer_wait_ms() -- the time left until the root's deadline -- as the timeout
 * (the nearest of it and the loop's other deadlines); after the wait it pops
 * every timer whose deadline has passed with timer_expired().  No timerfd and
 * no signal: the kernel's wait is the timer, and a thousand timers cost one
 * wake-up when they fall due together.
 *
 * Stopping by handle.  A connection that closes while its request waits must
 * take its timer out wherever it sits in the heap.  Each timer keeps its
 * position in the array, updated whenever an entry moves, so timer_stop() is
 * O(log n) without a search.
 *
 * Equal deadlines expire in the order their timers were started (a sequence
 * number breaks ties, as libuv's start_id does), so simultaneous waits of the
 * same length are answered first come, first served.
 *
 * Memory.  The array holds one entry (24 bytes) per running timer, and a loop
 * reserves room for one per connection as connections open
 * (timer_heap_reserve), so starting a timer -- on the request path -- never
 * allocates and cannot fail; a connection that cannot get its room is refused
 * at accept, where the model already handles failure.  The array never shrinks:
 * it stays the size of the most connections the loop has held.
 *
 * One heap per loop, used by that loop's thread only.
 */
#ifndef LB_TIMERHEAP_H
#define LB_TIMERHEAP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in whatever waits (a connection).  Zeroed: not running. */
struct timer {
	uint32_t pos;		/* 1 + its index in the heap; 0: not running */
};

struct timer_entry {
	uint64_t deadline_ms;
	uint64_t seq;		/* start order: breaks ties between equal deadlines */
	struct timer *t;
};

struct timer_heap {
	struct timer_entry *v;	/* v[0] is the nearest deadline */
	uint32_t n, cap;
	uint64_t seq;
};

void timer_heap_init(struct timer_heap *h);

/* Frees the array.  Timers still in it are simply forgotten (their owners are
 * being freed too). */
void timer_heap_free(struct timer_heap *h);

/* Makes room for n running timers.  Returns 0, or -ENOMEM (the room is what it
 * was). */
int timer_heap_reserve(struct timer_heap *h, size_t n);

/* Starts t to expire no earlier than ms milliseconds after now_ms (the deadline
 * includes 1 ms for the truncation of the millisecond clock, as idle.h's do).  A
 * running t is restarted.  There must be room (timer_heap_reserve): starting
 * more timers than reserved is a bug, and aborts. */
void timer_start(struct timer_heap *h, struct timer *t, uint64_t now_ms, uint64_t ms);

/* Stops t (harmless if it is not running). */
void timer_stop(struct timer_heap *h, struct timer *t);

static inline bool timer_running(const struct timer *t)
{
	return t->pos != 0;
}

/* Takes the nearest timer out of the heap (timer_expired's). */
struct timer *timer_pop(struct timer_heap *h);

/* The next two run at every turn of a loop: inline, so that a turn with
 * nothing due costs a compare, not a call. */

/* The timer whose deadline is <= now_ms, nearest first, or NULL.  It is taken
 * out of the heap (no longer running). */
static inline struct timer *timer_expired(struct timer_heap *h, uint64_t now_ms)
{
	if (h->n == 0 || h->v[0].deadline_ms > now_ms)
		return NULL;
	return timer_pop(h);
}

/* Milliseconds until the nearest deadline, for epoll_wait: -1 if none. */
static inline int timer_wait_ms(const struct timer_heap *h, uint64_t now_ms)
{
	if (h->n == 0)
		return -1;
	if (h->v[0].deadline_ms <= now_ms)
		return 0;
	uint64_t d = h->v[0].deadline_ms - now_ms;
	return d > INT_MAX ? INT_MAX : (int)d;
}

static inline size_t timer_count(const struct timer_heap *h)
{
	return h->n;
}

#endif
