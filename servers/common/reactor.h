/* What every event model does the same way, so that a model file holds only how
 * it waits (the role of redis's ae.c beside its ae_epoll.c).
 *
 * A model's struct loop embeds a struct reactor; --reactors N makes N loops,
 * each run by its own thread on its own SO_REUSEPORT listener.  The model hands
 * over five functions (struct reactor_ops) and gets back:
 *
 *   - reactors_run: listeners opened, loops initialised, started, joined;
 *   - the --max-conns slots, counted across loops: reactor_accept takes one
 *     before each accept and pauses the listener when none is left; a slot
 *     given back anywhere wakes the paused loops, which call reactor_woken;
 *   - EMFILE: reactor_accept stops the listener when net_accept could shed
 *     nothing, and the model calls reactor_retry after NET_ACCEPT_BACKOFF_MS;
 *   - --offload: reactor_offload runs a connection's work on a worker and
 *     hands it back through the loop's done queue and a wake-up
 *     (reactor_woken);
 *   - the connections of a loop, for the counts and for the drain's walk;
 *   - reactor_advance, the driver of session.h's loop over the model's own
 *     steps (struct reactor_steps: work, write, linger, watch);
 *   - reactor_discard, the read that drops what a lingering connection sends;
 *   - for a loop that keeps its timers itself -- idle lists (idle.h), and a
 *     heap of the waits' deadlines (timerheap.h) -- reactor_expire and
 *     reactor_wait_ms;
 *   - container_of.
 *
 * Everything here runs on the loop's own thread, except ops->wake and the
 * slot counts, which are safe from any thread. */
#ifndef LB_REACTOR_H
#define LB_REACTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "doneq.h"
#include "idle.h"
#include "session.h"
#include "timerheap.h"
#include "work.h"

struct server;
struct reactor;

/* The struct that holds `member` at p. */
#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

/* What the model provides.  Each function gets the struct reactor inside one
 * of its loops (container_of gives the loop back). */
struct reactor_ops {
	size_t size;				/* sizeof the model's struct loop */
	size_t offset;				/* offsetof(struct loop, <its struct reactor>) */
	bool offload;				/* --offload runs on reactor_offload's pool
						 * (false: the model has a pool of its own) */
	void (*init)(struct reactor *r);	/* main thread, r->lfd open; may die() */
	void (*run)(struct reactor *r);		/* the loop, until reactor_finished */
	void (*wake)(struct reactor *r);	/* from any thread: make the loop run soon
						 * and call reactor_woken (and take r->done) */
	void (*listen)(struct reactor *r, bool on);	/* watch the listener, or stop */
	void (*fini)(struct reactor *r);	/* once every loop has returned; may be NULL */
};

/* Each model's own: named here only to type the steps of reactor_advance. */
struct loop;
struct conn;
struct session;

/* How a model does the four steps of session.h's loop for one connection. */
struct reactor_steps {
	/* Runs w, on the loop or on a worker (reactor_offload). */
	void (*work)(struct loop *l, struct conn *c, struct work *w);
	/* Writes: 1 all out, 0 output pending (wait until writable), -1 closed. */
	int (*write)(struct loop *l, struct conn *c);
	/* session_done: the lingering close. */
	void (*linger)(struct loop *l, struct conn *c);
	/* Otherwise: wait for what the connection needs now. */
	void (*watch)(struct loop *l, struct conn *c);
};

/* The driver every event model runs after any event of a connection: run the
 * work the session asks for, write what it produced, then close or wait.
 * Writing may let the session parse a pipelined request that needs work of
 * its own, hence the loop.  (session_work hands each item out once, so work
 * already at a worker is not taken again.)  Inline, so the steps of a model's
 * const struct are direct calls. */
static inline void reactor_advance(const struct reactor_steps *step, struct loop *l,
				   struct conn *c, struct session *s)
{
	struct work *w = session_work(s);
	int r;

	for (;;) {
		if (w)
			step->work(l, c, w);
		if ((r = step->write(l, c)) < 0)
			return;
		if (r == 0 || !(w = session_work(s)))
			break;
	}
	if (session_done(s))
		step->linger(l, c);
	else
		step->watch(l, c);
}

/* A connection's place in its loop's list: the model's struct conn holds one. */
struct reactor_conn {
	struct reactor_conn *prev, *next;
};

/* A connection's --offload job: its struct conn holds one. */
struct reactor_job {
	struct work *work;
	struct reactor *r;
	struct doneq_item done;		/* in r->done once the work has run */
};

struct reactor {
	const struct reactor_ops *ops;
	int lfd;			/* this loop's listener; -1 once closed, or
					 * once the model has handed it to a library */
	atomic_bool paused;		/* at --max-conns: waiting for a slot */
	bool draining;			/* SIGINT/SIGTERM: accepting nothing */
	int nconns;			/* open connections */
	int inflight;			/* connections a worker holds (--offload) */
	struct reactor_conn conns;	/* the open connections (list head) */
	struct doneq done;		/* --offload work back from the workers */
	pthread_t thread;
	char discard[16384];		/* what lingering connections still send */
};

/* Opens one listener per --reactors loop (server_listen), allocates the loops
 * (zeroed), calls ops->init on each, starts the --offload pool if ops->offload,
 * runs loop 0 on the calling thread and the others on threads of their own,
 * and returns once every loop has returned and ops->fini has run on each. */
void reactors_run(struct server *srv, const struct reactor_ops *ops);

/* The next client of r's listener, its --max-conns slot taken: a descriptor,
 * or -EAGAIN: nothing to take now (also at --max-conns: the listener is then
 * paused until reactor_woken finds a slot); -EBUSY: out of descriptors and
 * nothing shed (net.h), the listener is stopped: call reactor_retry after
 * NET_ACCEPT_BACKOFF_MS.  Errors are counted. */
int reactor_accept(struct reactor *r);

/* The back-off after -EBUSY is over: watch the listener again. */
void reactor_retry(struct reactor *r);

/* For a model that takes clients its own way (libuv): take a slot before
 * accepting; false: none is left, the listener is paused (as above). */
bool reactor_slot_take(struct reactor *r);

/* Gives back the slot of a client that never became a connection. */
void reactor_slot_release(struct reactor *r);

/* The loop was woken (ops->wake): calls done(job) for each job whose work has
 * run (oldest first), then resumes the listener if it was paused and a slot
 * is free now.  (done is NULL for a model whose work comes back its own way.) */
void reactor_woken(struct reactor *r, void (*done)(struct reactor_job *job));

/* A connection opened (counted, listed) and closed (unlisted, its slot given
 * back).  Closing a connection does not free it: the model does. */
void reactor_conn_opened(struct reactor *r, struct reactor_conn *c);
void reactor_conn_closed(struct reactor *r, struct reactor_conn *c);

/* --offload: runs w on a worker (true; the job comes back in r->done, and
 * ops->wake is called once per batch), or false: no pool, or no memory --
 * run it on the loop. */
bool reactor_offload(struct reactor *r, struct reactor_job *job, struct work *w);

/* SIGINT/SIGTERM, after the model has stopped watching its listener and the
 * shutdown descriptor: closes the listener, stops waiting for a slot, and
 * calls drain(c) for every open connection (it may close c). */
void reactor_drain(struct reactor *r, void (*drain)(struct reactor_conn *c));

/* True once the loop may end: draining, no connection open, none at a worker. */
bool reactor_finished(const struct reactor *r);

/* Reads from a lingering connection into r->discard.  True when it is over
 * (the peer's FIN, or an error): close it. */
bool reactor_discard(struct reactor *r, int fd);

/* A loop's timers on idle lists: closes, through close(e), each connection
 * whose idle timer has expired (counted in timeouts), then each whose
 * lingering close is over (NET_LINGER_MS). */
void reactor_expire(struct idle_list *idle, struct idle_list *linger, uint64_t now_ms,
		    void (*close)(struct idle_entry *e));

/* How long such a loop may wait: milliseconds from now_ms to the nearest of
 * the two lists' deadlines, the waits' heap's (timerheap.h; NULL: none) and
 * retry_ms (0: none), or -1 when there is none. */
int reactor_wait_ms(const struct idle_list *idle, const struct idle_list *linger,
		    const struct timer_heap *waits, uint64_t retry_ms, uint64_t now_ms);

#endif
