/* The per-thread event loop: phases, the open-loop schedule, timers, and
 * dispatching epoll events to connections.
 *
 * Waits are epoll_pwait2() with a nanosecond timeout to the next deadline (a
 * request falling due, the window's edge, a reconnect, the timeout scan) and a
 * timer slack of 1 ns, so the loop wakes when it should rather than up to 50 us
 * later (the default slack) or on a millisecond grid (epoll_wait).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>

#include "conn.h"
#include "loop.h"
#include "request.h"
#include "util.h"

#define MAX_EVENTS 256

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t local_due_before(const struct worker *w, uint64_t t)
{
	return t > w->sched.t0 ? sched_count(&w->sched, t - 1) : 0;
}

static void enter_window(struct worker *w, uint64_t now)
{
	/* Whether the generator offered what it was asked: a connection still waiting
	 * behind the connect ramp was never offered to the server. */
	for (uint32_t i = 0; i < w->nconns; i++)
		w->at_window[w->conns[i].state]++;
	w->phase = PH_WINDOW;
	w->t_win_seen = now;
	w->cpu_ns = thread_cpu_ns();
}

static void close_window(struct worker *w, uint64_t now)
{
	w->t_send_end = now;
	w->cpu_ns = thread_cpu_ns() - w->cpu_ns;
	w->busy = now > w->t_win_seen ? (double)w->cpu_ns / (double)(now - w->t_win_seen) : 0;
}

/* No request starts from here on.  Connections with nothing in flight, and those
 * not open, are closed at once; the rest close as their last answer arrives. */
static void enter_drain(struct worker *w, uint64_t now)
{
	close_window(w, now);
	w->phase = PH_DRAIN;
	w->drain_deadline = now + w->timeout_ns;
	if (w->run->rate_mrps) {
		uint64_t due = sched_count(&w->sched, now);
		w->m_due = due < w->m_limit ? due : w->m_limit;
	}
	if (w->has_quota)
		atomic_store(&w->quota_done_at, now);
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CONN_CLOSED && (c->state != CONN_OPEN || c->head == c->tail))
			conn_retire(c);
	}
}

static void enter_end(struct worker *w, uint64_t now)
{
	if (w->phase == PH_WINDOW)
		close_window(w, now);
	w->phase = PH_END;
	for (uint32_t i = 0; i < w->nconns; i++)
		if (w->conns[i].state != CONN_CLOSED)
			conn_retire(&w->conns[i]);
}

static void release(struct worker *w, uint64_t now);

static void phase_update(struct worker *w, uint64_t now)
{
	uint64_t t_end = atomic_load(&w->run->t_end);

	if (t_end != w->t_end) {	/* -n closed loop, a signal, or the stall guard */
		w->t_end = t_end;
		if (w->run->rate_mrps) {
			uint64_t lim = local_due_before(w, t_end);
			if (lim < w->m_limit)
				w->m_limit = lim;
		}
	}
	if (atomic_load_explicit(&w->run->abort, memory_order_relaxed)) {
		enter_end(w, now);
		return;
	}
	if (w->phase == PH_WARMUP && now >= w->run->t_win)
		enter_window(w, now);
	/* Requests that fell due before the window's end are handed out (late, if
	 * this turn woke after it) before the drain begins: a wake-up just past the
	 * end must not turn them into `unsent`.  release() stops at m_limit, the
	 * last request due before the end. */
	if (w->phase == PH_WINDOW && now >= w->t_end && w->run->rate_mrps)
		release(w, now);
	if (w->phase == PH_WINDOW &&
	    (now >= w->t_end || (w->has_quota && w->window_started >= w->quota)))
		enter_drain(w, now);
	if (w->phase == PH_DRAIN && (!w->outstanding || now >= w->drain_deadline))
		enter_end(w, now);
}

/* Open loop: hand the requests that fell due since the last turn to their
 * connections.  Consecutive local requests go to consecutive connections, so at
 * most one pass over the connections is needed however far behind we are. */
static void release(struct worker *w, uint64_t now)
{
	uint64_t due = sched_count(&w->sched, now), from;

	if (due > w->m_limit)
		due = w->m_limit;
	if (due <= w->m_due)
		return;
	from = w->m_due;
	w->m_due = due;
	if (due - from > w->nconns)
		from = due - w->nconns;
	for (uint64_t m = from; m < due; m++) {
		struct conn *c = &w->conns[m % w->nconns];
		if (c->state == CONN_OPEN)
			conn_fill(c, now);
	}
}

static void retry_backoff(struct worker *w, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	struct conn *c, *nx;

	for (c = w->backoff.head; c; c = nx) {
		nx = c->next;
		if (c->retry_at <= now) {
			conn_list_remove(&w->backoff, c);
			c->state = CONN_CLOSED;
			conn_open(c, now);
		} else if (c->retry_at < next) {
			next = c->retry_at;
		}
	}
	w->next_retry = next;
}

/* Timeouts are found by a scan every tick_ns (timeout/20, 1..100 ms): a request
 * times out between timeout and timeout + tick after it was sent. */
static void tick(struct worker *w, uint64_t now)
{
	w->next_tick = now + w->tick_ns;
	if (w->phase >= PH_DRAIN)
		return;	/* the drain abandons; it does not time out */
	for (uint32_t i = 0; i < w->nconns; i++)
		conn_check_timeout(&w->conns[i], now);
}

static uint64_t next_deadline(const struct worker *w, uint64_t setup_deadline)
{
	uint64_t dl = w->next_tick;

#define AT_MOST(t) do { if ((t) < dl) dl = (t); } while (0)
	if (w->backoff.head)
		AT_MOST(w->next_retry);
	switch (w->phase) {
	case PH_SETUP:
		AT_MOST(setup_deadline);
		break;
	case PH_WARMUP:
		AT_MOST(w->run->t_win);
		AT_MOST(w->t_end);
		break;
	case PH_WINDOW:
		AT_MOST(w->t_end);
		break;
	case PH_DRAIN:
		AT_MOST(w->drain_deadline);
		break;
	case PH_END:
		break;
	}
	if (w->run->rate_mrps && may_start(w) && w->m_due < w->m_limit)
		AT_MOST(sched_due(&w->sched, w->m_due));
#undef AT_MOST
	return dl;
}

/* One turn: housekeeping, wait, dispatch.
 *
 * Loop lag, recorded per turn in the window: the time from the wake-up to the next
 * wait (the turn's work), plus how late the wake-up was for its deadline.  It
 * bounds how long this loop itself delayed an event it handled in that turn. */
static void turn(struct worker *w, uint64_t setup_deadline)
{
	struct epoll_event ev[MAX_EVENTS];
	struct timespec ts;
	uint64_t now = mono_ns(), dl, t_pre;
	int n;

	if (w->phase != PH_SETUP)
		phase_update(w, now);
	if (w->phase == PH_END)
		return;
	if (w->run->rate_mrps && may_start(w))
		release(w, now);
	while (w->connecting < w->max_connecting && w->waitq.head) {
		struct conn *c = conn_list_pop(&w->waitq);
		c->state = CONN_CLOSED;
		conn_connect(c, now);
	}
	if (w->backoff.head && now >= w->next_retry)
		retry_backoff(w, now);
	if (now >= w->next_tick)
		tick(w, now);
	dl = next_deadline(w, setup_deadline);
	t_pre = mono_ns();
	if (w->phase == PH_WINDOW && w->t_wake)
		hist_record(w->lag, ns_to_us(t_pre - w->t_wake + w->wake_late));
	if (dl > t_pre) {
		ts.tv_sec = (time_t)((dl - t_pre) / NS_PER_S);
		ts.tv_nsec = (long)((dl - t_pre) % NS_PER_S);
	} else {
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
	}
	n = epoll_pwait2(w->ep, ev, MAX_EVENTS, &ts, NULL);
	w->t_wake = mono_ns();
	w->wake_late = w->t_wake > dl ? w->t_wake - dl : 0;
	atomic_store_explicit(&w->progress, w->cnt[ACC_WINDOW].requests +
			      w->cnt[ACC_WINDOW].errors[ERR_STATUS] +
			      w->cnt[ACC_WINDOW].errors[ERR_UNAVAILABLE], memory_order_relaxed);
	if (n < 0) {
		if (errno == EINTR)
			return;
		die("epoll_pwait2: %s", strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		uint64_t key = ev[i].data.u64;
		struct conn *c = &w->conns[(uint32_t)key];

		if (c->gen == (uint32_t)(key >> 32))
			conn_event(c, ev[i].events);
	}
}

void *loop_thread(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	uint64_t now, setup_deadline;

	/* Timer slack is per thread: 1 ns so deadlines are kept to the microsecond. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	w->phase = PH_SETUP;
	w->t_end = UINT64_MAX;
	now = mono_ns();
	setup_deadline = now + w->timeout_ns;
	w->next_tick = now + w->tick_ns;
	w->setup_pending = w->nconns;
	for (uint32_t i = 0; i < w->nconns; i++)
		conn_open(&w->conns[i], now);
	/* Connect everything before the clock starts, so -d measures load, not set-up;
	 * give up waiting after one timeout (a server that never accepts). */
	while (w->setup_pending && !atomic_load(&run->abort) && mono_ns() < setup_deadline)
		turn(w, setup_deadline);

	pthread_barrier_wait(&run->barrier);	/* every thread has connected */
	pthread_barrier_wait(&run->barrier);	/* main has set the phase times */

	w->sched.t0 = run->t_start;
	w->t_end = atomic_load(&run->t_end);
	if (run->rate_mrps) {
		w->m_warm = local_due_before(w, run->t_win);
		w->m_limit = w->t_end == UINT64_MAX ? UINT64_MAX : local_due_before(w, w->t_end);
	}
	w->phase = PH_WARMUP;
	w->t_wake = 0;	/* the barrier is not loop lag */
	now = mono_ns();
	phase_update(w, now);
	for (uint32_t i = 0; i < w->nconns; i++)
		if (w->conns[i].state == CONN_OPEN)
			conn_fill(&w->conns[i], now);
	while (w->phase != PH_END)
		turn(w, 0);

	if (w->tl) {
		if (w->t_send_end > run->t_win)
			timeline_errors(w->tl, (w->t_send_end - run->t_win - 1) / NS_PER_S, 0);
		if (timeline_finish(w->tl))
			w->timeline_oom = 1;
	}
	atomic_fetch_add(&run->finished, 1);
	return NULL;
}
