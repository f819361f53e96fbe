/* HTTP/1.1 on libhttp-parser 2.9.4: routes, limits and the exact response
 * bytes of docs/contract.md.
 *
 * One request at a time.  The parser is paused in two callbacks:
 *
 * - on_headers_complete: to check the header-block limit, route, answer
 *   Expect: 100-continue, and reject a declared body over --max-body at once.
 *   In 2.9.4 a pause there makes http_parser_execute() stop *before* the final
 *   LF of the header block (the LF is fed again when parsing resumes); the unit
 *   tests pin this.
 * - on_message_complete: so that a pipelined request is dispatched (and its
 *   response queued, or its work started) before the next one is parsed.
 *   Responses therefore leave in request order.
 *
 * Header-block limit: the request line, the header fields and the empty line
 * that ends them, CRLFs included, plus any empty lines before the request line
 * (RFC 9112 section 2.2 lets a server skip those; the parser does, and they
 * count) -- that is, every byte from the end of the previous request up to and
 * including the LF of the empty line.  At most HDR_MAX = 8192 bytes; 8193 gets
 * 431 and a close.  While the block is incomplete the parser is fed at most
 * HDR_MAX + 1 - (bytes so far), so a client sending endless header bytes is
 * answered as soon as it passes the limit, and never parsed beyond it.
 *
 * Keep-alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
 * "Connection: keep-alive" (then echoed back).  Closing after the response:
 * when the client asked, after 400 (malformed), 413 and 431, while draining,
 * and after an Upgrade or CONNECT request (the rest of the stream is not HTTP).
 * A bad query value (400), 404 and 405 keep the connection: the request was
 * well-formed.  stats.errors counts malformed requests, 413 and 431, and the
 * 500s of GET /fail?kind=error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "server.h"
#include "session_impl.h"

static const char CT_TEXT[] = "text/plain";
static const char CT_OCTET[] = "application/octet-stream";
static const char CONTINUE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

#define MAX_WORK_US	10000000ULL
#define MAX_BYTES_N	67108864ULL

static const char *reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	default:  return "Internal Server Error";
	}
}

/* ---- response bytes ---- */

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* True when the connection closes after the response being built.  The
 * process-wide flag is read here, where every response is built, so a request
 * whose work was running when SIGTERM came says Connection: close in every
 * model without each model having to notice the signal in time. */
static bool resp_close(const struct session *s)
{
	return !s->req.keep_alive || s->draining ||
	       atomic_load_explicit(&s->srv->draining, memory_order_relaxed);
}

/* Queues the status line and headers. */
static int put_head(struct session *s, int code, const char *ctype, uint64_t clen)
{
	const struct http_req *r = &s->req;
	char *start = out_reserve(s, 256);	/* longest head is ~170 bytes */
	char *p = start;

	if (!p)
		return -ENOMEM;
	p = put_str(p, "HTTP/1.1 ");
	p = put_u64(p, (uint64_t)code);
	*p++ = ' ';
	p = put_str(p, reason(code));
	p = put_str(p, "\r\nContent-Type: ");
	p = put_str(p, ctype);
	p = put_str(p, "\r\nContent-Length: ");
	p = put_u64(p, clen);
	if (code == 405) {
		p = put_str(p, "\r\nAllow: ");
		p = put_str(p, r->allow);
	}
	if (resp_close(s))
		p = put_str(p, "\r\nConnection: close");
	else if (r->ka_header)
		p = put_str(p, "\r\nConnection: keep-alive");
	p = put_str(p, "\r\n\r\n");
	out_commit(s, (size_t)(p - start));
	return 0;
}

/* The response is queued in full: count it when sent, and stop parsing if the
 * connection closes after it. */
static void finish_response(struct session *s)
{
	out_end_response(s);
	if (resp_close(s))
		s->closing = true;
}

static void respond(struct session *s, int code, const char *ctype,
		    const char *body, size_t len)
{
	if (put_head(s, code, ctype, len) < 0)
		return;
	if (!s->req.head && len > 0 && out_append(s, body, len) < 0)
		return;
	finish_response(s);
}

static void respond_status(struct session *s, int code)
{
	const char *text = reason(code);
	size_t n = strlen(text);
	char body[48];

	memcpy(body, text, n);
	body[n++] = '\n';
	respond(s, code, CT_TEXT, body, n);
}

static void respond_bytes(struct session *s, uint64_t n)
{
	if (put_head(s, 200, CT_OCTET, n) < 0)
		return;
	if (n <= BYTES_INLINE) {
		char *p = out_reserve(s, (size_t)n);
		if (!p)
			return;
		memset(p, 'x', (size_t)n);
		out_commit(s, (size_t)n);
	} else {
		/* Served from the static page by session_output(). */
		s->x_left = n;
		s->queued += n;
	}
	finish_response(s);
}

/* Malformed, 413 or 431: answer and close.  If a streamed response has begun
 * there is no way to answer; just close. */
static void fail(struct session *s, int code)
{
	struct http_req *r = &s->req;

	STAT_ADD(s->st, errors, 1);
	r->keep_alive = false;
	if (r->phase != PH_BODY)
		r->head = false;	/* the method may not have been seen */
	if (!r->resp_started && !r->oom)
		respond_status(s, code);
	s->closing = true;
	r->phase = PH_IDLE;
}

/* ---- routing ---- */

/* The value of `key` among the &-separated pairs of a query: decimal digits
 * only, no sign, at most max.  The first pair with that key decides.  Returns
 * 0, or -1 for missing, empty, non-numeric, overflowing or out-of-range. */
static int query_u64(const char *q, size_t qlen, const char *key, uint64_t max,
		     uint64_t *out)
{
	size_t klen = strlen(key);
	const char *end = q + qlen;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pe = amp ? amp : end;

		if ((size_t)(pe - q) > klen && memcmp(q, key, klen) == 0 && q[klen] == '=') {
			const char *v = q + klen + 1;
			uint64_t n = 0;

			if (v == pe)
				return -1;
			for (; v < pe; v++) {
				if (*v < '0' || *v > '9')
					return -1;
				n = n * 10 + (uint64_t)(*v - '0');
				if (n > max)	/* max < 2^60, so n*10 cannot wrap */
					return -1;
			}
			*out = n;
			return 0;
		}
		q = amp ? amp + 1 : end;
	}
	return -1;
}

static bool path_is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* The value of `key` in a query (the first pair with that key) is exactly
 * `want`. */
static bool query_is(const char *q, size_t qlen, const char *key, const char *want)
{
	size_t klen = strlen(key), wlen = strlen(want);
	const char *end = q + qlen;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pe = amp ? amp : end;

		if ((size_t)(pe - q) > klen && memcmp(q, key, klen) == 0 && q[klen] == '=')
			return (size_t)(pe - q) == klen + 1 + wlen && memcmp(q + klen + 1, want, wlen) == 0;
		q = amp ? amp + 1 : end;
	}
	return false;
}

static void route_status(struct http_req *r, int code, const char *allow)
{
	r->act = ACT_STATUS;
	r->status = code;
	r->allow = allow;
}

/* Decides what the request gets.  Returns -1 for a malformed URL. */
static int route(struct session *s)
{
	struct http_req *r = &s->req;
	unsigned method = s->parser.method;
	struct http_parser_url u;
	const char *path = "/", *query = "";
	size_t plen = 1, qlen = 0;

	http_parser_url_init(&u);
	if (http_parser_parse_url(r->url, r->url_len, method == HTTP_CONNECT, &u) != 0)
		return -1;
	if (u.field_set & (1 << UF_PATH)) {
		path = r->url + u.field_data[UF_PATH].off;
		plen = u.field_data[UF_PATH].len;
	} else if (method == HTTP_CONNECT) {
		path = "";
		plen = 0;
	}
	if (u.field_set & (1 << UF_QUERY)) {
		query = r->url + u.field_data[UF_QUERY].off;
		qlen = u.field_data[UF_QUERY].len;
	}

	if (path_is(path, plen, "/")) {
		if (method != HTTP_GET)
			route_status(r, 405, "GET");
		else
			r->act = ACT_HELLO;
	} else if (path_is(path, plen, "/cpu") || path_is(path, plen, "/block")) {
		if (method != HTTP_GET)
			route_status(r, 405, "GET");
		else if (query_u64(query, qlen, "us", MAX_WORK_US, &r->arg) < 0)
			route_status(r, 400, NULL);
		else
			r->act = plen == 4 ? ACT_CPU : ACT_BLOCK;
	} else if (path_is(path, plen, "/bytes")) {
		if (method != HTTP_GET)
			route_status(r, 405, "GET");
		else if (query_u64(query, qlen, "n", MAX_BYTES_N, &r->arg) < 0)
			route_status(r, 400, NULL);
		else
			r->act = ACT_BYTES;
	} else if (path_is(path, plen, "/echo")) {
		if (method != HTTP_POST)
			route_status(r, 405, "POST");
		else
			r->act = ACT_ECHO;
	} else if (path_is(path, plen, "/fail") && s->srv->opts.enable_fail) {
		if (method != HTTP_GET)
			route_status(r, 405, "GET");
		else if (query_is(query, qlen, "kind", "error"))
			r->act = ACT_FAIL_ERROR;
		else if (query_is(query, qlen, "kind", "crash"))
			r->act = ACT_FAIL_CRASH;
		else
			route_status(r, 400, NULL);
	} else {
		route_status(r, 404, NULL);
	}
	return 0;
}

/* ---- parser callbacks ---- */

static void req_reset(struct http_req *r)
{
	if (r->url != r->url_small)
		free(r->url);
	free(r->body);
	memset(r, 0, sizeof *r);
	r->url = r->url_small;
}

static int on_message_begin(http_parser *p)
{
	struct session *s = p->data;

	req_reset(&s->req);
	s->req.phase = PH_HEAD;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct http_req *r = &((struct session *)p->data)->req;

	if (r->url_len + n > HDR_MAX) {		/* cannot happen: the feed is capped */
		r->url_overflow = true;
		return 1;
	}
	if (r->url == r->url_small && r->url_len + n > URL_INLINE) {
		char *big = malloc(HDR_MAX);
		if (!big) {
			STAT_ADD(((struct session *)p->data)->st, errors, 1);
			r->oom = true;
			return 1;
		}
		memcpy(big, r->url_small, r->url_len);
		r->url = big;
	}
	memcpy(r->url + r->url_len, at, n);
	r->url_len += (uint32_t)n;
	return 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Matches a[0..n) against lit from position *m on, case-insensitively;
 * *m becomes -1 at the first difference. */
static void match_piece(int8_t *m, const char *lit, const char *a, size_t n)
{
	size_t len = strlen(lit);

	for (size_t i = 0; i < n && *m >= 0; i++) {
		if ((size_t)*m < len && lower(a[i]) == lit[*m])
			(*m)++;
		else
			*m = -1;
	}
}

static void value_done(struct http_req *r)
{
	if (r->value_match == 12)
		r->expect_continue = true;
	r->in_value = false;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_req *r = &((struct session *)p->data)->req;

	if (r->in_value) {
		value_done(r);
		r->field_match = 0;
	}
	match_piece(&r->field_match, "expect", at, n);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_req *r = &((struct session *)p->data)->req;

	if (!r->in_value) {
		r->in_value = true;
		r->value_match = r->field_match == 6 ? 0 : -1;
	}
	/* 2.9.4 strips leading but not trailing whitespace from values. */
	for (size_t i = 0; i < n && r->value_match >= 0; i++) {
		if (r->value_match == 12 && (at[i] == ' ' || at[i] == '\t'))
			continue;
		match_piece(&r->value_match, "100-continue", at + i, 1);
	}
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct session *s = p->data;

	s->pause = PAUSE_HEADERS;
	http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct session *s = p->data;
	struct http_req *r = &s->req;
	uint64_t max = s->srv->opts.max_body;

	if (r->act == ACT_ECHO) {	/* Content-Length, checked against max */
		if (out_append(s, at, n) < 0) {
			r->oom = true;
			return 1;
		}
		return 0;
	}
	if (r->body_len + n > max) {
		r->too_large = true;
		return 1;
	}
	if (r->act == ACT_ECHO_CHUNKED) {
		if (r->body_len + n > r->body_cap) {
			size_t cap = r->body_cap ? r->body_cap : 4096;
			while (cap < r->body_len + n)
				cap *= 2;
			if (cap > max)
				cap = (size_t)max;
			char *b = realloc(r->body, cap);
			if (!b) {
				STAT_ADD(s->st, errors, 1);
				r->oom = true;
				return 1;
			}
			r->body = b;
			r->body_cap = cap;
		}
		memcpy(r->body + r->body_len, at, n);
	}
	r->body_len += n;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct session *s = p->data;

	s->pause = PAUSE_MESSAGE;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- the request, step by step ---- */

static void headers_done(struct session *s)
{
	struct http_req *r = &s->req;
	http_parser *p = &s->parser;

	if (r->in_value)
		value_done(r);
	r->phase = PH_BODY;
	r->head = p->method == HTTP_HEAD;
	/* The pause left the block's final LF unconsumed. */
	if (s->hdr_bytes + 1 > HDR_MAX) {
		fail(s, 431);
		return;
	}
	r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	r->ka_header = r->keep_alive && p->http_major == 1 && p->http_minor == 0;
	if (route(s) < 0) {
		fail(s, 400);
		return;
	}

	bool chunked = p->flags & F_CHUNKED;
	uint64_t clen = (p->flags & F_CONTENTLENGTH) ? p->content_length : 0;

	/* A Transfer-Encoding other than chunked: the parser rejects it only
	 * after this callback, too late for a response head already queued. */
	if (p->uses_transfer_encoding && !chunked) {
		fail(s, 400);
		return;
	}

	if (!chunked && clen > s->srv->opts.max_body) {
		fail(s, 413);
		return;
	}
	/* 100 Continue only to HTTP/1.1 clients that will send a body. */
	if (r->expect_continue && (chunked || clen > 0) &&
	    p->http_major == 1 && p->http_minor >= 1 &&
	    out_append(s, CONTINUE_100, sizeof CONTINUE_100 - 1) < 0)
		return;
	if (r->act == ACT_ECHO) {
		if (chunked) {
			r->act = ACT_ECHO_CHUNKED;
		} else if (put_head(s, 200, CT_OCTET, clen) == 0) {
			r->resp_started = true;
		}
	}
}

/* GET /fail (--enable-fail): the two ways a handler fails.  An error is
 * reported the way C reports one, by a return value, and takes the path every
 * error takes: a 500, counted, and the connection carries on.  A crash is a
 * fault nothing in the process can recover from: abort(), with core dumps off
 * so that a test's crash leaves no core file behind.  Neither is ever handed
 * to --offload: the failure happens where requests are handled. */
static int fail_handler(void)
{
	return -EIO;
}

static void __attribute__((noreturn)) fail_crash(void)
{
	struct rlimit none = { 0, 0 };

	setrlimit(RLIMIT_CORE, &none);
	abort();
}

static void message_done(struct session *s)
{
	struct http_req *r = &s->req;

	r->phase = PH_IDLE;
	s->hdr_bytes = 0;
	switch (r->act) {
	case ACT_HELLO:
		respond(s, 200, CT_TEXT, "Hello, World!", 13);
		break;
	case ACT_STATUS:
		respond_status(s, r->status);
		break;
	case ACT_CPU:
	case ACT_BLOCK:
		s->work.kind = r->act == ACT_CPU ? WORK_CPU : WORK_BLOCK;
		s->work.us = r->arg;
		s->work.units = r->act == ACT_CPU ? r->arg * s->srv->cpu_iters_per_us : 0;
		s->work.checksum = 0;
		s->work_pending = true;
		break;
	case ACT_BYTES:
		respond_bytes(s, r->arg);
		break;
	case ACT_ECHO:
		finish_response(s);
		break;
	case ACT_ECHO_CHUNKED:
		respond(s, 200, CT_OCTET, r->body, (size_t)r->body_len);
		free(r->body);
		r->body = NULL;
		r->body_cap = 0;
		break;
	case ACT_FAIL_ERROR:
		if (fail_handler() < 0) {
			STAT_ADD(s->st, errors, 1);
			respond_status(s, 500);
		}
		break;
	case ACT_FAIL_CRASH:
		fail_crash();
	case ACT_NONE:
		break;
	}
	/* The streamed echo response is complete.  A malformed next request
	 * fails before on_message_begin resets the request, and must still get
	 * its 400. */
	r->resp_started = false;
	if (r->url != r->url_small) {
		free(r->url);
		r->url = r->url_small;
	}
}

static void parse_failed(struct session *s, enum http_errno e)
{
	struct http_req *r = &s->req;

	if (r->oom) {
		s->closing = true;	/* counted where the allocation failed */
	} else if (r->too_large) {
		fail(s, 413);
	} else if (e == HPE_HEADER_OVERFLOW || r->url_overflow) {
		fail(s, 431);
	} else {
		fail(s, 400);
	}
}

bool http_can_parse(const struct session *s)
{
	return !s->closing && !s->work_pending && s->x_left == 0 &&
	       out_pending(s) < OUT_HWM && s->ends_count < MAX_INFLIGHT;
}

size_t http_feed(struct session *s, const char *p, size_t len)
{
	size_t used = 0;

	while (used < len && http_can_parse(s)) {
		bool in_head = s->req.phase != PH_BODY;
		size_t chunk = len - used;

		if (in_head && chunk > HDR_MAX + 1 - s->hdr_bytes)
			chunk = HDR_MAX + 1 - s->hdr_bytes;
		s->pause = PAUSE_NONE;
		size_t n = http_parser_execute(&s->parser, &settings, p + used, chunk);
		used += n;
		if (in_head)
			s->hdr_bytes += (uint32_t)n;

		enum http_errno e = HTTP_PARSER_ERRNO(&s->parser);
		if (e == HPE_PAUSED) {
			http_parser_pause(&s->parser, 0);
			if (s->pause == PAUSE_HEADERS)
				headers_done(s);
			else
				message_done(s);
		} else if (e != HPE_OK) {
			parse_failed(s, e);
		} else if (in_head && s->hdr_bytes > HDR_MAX) {
			fail(s, 431);
		} else if (n < chunk) {
			/* The parser stops short without an error only after an
			 * upgrade, and we close after those anyway. */
			s->closing = true;
		}
	}
	return used;
}

void http_work_done(struct session *s)
{
	if (s->work.kind == WORK_CPU) {
		static const char hex[] = "0123456789abcdef";
		char b[8];
		for (int i = 0; i < 8; i++)
			b[i] = hex[(s->work.checksum >> (28 - 4 * i)) & 0xf];
		respond(s, 200, CT_TEXT, b, 8);
	} else {
		respond(s, 200, CT_TEXT, "ok", 2);
	}
}

/* A request in progress (begun, or waiting for its work) is finished and its
 * response says Connection: close; between requests we close at once. */
void http_drain(struct session *s)
{
	if (s->req.phase == PH_IDLE && !s->work_pending)
		s->closing = true;
}

void http_init(struct session *s)
{
	http_parser_init(&s->parser, HTTP_REQUEST);
	s->parser.data = s;
	s->req.url = s->req.url_small;
}

void http_free(struct session *s)
{
	req_reset(&s->req);
}
