/* Idle deadlines for an event loop.  Every connection has the same timeout, so a
 * FIFO ordered by last activity is already sorted by deadline: restarting a timer
 * moves its entry to the tail (O(1)), and the head is the next to expire.  (The
 * same observation is libev's "doubly-linked list" timer recipe.)  Times are
 * clock_ms() (clock.h). */
#ifndef LB_IDLE_H
#define LB_IDLE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct idle_entry {
	struct idle_entry *prev, *next;
	uint64_t deadline_ms;
};

struct idle_list {
	struct idle_entry head;		/* sentinel: head.next is the oldest */
	uint64_t timeout_ms;		/* 0 = off: nothing is ever queued */
};

void idle_init(struct idle_list *l, uint64_t timeout_ms);

/* (Re)starts e's timer at now_ms.  An entry starts zeroed (not running).  It
 * expires no earlier than timeout_ms after now_ms (deadline_ms includes 1 ms
 * for the truncation of the millisecond clock). */
void idle_touch(struct idle_list *l, struct idle_entry *e, uint64_t now_ms);

/* Stops e's timer (harmless if not running). */
void idle_remove(struct idle_entry *e);

/* The next two run at every turn of a loop, for each list: inline, so that a
 * turn with nothing due costs a compare, not a call. */

/* The entry whose deadline is ≤ now_ms, oldest first, or NULL.  The entry
 * is taken off the list (its timer is stopped). */
static inline struct idle_entry *idle_expired(struct idle_list *l, uint64_t now_ms)
{
	struct idle_entry *e = l->head.next;

	if (e == &l->head || e->deadline_ms > now_ms)
		return NULL;
	idle_remove(e);
	return e;
}

/* Milliseconds until the next deadline, for epoll_wait: -1 if none. */
static inline int idle_wait_ms(const struct idle_list *l, uint64_t now_ms)
{
	const struct idle_entry *e = l->head.next;

	if (e == &l->head)
		return -1;
	if (e->deadline_ms <= now_ms)
		return 0;
	uint64_t d = e->deadline_ms - now_ms;
	return d > INT_MAX ? INT_MAX : (int)d;
}

#endif
