/* A load thread's event loop (loop.c). */
#ifndef LOADS_LOOP_H
#define LOADS_LOOP_H

/* The thread's body, for pthread_create with a struct worker (worker_init'ed):
 * set-up, the two barriers with main, the load, the drain.  Returns NULL. */
void *loop_thread(void *worker);

#endif
