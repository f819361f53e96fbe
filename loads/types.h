/* The load generator's state, shared by its modules: the run (read-only once the
 * load starts), each load thread's worker, its connections and the requests in
 * flight on them.  Only types live here; the functions that work on them are
 * declared by the module that defines them: conn.h, request.h, worker.h, loop.h.
 */
#ifndef LOADS_TYPES_H
#define LOADS_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "echo.h"
#include "hist.h"
#include "http_resp.h"
#include "opts.h"
#include "sched.h"
#include "timeline.h"

/* ERR_UNAVAILABLE: a 503 (the server is up, what it needs is not -- /db without a
 * database); ERR_STATUS: any other answer that is not 2xx. */
enum err_kind {
	ERR_CONNECT, ERR_READ, ERR_WRITE, ERR_TIMEOUT, ERR_STATUS, ERR_ECHO, ERR_UNAVAILABLE,
	ERR_KINDS
};

enum phase { PH_SETUP, PH_WARMUP, PH_WINDOW, PH_DRAIN, PH_END };

/* Accounting buckets.  A request belongs to the warm-up or to the window by when it
 * fell due (open loop) or was started (closed loop), wherever its response lands;
 * events of a connection (connect errors, bytes) by when they happen, the set-up
 * counting as warm-up. */
enum { ACC_WARMUP, ACC_WINDOW, ACC_N };

struct counts {
	uint64_t requests;		/* answered: 2xx (http) or every byte back and equal (echo) */
	uint64_t errors[ERR_KINDS];
	uint64_t started;		/* handed to a connection */
	uint64_t abandoned;		/* still unanswered when the drain ended */
	uint64_t late;			/* open loop: sent >= 1 ms after due */
	uint64_t bytes_in, bytes_out;
	uint64_t reconnects;		/* orderly closes by the server, or --close */
	uint64_t connect_local;		/* connects that failed on this side: out of
					 * descriptors or local ports (also in errors) */
};

/* Shared by all threads. */
struct run {
	const struct lg_opts *o;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int spread_src;			/* bind sources over 127.0.0.x (many connections) */
	const char **req;		/* per path: the request's bytes (http) */
	uint32_t *req_len;
	uint32_t mix_deck;		/* the sum of the paths' weights (loads/request.c) */
	struct echo_pattern echo;
	uint64_t rate_mrps;		/* open loop; 0 = closed loop */
	unsigned max_connecting;	/* per thread: connects in flight at once */
	pthread_barrier_t barrier;
	uint64_t t_start;		/* load begins (warm-up, schedule origin) */
	double real_minus_mono_s;	/* CLOCK_REALTIME - CLOCK_MONOTONIC at t_start */
	uint64_t t_win;			/* window begins */
	_Atomic uint64_t t_end;		/* window ends; UINT64_MAX while unknown */
	_Atomic int abort;		/* second signal: stop now */
	_Atomic unsigned finished;	/* threads done */
	_Atomic int warned_nofile;
};

/* One request in flight on a connection (a ring, oldest first). */
struct req {
	uint64_t due;			/* fell due (open loop) / was started (closed loop) */
	uint64_t sent;			/* handed to the connection's output */
	const char *bytes;		/* immutable: shared request bytes or echo pattern */
	uint32_t len;
	uint16_t path;
	uint8_t acc;
};

enum conn_state {
	CONN_CLOSED,		/* not open and not coming back (drain, end) */
	CONN_WAIT,		/* queued behind the connect ramp */
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_BACKOFF,		/* failed; reconnects at retry_at */
	CONN_NSTATES
};

struct conn {
	int fd;
	uint8_t state;
	uint8_t out_armed;	/* EPOLLOUT registered: only while output is stuck */
	uint8_t tried;		/* the first connect attempt has resolved */
	uint8_t close_after;	/* close once the current read is handled */
	uint32_t id;		/* index in the thread */
	uint32_t gen;		/* bumped at every close: stale epoll events are ignored */
	struct worker *w;
	struct req *ring;	/* pipeline slots */
	uint32_t head, tail;	/* in flight: [head, tail); free-running counters */
	uint32_t wi;		/* first request not fully written */
	uint32_t woff;		/* bytes of ring[wi] already written */
	uint64_t roff;		/* echo: bytes of ring[head] already back */
	uint64_t nsent;		/* open loop: requests this connection has started */
	uint64_t echo_seq;	/* echo: next message number */
	uint64_t t_connect;	/* when the current connect began */
	uint64_t retry_at;
	uint32_t fails;		/* consecutive failures since the last good response */
	uint32_t served;	/* responses on this connection */
	struct http_resp resp;
	struct conn *next, *prev;	/* ramp queue or back-off list */
};

struct conn_list {
	struct conn *head, *tail;
};

struct worker {
	unsigned id;
	int ep;
	pthread_t thread;
	struct run *run;
	const struct lg_opts *o;
	struct conn *conns;
	uint32_t nconns;
	uint32_t ring_mask;
	char *rbuf;
	size_t rbuf_size;
	uint64_t rng;
	uint32_t *deck;			/* --mix: per path, draws left in the deck */
	uint32_t deck_left;		/* their sum; 0: deal a new deck */

	enum phase phase;
	uint64_t t_end;			/* cached run->t_end */
	uint64_t t_win_seen, t_send_end, drain_deadline;

	/* open loop */
	struct sched sched;
	uint64_t m_warm;		/* local requests below this are warm-up */
	uint64_t m_limit;		/* local requests from here on are never sent */
	uint64_t m_due;			/* local requests due so far (capped at m_limit) */

	/* closed loop with -n: this thread's share of the window */
	int has_quota;
	uint64_t quota;
	uint64_t window_started;
	_Atomic uint64_t quota_done_at;	/* 0 until the share has been started */
	_Atomic uint64_t progress;	/* window answers (2xx or not), for main's stall guard */

	uint64_t outstanding;		/* requests in flight, all connections */
	unsigned connecting;
	unsigned max_connecting;
	unsigned setup_pending;		/* connections whose first connect is unresolved */
	struct conn_list waitq, backoff;
	uint64_t next_retry;
	uint64_t next_tick, tick_ns, timeout_ns;
	uint64_t t_wake, wake_late;	/* last wake-up, and how late it was: loop lag */

	struct counts cnt[ACC_N];
	struct hist *lat;		/* window, from due (corrected) */
	struct hist *lat_unc;		/* window, from send (open loop) */
	struct hist **path_lat;		/* --mix: per path, corrected */
	struct hist *lag;		/* loop lag, window */
	struct timeline *tl;		/* --timeline */
	uint32_t at_window[CONN_NSTATES];	/* connections by state when the window began */
	uint64_t cpu_ns;		/* thread CPU over its window */
	double busy;			/* cpu_ns / window wall time */
	int timeline_oom;
};

/* Phase as an accounting bucket: set-up and warm-up count as warm-up. */
static inline int acc_now(const struct worker *w)
{
	return w->phase <= PH_WARMUP ? ACC_WARMUP : ACC_WINDOW;
}

/* New requests may start (the drain sends nothing). */
static inline int may_start(const struct worker *w)
{
	return w->phase == PH_WARMUP || w->phase == PH_WINDOW;
}

#endif
