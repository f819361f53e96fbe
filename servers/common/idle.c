/* Idle deadlines: a FIFO ordered by last activity (see idle.h). */
#include <stddef.h>

#include "idle.h"

void idle_init(struct idle_list *l, uint64_t timeout_ms)
{
	l->head.prev = l->head.next = &l->head;
	l->head.deadline_ms = 0;
	l->timeout_ms = timeout_ms;
}

void idle_remove(struct idle_entry *e)
{
	if (!e->next)
		return;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

/* The +1: now_ms is truncated to the millisecond, so without it a timer
 * started at x.999 ms could fire after T - 1 ms; with it, never before T. */
void idle_touch(struct idle_list *l, struct idle_entry *e, uint64_t now_ms)
{
	if (l->timeout_ms == 0)
		return;
	idle_remove(e);
	e->deadline_ms = now_ms + l->timeout_ms + 1;
	e->prev = l->head.prev;
	e->next = &l->head;
	l->head.prev->next = e;
	l->head.prev = e;
}
