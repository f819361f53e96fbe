/* The offload done-queue (see doneq.h). */
#include "doneq.h"

void doneq_init(struct doneq *q)
{
	pthread_mutex_init(&q->lock, NULL);
	q->head = q->tail = NULL;
}

void doneq_destroy(struct doneq *q)
{
	pthread_mutex_destroy(&q->lock);
}

bool doneq_push(struct doneq *q, struct doneq_item *it)
{
	bool was_empty;

	it->next = NULL;
	pthread_mutex_lock(&q->lock);
	was_empty = q->head == NULL;
	if (was_empty)
		q->head = it;
	else
		q->tail->next = it;
	q->tail = it;
	pthread_mutex_unlock(&q->lock);
	return was_empty;
}

struct doneq_item *doneq_take(struct doneq *q)
{
	struct doneq_item *all;

	pthread_mutex_lock(&q->lock);
	all = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	return all;
}
