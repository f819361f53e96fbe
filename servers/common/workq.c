/* A fixed set of threads taking items from one FIFO (see workq.h).  The FIFO
 * is a growable ring of pointers, so pushing allocates only when it grows. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "workq.h"

struct workq {
	pthread_mutex_t lock;
	pthread_cond_t more;
	void **ring;
	size_t cap, head, count;
	bool stopping;
	workq_fn fn;
	void *arg;
	int nthreads;
	pthread_t threads[];
};

static void *worker(void *p)
{
	struct workq *q = p;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->count == 0 && !q->stopping)
			pthread_cond_wait(&q->more, &q->lock);
		if (q->count == 0)
			break;	/* stopping, and nothing left to run */
		void *item = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
		pthread_mutex_unlock(&q->lock);
		q->fn(item, q->arg);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

static void stop_and_free(struct workq *q, int started)
{
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->more);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < started; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
}

struct workq *workq_start(int n, int stack_kb, workq_fn fn, void *arg)
{
	pthread_attr_t attr;
	struct workq *q;
	int started = 0, r = 0;

	if (n <= 0 || !fn) {
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof *q + (size_t)n * sizeof(pthread_t));
	if (!q)
		return NULL;
	q->cap = 64;
	q->ring = malloc(q->cap * sizeof *q->ring);
	if (!q->ring) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->more, NULL);
	q->fn = fn;
	q->arg = arg;
	q->nthreads = n;

	pthread_attr_init(&attr);
	if (stack_kb > 0)
		r = pthread_attr_setstacksize(&attr, (size_t)stack_kb * 1024);
	for (; r == 0 && started < n; started++)
		if ((r = pthread_create(&q->threads[started], &attr, worker, q)) != 0)
			break;
	pthread_attr_destroy(&attr);
	if (r != 0) {
		stop_and_free(q, started);
		errno = r;
		return NULL;
	}
	return q;
}

int workq_push(struct workq *q, void *item)
{
	pthread_mutex_lock(&q->lock);
	if (q->count == q->cap) {
		void **ring = malloc(q->cap * 2 * sizeof *ring);
		if (!ring) {
			pthread_mutex_unlock(&q->lock);
			return -ENOMEM;
		}
		for (size_t i = 0; i < q->count; i++)
			ring[i] = q->ring[(q->head + i) % q->cap];
		free(q->ring);
		q->ring = ring;
		q->head = 0;
		q->cap *= 2;
	}
	q->ring[(q->head + q->count) % q->cap] = item;
	q->count++;
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void workq_stop(struct workq *q)
{
	stop_and_free(q, q->nthreads);
}
