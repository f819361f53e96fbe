/* What every event model does the same way (see reactor.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "reactor.h"
#include "server.h"
#include "slots.h"
#include "workq.h"

/* One process, one server: the loops, the slots and the pool they share. */
static struct server *srv;
static struct reactor **loops;
static int nloops;
static struct slots slots;
static struct workq *pool;		/* NULL: work runs on the loop */

static void *loop_thread(void *arg)
{
	struct reactor *r = arg;

	r->ops->run(r);
	return NULL;
}

/* Runs on a worker: the loop touches neither the job nor the work meanwhile. */
static void job_run(void *item, void *arg)
{
	struct reactor_job *job = item;
	struct reactor *r = job->r;

	(void)arg;
	work_run(job->work);
	if (doneq_push(&r->done, &job->done))
		r->ops->wake(r);
}

void reactors_run(struct server *s, const struct reactor_ops *ops)
{
	int *lfds;
	char *mem;

	srv = s;
	nloops = srv->opts.reactors;
	slots_init(&slots, srv->opts.max_conns);
	lfds = calloc((size_t)nloops, sizeof *lfds);
	loops = calloc((size_t)nloops, sizeof *loops);
	mem = calloc((size_t)nloops, ops->size);
	if (!lfds || !loops || !mem)
		die("out of memory");
	server_listen(srv, lfds, nloops, true);
	if (ops->offload && srv->opts.offload > 0 &&
	    !(pool = workq_start(srv->opts.offload, 0, job_run, NULL)))
		die("starting %d offload threads: %s", srv->opts.offload, strerror(errno));

	for (int i = 0; i < nloops; i++) {
		struct reactor *r = (struct reactor *)(void *)(mem + (size_t)i * ops->size + ops->offset);

		loops[i] = r;
		r->ops = ops;
		r->lfd = lfds[i];
		r->conns.prev = r->conns.next = &r->conns;
		doneq_init(&r->done);
		ops->init(r);
	}
	free(lfds);
	for (int i = 1; i < nloops; i++)
		if (pthread_create(&loops[i]->thread, NULL, loop_thread, loops[i]) != 0)
			die("starting reactor %d: %s", i, strerror(errno));

	ops->run(loops[0]);
	for (int i = 1; i < nloops; i++)
		pthread_join(loops[i]->thread, NULL);
	/* Only now: a worker or another loop may wake any loop until all are
	 * done, so no loop's wake-up may go away sooner. */
	if (pool)
		workq_stop(pool);
	for (int i = 0; i < nloops; i++) {
		if (ops->fini)
			ops->fini(loops[i]);
		doneq_destroy(&loops[i]->done);
	}
	free(mem);
	free(loops);
}

/* A loop with no slot left stops watching its listener.  A slot freed by
 * another loop between our slots_take() and setting `paused` found no paused
 * loop to wake: look again once `paused` is visible. */
static void pause_listener(struct reactor *r)
{
	r->ops->listen(r, false);
	slots_pause(&slots, &r->paused);
	if (slots_free(&slots))
		r->ops->wake(r);
}

bool reactor_slot_take(struct reactor *r)
{
	if (slots_take(&slots))
		return true;
	pause_listener(r);
	return false;
}

/* A freed slot wakes every paused loop, this one too: reactor_woken takes it
 * from there. */
void reactor_slot_release(struct reactor *r)
{
	(void)r;
	if (!slots_release(&slots))
		return;
	for (int i = 0; i < nloops; i++)
		if (atomic_load(&loops[i]->paused))
			loops[i]->ops->wake(loops[i]);
}

void reactor_woken(struct reactor *r, void (*done)(struct reactor_job *job))
{
	struct doneq_item *it, *next;

	for (it = doneq_take(&r->done); it; it = next) {
		next = it->next;	/* done() may free the job */
		r->inflight--;
		done(container_of(it, struct reactor_job, done));
	}
	if (atomic_load(&r->paused) && slots_free(&slots) && slots_resume(&slots, &r->paused))
		r->ops->listen(r, true);
}

int reactor_accept(struct reactor *r)
{
	if (!reactor_slot_take(r))
		return -EAGAIN;
	int fd = net_accept(r->lfd, true);
	if (fd >= 0)
		return fd;
	reactor_slot_release(r);
	if (fd != -EAGAIN)	/* -EMFILE: a client shed; -EBUSY: none (net.h) */
		STAT_ADD(&srv->stats, errors, 1);
	if (fd == -EBUSY) {
		r->ops->listen(r, false);
		return -EBUSY;
	}
	return -EAGAIN;
}

void reactor_retry(struct reactor *r)
{
	if (!r->draining)
		r->ops->listen(r, true);
}

void reactor_conn_opened(struct reactor *r, struct reactor_conn *c)
{
	c->next = r->conns.next;
	c->prev = &r->conns;
	r->conns.next->prev = c;
	r->conns.next = c;
	r->nconns++;
	stats_conn_opened(&srv->stats);
}

void reactor_conn_closed(struct reactor *r, struct reactor_conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	c->prev = c->next = NULL;
	r->nconns--;
	stats_conn_closed(&srv->stats);
	reactor_slot_release(r);
}

bool reactor_offload(struct reactor *r, struct reactor_job *job, struct work *w)
{
	if (!pool)
		return false;
	job->work = w;
	job->r = r;
	if (workq_push(pool, job) < 0)
		return false;
	r->inflight++;
	return true;
}

void reactor_drain(struct reactor *r, void (*drain)(struct reactor_conn *c))
{
	struct reactor_conn *c, *next;

	r->draining = true;
	slots_resume(&slots, &r->paused);	/* stop waiting for a slot */
	if (r->lfd >= 0)
		close(r->lfd);
	r->lfd = -1;
	for (c = r->conns.next; c != &r->conns; c = next) {
		next = c->next;
		drain(c);
	}
}

bool reactor_finished(const struct reactor *r)
{
	return r->draining && r->nconns == 0 && r->inflight == 0;
}

bool reactor_discard(struct reactor *r, int fd)
{
	ssize_t n;

	do
		n = read(fd, r->discard, sizeof r->discard);
	while (n < 0 && errno == EINTR);
	return n == 0 || (n < 0 && errno != EAGAIN);
}

void reactor_expire(struct idle_list *idle, struct idle_list *linger, uint64_t now_ms,
		    void (*close)(struct idle_entry *e))
{
	struct idle_entry *e;

	while ((e = idle_expired(idle, now_ms)) != NULL) {
		STAT_ADD(&srv->stats, timeouts, 1);
		close(e);
	}
	while ((e = idle_expired(linger, now_ms)) != NULL)
		close(e);
}

static int sooner(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int reactor_wait_ms(const struct idle_list *idle, const struct idle_list *linger,
		    const struct timer_heap *waits, uint64_t retry_ms, uint64_t now_ms)
{
	int t = sooner(idle_wait_ms(idle, now_ms), idle_wait_ms(linger, now_ms));

	if (waits)
		t = sooner(t, timer_wait_ms(waits, now_ms));

	if (retry_ms)
		t = sooner(t, retry_ms > now_ms ? (int)(retry_ms - now_ms) : 0);
	return t;
}
