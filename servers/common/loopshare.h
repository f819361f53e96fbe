/* What the loops of one event-driven process share: the --max-conns slots (a
 * limit per process, while --reactors spreads connections over several loops)
 * and the queue that hands finished --offload work back to a loop.  The waking
 * itself (eventfd, ev_async, uv_async) is the model's: here is only the
 * bookkeeping, the same in every model. */
#ifndef LB_LOOPSHARE_H
#define LB_LOOPSHARE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* --max-conns across loops.  A loop takes a slot before it accepts; when none is
 * left it stops watching its listener and calls slots_pause; a slot given back
 * tells whether a paused loop should be woken to try again.  (A loop pauses
 * before it re-checks for a slot, so no wake-up is lost.) */
struct slots {
	int max;			/* 0: no limit */
	atomic_int open;
	atomic_int paused;		/* loops waiting for a slot */
};

void slots_init(struct slots *s, int max);

/* True when a slot is now the caller's (always, without a limit). */
bool slots_take(struct slots *s);

/* Gives a slot back.  True when some loop is paused and should be woken. */
bool slots_release(struct slots *s);

/* True when a slot is free now (a paused loop's check after each iteration). */
bool slots_free(struct slots *s);

/* A loop stops (pause) or starts again (resume) watching its listener;
 * `flag` is that loop's own paused flag.  resume returns false when the loop
 * was not paused. */
void slots_pause(struct slots *s, atomic_bool *flag);
bool slots_resume(struct slots *s, atomic_bool *flag);

/* Finished work on its way back to a loop: offload threads push, the loop takes
 * the whole batch at once.  Intrusive: the item lives in the connection. */
struct doneq_item {
	struct doneq_item *next;
};

struct doneq {
	pthread_mutex_t lock;
	struct doneq_item *head, *tail;
};

void doneq_init(struct doneq *q);
void doneq_destroy(struct doneq *q);

/* Appends an item.  True when the queue was empty: the loop needs a wake-up
 * (one per batch, not one per item). */
bool doneq_push(struct doneq *q, struct doneq_item *it);

/* Takes every queued item, oldest first (NULL if none). */
struct doneq_item *doneq_take(struct doneq *q);

#endif
