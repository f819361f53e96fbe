/* A fixed set of threads taking items from one FIFO queue.  The pool model
 * queues accepted connections on it; the event models' --offload queues work.
 * The queue is unbounded: what it holds is bounded by its producers (accepted
 * connections, one work item per connection). */
#ifndef LB_WORKQ_H
#define LB_WORKQ_H

#include <stddef.h>

struct workq;
typedef void (*workq_fn)(void *item, void *arg);

/* Starts n threads (stack_kb 0: the system's default) running fn(item, arg) for
 * each item pushed.  NULL on failure with errno set. */
struct workq *workq_start(int n, int stack_kb, workq_fn fn, void *arg);

/* Queues an item.  0, or -ENOMEM. */
int workq_push(struct workq *q, void *item);

/* Runs what is queued, then stops and joins the threads and frees q. */
void workq_stop(struct workq *q);

#endif
