/* Finished --offload work on its way back to its loop: offload threads push,
 * the loop takes the whole batch at once.  Intrusive: the item lives in the
 * connection, so pushing allocates nothing. */
#ifndef LB_DONEQ_H
#define LB_DONEQ_H

#include <pthread.h>
#include <stdbool.h>

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
