/* One connection's protocol state: the buffers, the output queue, echo, and
 * the glue from the session API to the HTTP code in http.c.
 *
 * Memory per connection, and why (the contract's C2 counts it at 10,000 idle
 * connections):
 *
 * - Reads go into one 64 KiB buffer per *thread* (session_input_buf), not per
 *   connection.  The HTTP parser is incremental, so it consumes everything it is
 *   given -- a partial request leaves nothing behind -- except when we hold
 *   parsing up ourselves (work running, output above its high-water mark, too
 *   many responses in flight).  Only then are the unparsed bytes copied into a
 *   session buffer (`in`), freed as soon as they have been parsed.  So an idle
 *   connection owns no input buffer at all, and GET / keep-alive allocates
 *   nothing per request.  Because the read buffer is per thread, a model calls
 *   session_input() on the session before it asks any other session on the same
 *   thread for a buffer (every read loop does).
 * - Output is one contiguous buffer per session, allocated at the first
 *   response (1 KiB) and grown as needed.  Parsing and reading stop while more
 *   than OUT_HWM (64 KiB) is pending, so it holds at most OUT_HWM plus one read
 *   (echo, streamed POST /echo) -- or one buffered chunked body, up to
 *   --max-body.  Once drained, a buffer larger than OUT_KEEP (16 KiB) is freed,
 *   so an idle connection keeps at most 16 KiB, usually 1 KiB.
 * - /bytes bodies larger than 16 KiB are never materialised: session_output()
 *   hands out a static 64 KiB page of 'x' as many times as needed.
 *
 * Responses are counted (stats.requests) when their last byte has been handed
 * to the kernel: each queued response records where it ends in the output
 * stream (ends[], at most MAX_INFLIGHT), and session_output_sent() pops those
 * the sent position has passed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "session_impl.h"

static char xpage[XPAGE_SIZE];
static pthread_once_t xpage_once = PTHREAD_ONCE_INIT;

static void xpage_fill(void)
{
	memset(xpage, 'x', sizeof xpage);
}

/* The per-thread read buffer, freed when its thread exits (threads model). */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local char *scratch;
static _Thread_local char scratch_fallback[256];	/* when malloc fails */

static void scratch_key_create(void)
{
	pthread_key_create(&scratch_key, free);
}

static char *scratch_get(size_t *len)
{
	if (!scratch) {
		pthread_once(&scratch_once, scratch_key_create);
		scratch = malloc(READ_SIZE);
		if (!scratch) {
			*len = sizeof scratch_fallback;
			return scratch_fallback;
		}
		pthread_setspecific(scratch_key, scratch);
	}
	*len = READ_SIZE;
	return scratch;
}

struct session *session_new(struct server *srv)
{
	struct session *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	pthread_once(&xpage_once, xpage_fill);
	s->srv = srv;
	s->st = &srv->stats;
	s->proto = srv->opts.proto;
	if (s->proto == PROTO_HTTP)
		http_init(s);
	return s;
}

/* A wait (/sleep, /db, /queries) counts in stats.waiting from the moment it is handed out
 * until it is done or its connection is freed: what is still counted when the
 * drain limit forces the exit is what the exit cut short. */
static void wait_end(struct session *s)
{
	if (s->work_taken && work_is_wait(&s->work))
		atomic_fetch_sub_explicit(&s->st->waiting, 1, memory_order_relaxed);
}

void session_free(struct session *s)
{
	if (!s)
		return;
	if (s->work_pending)
		wait_end(s);
	if (s->proto == PROTO_HTTP)
		http_free(s);
	db_query_release(&s->db);
	free(s->in);
	free(s->out);
	free(s);
}

/* ---- output queue ---- */

/* out_reserve's slow path: no room at the end of the queue. */
char *out_grow(struct session *s, size_t n)
{
	if (s->out_off > 0) {
		memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
		s->out_len -= s->out_off;
		s->out_off = 0;
		if (s->out_cap - s->out_len >= n)
			return s->out + s->out_len;
	}
	size_t cap = s->out_cap ? s->out_cap : OUT_INIT;
	while (cap - s->out_len < n) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	char *p = realloc(s->out, cap);
	if (!p)
		goto fail;
	s->out = p;
	s->out_cap = cap;
	return s->out + s->out_len;
fail:
	s->closing = true;
	STAT_ADD(s->st, errors, 1);
	return NULL;
}

size_t session_output(struct session *s, const char **p)
{
	if (s->out_off < s->out_len) {
		*p = s->out + s->out_off;
		return s->out_len - s->out_off;
	}
	if (s->x_left > 0) {
		*p = xpage;
		return s->x_left < XPAGE_SIZE ? (size_t)s->x_left : XPAGE_SIZE;
	}
	*p = NULL;
	return 0;
}

/* ---- input ---- */

static bool have_leftover(const struct session *s)
{
	return s->in_off < s->in_len;
}

static void leftover_drop(struct session *s)
{
	free(s->in);
	s->in = NULL;
	s->in_off = s->in_len = s->in_cap = 0;
	if (s->in_reading) {	/* a buffer handed out is gone: see session_input */
		s->in_reading = false;
		s->rbuf = NULL;
	}
}

/* Keeps bytes the parser was not allowed to see yet. */
static void leftover_keep(struct session *s, const char *p, size_t n)
{
	size_t cap = n < 4096 ? 4096 : n;

	s->in = malloc(cap);
	if (!s->in) {
		s->closing = true;
		STAT_ADD(s->st, errors, 1);
		return;
	}
	memcpy(s->in, p, n);
	s->in_off = 0;
	s->in_len = n;
	s->in_cap = cap;
}

static void resume_feed(struct session *s)
{
	s->in_off += http_feed(s, s->in + s->in_off, s->in_len - s->in_off);
	if (!have_leftover(s) || s->closing)
		leftover_drop(s);
}

/* Parses held-up input once whatever held it up has cleared.  Inline: after
 * every response sent, and there is almost never any. */
static inline void resume(struct session *s)
{
	if (s->proto == PROTO_HTTP && have_leftover(s) && http_can_parse(s))
		resume_feed(s);
}

/* After EOF, once every complete request received has been dispatched, the
 * connection ends: a partial request can never complete, so it gets no
 * response. */
static void eof_check(struct session *s)
{
	if (s->eof && !s->closing && !have_leftover(s) && !s->work_pending)
		s->closing = true;
}

char *session_input_buf(struct session *s, size_t *len)
{
	if (have_leftover(s)) {
		/* Only a model that reads while session_wants_input() is false
		 * gets here: append after the held-up bytes. */
		if (s->in_cap - s->in_len < 4096) {
			memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
			s->in_len -= s->in_off;
			s->in_off = 0;
		}
		if (s->in_cap - s->in_len < 4096) {
			/* Doubling: uring's receives may land a few hundred KiB
			 * here before its cancel does, and growing 4 KiB at a
			 * time copied the whole buffer each time (and, under
			 * ASan, kept old and new mapped: a peak of twice it). */
			size_t cap = s->in_cap * 2;
			char *p = realloc(s->in, cap);
			if (p) {
				s->in = p;
				s->in_cap = cap;
			}
		}
		if (s->in_cap > s->in_len) {
			s->in_reading = true;
			*len = s->in_cap - s->in_len;
			return s->rbuf = s->in + s->in_len;
		}
	}
	s->in_reading = false;
	return s->rbuf = scratch_get(len);
}

bool session_input(struct session *s, size_t n)
{
	STAT_ADD(s->st, bytes_in, n);
	if (!s->rbuf)		/* read into a buffer that was invalidated since */
		return false;
	if (s->proto == PROTO_ECHO) {
		if (!s->closing)
			out_append(s, s->rbuf, n);
		return true;
	}
	if (s->in_reading) {
		s->in_reading = false;
		s->in_len += n;
		resume(s);
	} else if (!s->closing) {
		size_t used = http_feed(s, s->rbuf, n);
		if (used < n && !s->closing)
			leftover_keep(s, s->rbuf + used, n - used);
	}
	eof_check(s);
	return false;
}

void session_input_eof(struct session *s)
{
	s->eof = true;
	if (s->proto == PROTO_ECHO)
		s->closing = true;
	eof_check(s);
}

bool session_wants_input(const struct session *s)
{
	if (s->closing || s->eof || out_pending(s) >= OUT_HWM)
		return false;
	if (s->proto == PROTO_ECHO)
		return true;
	return !have_leftover(s) && http_can_parse(s);
}

bool session_reads_ahead(const struct session *s)
{
	return s->proto == PROTO_HTTP && s->work_taken && work_is_wait(&s->work) &&
	       !s->closing && !s->eof && s->in_len - s->in_off < READ_AHEAD_MAX;
}

void session_output_sent(struct session *s, size_t n)
{
	size_t buffered = s->out_len - s->out_off;

	if (n <= buffered) {
		s->out_off += n;
	} else {
		/* Only the x page is handed out while the buffer is empty. */
		s->out_off = s->out_len;
		s->x_left -= n - buffered;
	}
	if (s->out_off == s->out_len) {
		s->out_off = s->out_len = 0;
		if (s->out_cap > OUT_KEEP) {
			free(s->out);
			s->out = NULL;
			s->out_cap = 0;
		}
	}
	s->sent += n;
	STAT_ADD(s->st, bytes_out, n);
	while (s->ends_count > 0 && s->ends[s->ends_head] <= s->sent) {
		s->ends_head = (s->ends_head + 1) % MAX_INFLIGHT;
		s->ends_count--;
		STAT_ADD(s->st, requests, 1);
	}
	resume(s);
	eof_check(s);
}

struct work *session_work(struct session *s)
{
	if (!s->work_pending || s->work_taken)
		return NULL;
	s->work_taken = true;
	if (work_is_wait(&s->work))
		STAT_ADD(s->st, waiting, 1);
	return &s->work;
}

void session_work_done(struct session *s)
{
	if (!s->work_pending)
		return;
	wait_end(s);
	s->work_pending = false;
	s->work_taken = false;
	http_work_done(s);
	resume(s);
	eof_check(s);
}

void session_drain(struct session *s)
{
	s->draining = true;
	if (s->proto == PROTO_ECHO)
		s->closing = true;
	else
		http_drain(s);
	if (s->closing && have_leftover(s))
		leftover_drop(s);
}

bool session_done(const struct session *s)
{
	return s->closing && !s->work_pending && out_pending(s) == 0;
}
