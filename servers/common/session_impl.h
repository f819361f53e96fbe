/* Private to session.c and http.c: the session's layout, its bounds, and the
 * output queue both protocols share.  Models never include this. */
#ifndef LB_SESSION_IMPL_H
#define LB_SESSION_IMPL_H

#include <errno.h>
#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "db.h"
#include "opts.h"
#include "session.h"

#define READ_SIZE	(64 * 1024)	/* the per-thread read buffer */
#define OUT_HWM		(64 * 1024)	/* above this much pending output, stop reading */
#define OUT_INIT	1024		/* first output buffer: a few pipelined responses */
#define OUT_KEEP	(16 * 1024)	/* a drained output buffer larger than this is freed */
#define MAX_INFLIGHT	32		/* responses queued and not yet fully sent */
#define HDR_MAX		8192		/* header block limit (http.c defines it exactly) */
#define URL_INLINE	64		/* URLs up to this long need no allocation */
#define BYTES_INLINE	(16 * 1024)	/* /bytes bodies up to this size are copied */
#define XPAGE_SIZE	(64 * 1024)	/* the static page of 'x' larger bodies come from */
#define READ_AHEAD_MAX	(16 * 1024)	/* bytes read while a request waits (session_reads_ahead) */

enum http_phase {
	PH_IDLE,	/* between requests */
	PH_HEAD,	/* request line and header fields arriving */
	PH_BODY,	/* headers complete, waiting for the end of the message */
	PH_TRAILERS,	/* a chunked body's trailer section arriving */
};

enum http_action {
	ACT_NONE,
	ACT_STATUS,		/* 400 (query), 404, 405: an error page, keep-alive */
	ACT_HELLO,
	ACT_CPU,
	ACT_BLOCK,
	ACT_SLEEP,
	ACT_BYTES,
	ACT_ECHO,		/* Content-Length body: streamed back as it arrives */
	ACT_ECHO_CHUNKED,	/* chunked body: buffered, up to --max-body */
	ACT_DB,			/* /db: one row, a JSON object */
	ACT_QUERIES,		/* /queries?n=N: N rows, a JSON array */
	ACT_FAIL_ERROR,		/* GET /fail?kind=error (--enable-fail) */
	ACT_FAIL_CRASH,		/* GET /fail?kind=crash (--enable-fail) */
};

enum http_pause { PAUSE_NONE, PAUSE_HEADERS, PAUSE_TRAILERS, PAUSE_MESSAGE };

/* The field lines the server looks at. */
enum http_field { FIELD_OTHER, FIELD_HOST, FIELD_EXPECT, FIELD_TE };

#define FIELD_NAME_MAX	17		/* the longest of them: transfer-encoding */

/* The request being parsed (or whose response is being produced). */
struct http_req {
	enum http_phase phase;
	enum http_action act;
	int status;			/* ACT_STATUS */
	const char *allow;		/* 405 */
	uint64_t arg;			/* us=, ms= or n= (/queries: already clamped) */
	bool head;			/* HEAD: never a body in the response */
	bool keep_alive;		/* the client lets us keep the connection */
	bool ka_header;			/* HTTP/1.0 that asked for keep-alive: say so */
	bool expect_continue;
	bool resp_started;		/* response head already queued (streamed echo) */
	bool too_large;			/* body over --max-body: 413 */
	bool url_overflow;
	bool oom;

	/* The field line being parsed, matched across split callbacks. */
	enum http_field field;
	uint32_t name_len;		/* bytes of its name so far */
	int8_t value_match;		/* Expect: chars of "100-continue" matched, -1: other */
	uint8_t host_state;		/* Host: where its value is in the grammar */
	uint8_t hosts;			/* Host lines, counted up to 2 */
	bool host_bad;			/* a Host value that is not uri-host [":" port] */
	bool te_seen;			/* a Transfer-Encoding line, even an empty one */
	bool te_empty;			/* the current one has named no coding yet */
	bool te_bad;			/* a Transfer-Encoding line named none */

	uint32_t url_len;
	uint64_t body_len;		/* body bytes seen (chunked limit) */
	char *body;			/* ACT_ECHO_CHUNKED */
	size_t body_cap;

	/* From here on, not zeroed for each request (http.c's req_reset): bytes
	 * that count only up to a length above, and url, set apart. */
	char *url;			/* url_small, or a heap copy of HDR_MAX bytes */
	char url_small[URL_INLINE];
	char name[FIELD_NAME_MAX];	/* the field name's bytes (name_len), when it
					 * is no longer than that */
};

struct session {
	struct server *srv;
	struct srv_stats *st;
	enum proto proto;
	bool closing;			/* nothing more will be parsed or read */
	bool eof;			/* the peer sent FIN */
	bool draining;			/* SIGTERM: close after the request in progress */
	bool in_reading;		/* the last input buffer handed out was `in` */
	char *rbuf;			/* the last input buffer handed out */
	bool work_pending;		/* a request waits for `work` */
	bool work_taken;		/* session_work() handed it out */

	/* Bytes read but not parsed yet: only while parsing is held up (work,
	 * back-pressure, in-flight limit).  NULL otherwise. */
	char *in;
	size_t in_off, in_len, in_cap;

	/* Output: `out[out_off, out_len)`, then x_left bytes of 'x'. */
	char *out;
	size_t out_off, out_len, out_cap;
	uint64_t x_left;
	uint64_t queued, sent;		/* positions in the output stream */
	uint64_t ends[MAX_INFLIGHT];	/* where each queued response ends */
	unsigned ends_head, ends_count;

	/* HTTP */
	llhttp_t parser;
	enum http_pause pause;
	uint8_t lines;			/* http.c's line check: where the field section is */
	uint32_t hdr_bytes;		/* field-section bytes fed for this request */
	struct http_req req;
	struct work work;
	struct db_query db;		/* WORK_DB: the rows of /db or /queries */
};

/* Output queue (session.c).  out_append returns 0 or -ENOMEM; on -ENOMEM the
 * session is already marked closing. */
char *out_grow(struct session *s, size_t n);

/* Room for n more bytes at the end of the queue (out_grow makes it when
 * there is not), or NULL: out of memory.  Inline, as are the two below: they
 * run at every step of every request, and the common case is a test. */
static inline char *out_reserve(struct session *s, size_t n)
{
	if (s->out_cap - s->out_len >= n)
		return s->out + s->out_len;
	return out_grow(s, n);
}

/* The n bytes written at out_reserve's pointer are queued. */
static inline void out_commit(struct session *s, size_t n)
{
	s->out_len += n;
	s->queued += n;
}

static inline int out_append(struct session *s, const void *p, size_t n)
{
	char *dst = out_reserve(s, n);

	if (!dst)
		return -ENOMEM;
	memcpy(dst, p, n);
	out_commit(s, n);
	return 0;
}

/* The response queued so far is complete: it counts once its last byte is
 * sent.  Callers keep ends_count < MAX_INFLIGHT (http_can_parse). */
static inline void out_end_response(struct session *s)
{
	unsigned i = (s->ends_head + s->ends_count) % MAX_INFLIGHT;

	s->ends[i] = s->queued;
	s->ends_count++;
}

/* Bytes queued and not yet sent. */
static inline size_t out_pending(const struct session *s)
{
	uint64_t n = (s->out_len - s->out_off) + s->x_left;

	return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

/* The parser may run: nothing holds it up (closing, work, back-pressure,
 * responses in flight). */
static inline bool http_can_parse(const struct session *s)
{
	return !s->closing && !s->work_pending && s->x_left == 0 &&
	       out_pending(s) < OUT_HWM && s->ends_count < MAX_INFLIGHT;
}

/* HTTP (http.c). */
void http_init(struct session *s);
void http_free(struct session *s);
size_t http_feed(struct session *s, const char *p, size_t len);
void http_work_done(struct session *s);
void http_drain(struct session *s);

#endif
