/* HTTP/1.1 on llhttp: routes, limits and the exact response bytes of
 * docs/contract.md.
 *
 * The parser is llhttp 8.1.0, Node's parser, built in strict mode
 * (mk/llhttp.mk) with no lenient flag.  Node itself runs a later llhttp, which
 * closed two request-smuggling gaps that 8.1.0 still has; this file closes
 * them too, with the other rules of RFC 9112 that 8.1.0 does not enforce, so
 * that every model agrees with node on where each request ends:
 *
 * - lines_ok() checks each field section -- the head, and a chunked body's
 *   trailers -- on the bytes the parser consumed: every LF follows a CR (as
 *   llhttp 9 and node require), no line begins with SP or HTAB, and the empty
 *   line that ends the section is CR LF.  The second rule rejects obsolete
 *   line folding, which 8.1.0 accepts (RFC 9112 section 5.2; CVE-2024-27982
 *   hid a Content-Length behind a leading space that way), and whitespace
 *   before the first field line (section 2.2); the third, a header block ended
 *   by CR LF CR and another byte (CVE-2025-23167).  A bare CR anywhere else
 *   (section 2.2) is refused by strict mode itself.
 * - A field line needs a name (section 5.1: field-name is a token), and a
 *   trailer section has no Content-Length (node refuses one too).
 * - Transfer-Encoding, in any form, is refused beside Content-Length
 *   (section 6.3) and in an HTTP/1.0 request (section 6.1); a
 *   Transfer-Encoding line that names no coding is refused too (node's llhttp
 *   takes some such lines and not others).
 * - Host: an HTTP/1.1 request has exactly one, any request at most one, and
 *   its value is uri-host [":" port] (section 3.2).
 * Each of those is a malformed request: 400, then close.
 *
 * One request at a time.  The parser is paused in three callbacks:
 *
 * - on_headers_complete, when a body follows: to check the header-block limit
 *   and the rules above, route, answer Expect: 100-continue, and reject a
 *   declared body over --max-body at once.  llhttp stops after the block's
 *   final LF.  Without a body the request is complete there and then, so the
 *   head is dealt with at on_message_complete instead.
 * - on_chunk_header of the last chunk: the trailer section that follows is a
 *   field section, checked like the head.
 * - on_message_complete: so that a pipelined request is dispatched (and its
 *   response queued, or its work started) before the next one is parsed.
 *   Responses therefore leave in request order.  Work and waits hold the
 *   parser too: a request pipelined behind /sleep?ms=N is parsed, and its own
 *   wait begins, only once the sleep's response is queued, so the waits of one
 *   connection run one after another (docs/contract.md says so).
 *
 * Header-block limit: the request line, the header fields and the empty line
 * that ends them, CRLFs included, plus any empty lines before the request line
 * (RFC 9112 section 2.2 lets a server skip those; the parser does, and they
 * count) -- that is, every byte from the end of the previous request up to and
 * including the LF of the empty line.  At most HDR_MAX = 8192 bytes; 8193 gets
 * 431 and a close.  While the block is incomplete the parser is fed at most
 * HDR_MAX + 1 - (bytes so far), so a client sending endless header bytes is
 * answered as soon as it passes the limit, and never parsed beyond it.  A
 * trailer section has the same limit of its own.
 *
 * Keep-alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
 * "Connection: keep-alive" (then echoed back).  Closing after the response:
 * when the client asked, after 400 (malformed), 413 and 431, while draining,
 * and after an Upgrade or CONNECT request (the rest of the stream is not HTTP).
 * A bad query value (400), 404, 405 and 503 (no database) keep the connection:
 * the request was well-formed.  stats.errors counts malformed requests, 413 and
 * 431, and the 500s of GET /fail?kind=error.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "server.h"
#include "session_impl.h"

static const char CT_TEXT[] = "text/plain";
static const char CT_OCTET[] = "application/octet-stream";
static const char CT_JSON[] = "application/json";
static const char CONTINUE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

#define MAX_WORK_US	10000000ULL
#define MAX_SLEEP_MS	60000ULL
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
	case 503: return "Service Unavailable";
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

/* A string literal: its length is known when compiling. */
#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

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

/* A head's first bytes, up to the Content-Length value: one string per status
 * and type, put together by the compiler. */
#define HEAD_START(status, ctype) "HTTP/1.1 " status "\r\nContent-Type: " ctype "\r\nContent-Length: "
#define START(status, ctype) \
	(*len = sizeof HEAD_START(status, ctype) - 1, HEAD_START(status, ctype))

static const char *head_start(int code, const char *ctype, size_t *len)
{
	switch (code) {
	case 200:
		return ctype == CT_OCTET ? START("200 OK", "application/octet-stream")
		       : ctype == CT_JSON ? START("200 OK", "application/json")
					  : START("200 OK", "text/plain");
	case 400: return START("400 Bad Request", "text/plain");
	case 404: return START("404 Not Found", "text/plain");
	case 405: return START("405 Method Not Allowed", "text/plain");
	case 413: return START("413 Content Too Large", "text/plain");
	case 431: return START("431 Request Header Fields Too Large", "text/plain");
	case 503: return START("503 Service Unavailable", "text/plain");
	default:  return START("500 Internal Server Error", "text/plain");
	}
}

/* What a head says about the connection: nothing, "close" or "keep-alive". */
enum conn_hdr { CONN_NONE, CONN_CLOSE, CONN_KEEP_ALIVE };

static enum conn_hdr conn_hdr(const struct session *s)
{
	if (resp_close(s))
		return CONN_CLOSE;
	return s->req.ka_header ? CONN_KEEP_ALIVE : CONN_NONE;
}

/* Writes the status line and headers at p, which has room for HEAD_ROOM
 * bytes (ctype: CT_TEXT, CT_OCTET or CT_JSON; allow: 405's Allow), and returns
 * their end. */
#define HEAD_ROOM	256	/* the longest head is ~170 bytes */

static char *head_write(char *p, int code, const char *ctype, uint64_t clen,
			const char *allow, enum conn_hdr conn)
{
	size_t len;
	const char *first = head_start(code, ctype, &len);

	memcpy(p, first, len);
	p = put_u64(p + len, clen);
	if (code == 405) {
		p = PUT_LIT(p, "\r\nAllow: ");
		p = put_str(p, allow);
	}
	if (conn == CONN_CLOSE)
		p = PUT_LIT(p, "\r\nConnection: close");
	else if (conn == CONN_KEEP_ALIVE)
		p = PUT_LIT(p, "\r\nConnection: keep-alive");
	return PUT_LIT(p, "\r\n\r\n");
}

/* Queues the status line and headers. */
static int put_head(struct session *s, int code, const char *ctype, uint64_t clen)
{
	char *start = out_reserve(s, HEAD_ROOM);

	if (!start)
		return -ENOMEM;
	out_commit(s, (size_t)(head_write(start, code, ctype, clen, s->req.allow, conn_hdr(s)) - start));
	return 0;
}

/* The response is queued in full: count it when sent, and stop parsing if the
 * connection closes after it. */
static void response_queued(struct session *s, bool close)
{
	out_end_response(s);
	if (close)
		s->closing = true;
}

static void finish_response(struct session *s)
{
	response_queued(s, resp_close(s));
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

/* A 200 text/plain response whose body never changes, in full, once for each
 * Connection header (enum conn_hdr): built once by head_write, then copied
 * whole, instead of a head put together field by field for every request --
 * what redis does with its shared replies.  The bytes are respond()'s. */
struct canned {
	uint16_t len;			/* head and body */
	uint16_t body;			/* the body's share of len */
	char bytes[128];
};

static struct canned canned_hello[3], canned_ok[3];
static pthread_once_t canned_once = PTHREAD_ONCE_INIT;

static void canned_make(struct canned *c, const char *body, size_t n)
{
	char head[HEAD_ROOM];

	for (int conn = CONN_NONE; conn <= CONN_KEEP_ALIVE; conn++) {
		size_t hlen = (size_t)(head_write(head, 200, CT_TEXT, n, NULL, (enum conn_hdr)conn) - head);

		if (hlen + n > sizeof c[conn].bytes)
			abort();	/* a body too long for a canned response */
		memcpy(c[conn].bytes, head, hlen);
		memcpy(c[conn].bytes + hlen, body, n);
		c[conn].len = (uint16_t)(hlen + n);
		c[conn].body = (uint16_t)n;
	}
}

static void canned_init(void)
{
	canned_make(canned_hello, "Hello, World!", 13);
	canned_make(canned_ok, "ok", 2);
}

static void respond_canned(struct session *s, const struct canned *c)
{
	enum conn_hdr conn = conn_hdr(s);
	const struct canned *v = &c[conn];

	if (out_append(s, v->bytes, s->req.head ? (size_t)(v->len - v->body) : v->len) < 0)
		return;
	response_queued(s, conn == CONN_CLOSE);	/* the decision its bytes say */
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

/* /db and /queries: the rows come back through session_work_done(), or 503
 * at once when the server has no database (or no memory for the rows). */
static void db_start(struct session *s)
{
	struct http_req *r = &s->req;

	if (!s->srv->opts.db) {
		respond_status(s, 503);
		return;
	}
	if (db_query_init(&s->db, (unsigned)r->arg, r->act == ACT_QUERIES) < 0) {
		STAT_ADD(s->st, errors, 1);
		respond_status(s, 503);
		return;
	}
	s->work.kind = WORK_DB;
	s->work.db = &s->db;
	s->work_pending = true;
}

static void respond_db(struct session *s)
{
	const struct db_query *q = &s->db;
	size_t len;
	char *p;

	if (q->failed) {
		respond_status(s, 503);
		return;
	}
	len = db_json_len(q);
	if (put_head(s, 200, CT_JSON, len) < 0 || !(p = out_reserve(s, len)))
		return;
	out_commit(s, db_json(q, p));
	finish_response(s);
}

/* Malformed, 413 or 431: answer and close.  If a streamed response has begun
 * there is no way to answer; just close. */
static void fail(struct session *s, int code)
{
	struct http_req *r = &s->req;

	STAT_ADD(s->st, errors, 1);
	r->keep_alive = false;
	if (r->phase != PH_BODY && r->phase != PH_TRAILERS)
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

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* The length of a leading "http://" or "https://", any case; else 0. */
static size_t scheme_len(const char *u, size_t n)
{
	static const char http[] = "http";
	size_t i = 0;

	while (i < 4 && i < n && lower(u[i]) == http[i])
		i++;
	if (i < 4)
		return 0;
	if (i < n && lower(u[i]) == 's')
		i++;
	return n - i >= 3 && memcmp(u + i, "://", 3) == 0 ? i + 3 : 0;
}

/* Splits a request target (llhttp has checked its characters) into path and
 * query, as servers/node/server.js does: a fragment is dropped, and an
 * absolute-form target (http://host[:port]/path) is reduced to its path, "/"
 * when it has none. */
static void split_target(const char *u, size_t n, const char **path, size_t *plen,
			 const char **query, size_t *qlen)
{
	size_t i = 0, skip = n > 0 && u[0] != '/' ? scheme_len(u, n) : 0;

	/* Targets are short: a loop beats two memchr() calls. */
	while (i < n && u[i] != '?' && u[i] != '#')
		i++;
	if (skip > 0) {
		size_t a = skip;

		while (a < i && u[a] != '/')
			a++;
		if (a == i) {		/* no path: "/" */
			*path = "/";
			*plen = 1;
		} else {
			*path = u + a;
			*plen = i - a;
		}
	} else {
		*path = u;
		*plen = i;
	}
	if (i < n && u[i] == '?') {
		size_t q = ++i;

		while (i < n && u[i] != '#')
			i++;
		*query = u + q;
		*qlen = i - q;
	} else {
		*query = "";
		*qlen = 0;
	}
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

/* Decides what the request gets. */
static void route(struct session *s)
{
	struct http_req *r = &s->req;
	unsigned method = s->parser.method;
	const char *path, *query;
	size_t plen, qlen;

	split_target(r->url, r->url_len, &path, &plen, &query, &qlen);
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
	} else if (path_is(path, plen, "/sleep")) {
		if (method != HTTP_GET)
			route_status(r, 405, "GET");
		else if (query_u64(query, qlen, "ms", MAX_SLEEP_MS, &r->arg) < 0)
			route_status(r, 400, NULL);
		else
			r->act = ACT_SLEEP;
	} else if (path_is(path, plen, "/bytes")) {
		if (method != HTTP_GET)
			route_status(r, 405, "GET");
		else if (query_u64(query, qlen, "n", MAX_BYTES_N, &r->arg) < 0)
			route_status(r, 400, NULL);
		else
			r->act = ACT_BYTES;
	} else if (path_is(path, plen, "/db") || path_is(path, plen, "/queries")) {
		if (method != HTTP_GET) {
			route_status(r, 405, "GET");
		} else if (plen == 3) {
			r->act = ACT_DB;
			r->arg = 1;
		} else {
			r->act = ACT_QUERIES;
			r->arg = db_queries_count(query, qlen, "n");
		}
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
}

/* ---- the rules llhttp 8.1.0 leaves to us ---- */

/* Where lines_ok() is in a field section. */
enum {
	LINE_LEAD,	/* before a request line: CRs and LFs skipped, as llhttp skips them */
	LINE_TEXT,	/* inside a line */
	LINE_CR,	/* right after a CR */
	LINE_START,	/* right after a line's CR LF */
	LINE_END,	/* right after CR LF CR: the empty line that ends the section */
};

/* RFC 9112's line rules over a field section's bytes, in order, split
 * anywhere: an LF only after a CR, no line that begins with SP or HTAB, and an
 * empty line that is CR LF and nothing else.  Only the bytes around each LF
 * matter, and memchr() finds those; a CR inside a line is llhttp's to refuse
 * (strict mode does, everywhere: the unit tests and fuzz-http's oracle check
 * it).  Returns false at the first byte that breaks a rule. */
static bool lines_ok(uint8_t *state, const char *p, size_t n)
{
	const char *end = p + n;
	uint8_t st = *state;

	while (p < end) {
		char c = *p;

		switch (st) {
		case LINE_START:
			if (c == ' ' || c == '\t' || c == '\n')
				return false;	/* folded, before the first field line, bare LF */
			if (c == '\r') {
				st = LINE_END;
				p++;
			} else {
				st = LINE_TEXT;
			}
			break;
		case LINE_END:
			if (c != '\n')
				return false;	/* CR LF CR and another byte */
			st = LINE_START;
			p++;
			break;
		case LINE_CR:
			if (c == '\n') {
				st = LINE_START;
				p++;
			} else {
				st = LINE_TEXT;
			}
			break;
		case LINE_LEAD:
			if (c == '\r' || c == '\n') {
				p++;
				break;
			}
			st = LINE_TEXT;
			/* fall through */
		default:
			/* From LF to LF while each line begins with a byte that
			 * LINE_START would take as text: the lines of a head,
			 * one memchr() each, with no turn of the switch. */
			for (;;) {
				const char *lf = memchr(p, '\n', (size_t)(end - p));

				if (!lf) {
					st = end[-1] == '\r' ? LINE_CR : LINE_TEXT;
					p = end;
					break;
				}
				if (lf == p || lf[-1] != '\r')
					return false;	/* a bare LF */
				p = lf + 1;
				if (p == end || ((unsigned char)*p <= ' ' &&
						 (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))) {
					st = LINE_START;
					break;
				}
			}
		}
	}
	*state = st;
	return true;
}

/* Where a Host value is in uri-host [":" port] (RFC 9112 section 3.2, RFC
 * 3986): a reg-name of unreserved characters, sub-delims and %XX, or an IP
 * literal in brackets; then digits after a colon, then trailing OWS. */
enum { HOST_START, HOST_NAME, HOST_PCT1, HOST_PCT2, HOST_LITERAL, HOST_LITERAL_END,
       HOST_PORT, HOST_TRAIL, HOST_BAD };

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The bytes of a reg-name: unreserved and sub-delims (RFC 3986).  A table,
 * since every byte of every Host goes through it (range designators: a GNU C
 * extension, in gcc and clang). */
static const bool regname[256] = {
	['a' ... 'z'] = true, ['A' ... 'Z'] = true, ['0' ... '9'] = true,
	['-'] = true, ['.'] = true, ['_'] = true, ['~'] = true,
	['!'] = true, ['$'] = true, ['&'] = true, ['\''] = true, ['('] = true, [')'] = true,
	['*'] = true, ['+'] = true, [','] = true, [';'] = true, ['='] = true,
};

static uint8_t host_step(uint8_t st, unsigned char c)
{
	bool ows = c == ' ' || c == '\t';

	switch (st) {
	case HOST_START:
		if (c == '[')
			return HOST_LITERAL;
		/* fall through */
	case HOST_NAME:
		if (c == '%')
			return HOST_PCT1;
		if (c == ':')
			return HOST_PORT;
		if (ows)
			return HOST_TRAIL;
		return regname[c] ? HOST_NAME : HOST_BAD;
	case HOST_PCT1:
		return is_hex(c) ? HOST_PCT2 : HOST_BAD;
	case HOST_PCT2:
		return is_hex(c) ? HOST_NAME : HOST_BAD;
	case HOST_LITERAL:
		if (c == ']')
			return HOST_LITERAL_END;
		return regname[c] || c == ':' ? HOST_LITERAL : HOST_BAD;
	case HOST_LITERAL_END:
		if (c == ':')
			return HOST_PORT;
		return ows ? HOST_TRAIL : HOST_BAD;
	case HOST_PORT:
		if (c >= '0' && c <= '9')
			return HOST_PORT;
		return ows ? HOST_TRAIL : HOST_BAD;
	case HOST_TRAIL:
		return ows ? HOST_TRAIL : HOST_BAD;
	}
	return HOST_BAD;
}

static bool host_complete(uint8_t st)
{
	return st == HOST_START || st == HOST_NAME || st == HOST_LITERAL_END ||
	       st == HOST_PORT || st == HOST_TRAIL;
}

/* The framing rules checked once the head is complete (see the top). */
static bool head_ok(const struct session *s)
{
	const struct http_req *r = &s->req;
	const llhttp_t *p = &s->parser;
	bool http11 = p->http_major == 1 && p->http_minor == 1;
	bool http10 = p->http_major == 1 && p->http_minor == 0;

	if (r->hosts > 1 || r->host_bad || (http11 && r->hosts == 0))
		return false;
	if (r->te_bad || (r->te_seen && ((p->flags & F_CONTENT_LENGTH) || http10)))
		return false;
	return true;
}

/* ---- parser callbacks ---- */

static void req_reset(struct http_req *r)
{
	if (r->url != r->url_small)
		free(r->url);
	if (r->body)
		free(r->body);
	memset(r, 0, offsetof(struct http_req, url));
	r->url = r->url_small;
}

static int on_message_begin(llhttp_t *p)
{
	struct session *s = p->data;

	req_reset(&s->req);
	s->req.phase = PH_HEAD;
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct http_req *r = &((struct session *)p->data)->req;

	if (r->url_len + n > HDR_MAX) {		/* cannot happen: the feed is capped */
		r->url_overflow = true;
		return -1;
	}
	if (r->url == r->url_small && r->url_len + n > URL_INLINE) {
		char *big = malloc(HDR_MAX);
		if (!big) {
			STAT_ADD(((struct session *)p->data)->st, errors, 1);
			r->oom = true;
			return -1;
		}
		memcpy(big, r->url_small, r->url_len);
		r->url = big;
	}
	memcpy(r->url + r->url_len, at, n);
	r->url_len += (uint32_t)n;
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct http_req *r = &((struct session *)p->data)->req;

	/* Only the names we look for matter, and none is longer. */
	if (r->name_len + n <= FIELD_NAME_MAX)
		memcpy(r->name + r->name_len, at, n);
	r->name_len += (uint32_t)n;
	return 0;
}

/* The field name is lit in any case.  lit is lower case and n bytes long, as
 * the name is (4 to FIELD_NAME_MAX); fold has 0x20 (' ') where lit has a
 * letter and 0 elsewhere.  A letter's two cases differ in bit 0x20 alone, so
 * the name matches exactly when name | fold == lit, byte for byte: compared 4
 * bytes at a time, the last 4 overlapping the ones before. */
static bool name_is(const struct http_req *r, const char *lit, const char *fold, size_t n)
{
	for (size_t i = 0;; i += 4) {
		uint32_t a, f, l;

		if (i + 4 > n)
			i = n - 4;
		memcpy(&a, r->name + i, 4);
		memcpy(&f, fold + i, 4);
		memcpy(&l, lit + i, 4);
		if ((a | f) != l)
			return false;
		if (i + 4 == n)
			return true;
	}
}

/* The names we look for differ in length: the length picks the one to
 * compare with, if any. */
static int on_header_field_complete(llhttp_t *p)
{
	struct http_req *r = &((struct session *)p->data)->req;
	uint32_t n = r->name_len;

	r->name_len = 0;
	r->field = FIELD_OTHER;
	if (n == 0)
		return -1;	/* ": value" */
	if (r->phase == PH_TRAILERS) {
		/* Framing was decided by the head; node refuses this one too. */
		return n == 14 && name_is(r, "content-length", "       \0      ", 14) ? -1 : 0;
	}
	if (n == 4 && name_is(r, "host", "    ", 4)) {
		r->field = FIELD_HOST;
		r->host_state = HOST_START;
		if (r->hosts < 2)
			r->hosts++;
	} else if (n == 6 && name_is(r, "expect", "      ", 6)) {
		r->field = FIELD_EXPECT;
		r->value_match = 0;
	} else if (n == 17 && name_is(r, "transfer-encoding", "        \0        ", 17)) {
		r->field = FIELD_TE;
		r->te_seen = true;
		r->te_empty = true;	/* until a coding shows up */
	}
	return 0;
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

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct http_req *r = &((struct session *)p->data)->req;

	if (r->field == FIELD_HOST) {
		const unsigned char *a = (const unsigned char *)at, *end = a + n;
		uint8_t st = r->host_state;

		while (a < end) {
			/* Runs of name or port bytes change nothing, and a value
			 * that does not open with '[' begins as a name does:
			 * host_step takes HOST_START's bytes as HOST_NAME's. */
			if (st == HOST_NAME || (st == HOST_START && *a != '[')) {
				while (a < end && regname[*a])
					a++;
				st = HOST_NAME;
				if (a == end)
					break;	/* (after one name byte at least) */
			} else if (st == HOST_PORT) {
				while (a < end && *a >= '0' && *a <= '9')
					a++;
				if (a == end)
					break;
			}
			st = host_step(st, *a++);
		}
		r->host_state = st;
	} else if (r->field == FIELD_TE) {
		/* Leading whitespace is not part of the value: any byte is a coding. */
		r->te_empty = r->te_empty && n == 0;
	} else if (r->field == FIELD_EXPECT) {
		/* llhttp strips leading whitespace from values, not trailing. */
		for (size_t i = 0; i < n && r->value_match >= 0; i++) {
			if (r->value_match == 12 && (at[i] == ' ' || at[i] == '\t'))
				continue;
			match_piece(&r->value_match, "100-continue", at + i, 1);
		}
	}
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct http_req *r = &((struct session *)p->data)->req;

	if (r->field == FIELD_HOST && !host_complete(r->host_state))
		r->host_bad = true;
	else if (r->field == FIELD_TE && r->te_empty)
		r->te_bad = true;
	else if (r->field == FIELD_EXPECT && r->value_match == 12)
		r->expect_continue = true;
	r->field = FIELD_OTHER;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct session *s = p->data;

	/* Without a body the request is complete at once: its head is dealt
	 * with at on_message_complete, one pause instead of two. */
	if (!(p->flags & (F_CHUNKED | F_TRANSFER_ENCODING)) && p->content_length == 0)
		return 0;
	s->pause = PAUSE_HEADERS;
	return HPE_PAUSED;
}

/* The last chunk (size 0): a trailer section follows. */
static int on_chunk_header(llhttp_t *p)
{
	struct session *s = p->data;

	if (p->content_length > 0)
		return 0;
	s->pause = PAUSE_TRAILERS;
	return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct session *s = p->data;
	struct http_req *r = &s->req;
	uint64_t max = s->srv->opts.max_body;

	if (r->act == ACT_ECHO) {	/* Content-Length, checked against max */
		if (out_append(s, at, n) < 0) {
			r->oom = true;
			return -1;
		}
		return 0;
	}
	if (r->body_len + n > max) {
		r->too_large = true;
		return -1;
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
				return -1;
			}
			r->body = b;
			r->body_cap = cap;
		}
		memcpy(r->body + r->body_len, at, n);
	}
	r->body_len += n;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct session *s = p->data;

	s->pause = PAUSE_MESSAGE;
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_chunk_header = on_chunk_header,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- the request, step by step ---- */

/* The head is complete.  Returns false when the request failed there. */
static bool headers_done(struct session *s)
{
	struct http_req *r = &s->req;
	llhttp_t *p = &s->parser;
	bool chunked = p->flags & F_CHUNKED;
	uint64_t clen = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;

	r->phase = PH_BODY;
	r->head = p->method == HTTP_HEAD;
	r->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
	r->ka_header = r->keep_alive && p->http_major == 1 && p->http_minor == 0;
	/* A Transfer-Encoding other than chunked: llhttp rejects it only after
	 * this callback, too late for a response head already queued. */
	if (!head_ok(s) || ((p->flags & F_TRANSFER_ENCODING) && !chunked)) {
		fail(s, 400);
		return false;
	}
	route(s);
	if (!chunked && clen > s->srv->opts.max_body) {
		fail(s, 413);
		return false;
	}
	/* 100 Continue only to HTTP/1.1 clients that will send a body. */
	if (r->expect_continue && (chunked || clen > 0) &&
	    p->http_major == 1 && p->http_minor >= 1 &&
	    out_append(s, CONTINUE_100, sizeof CONTINUE_100 - 1) < 0)
		return false;
	if (r->act == ACT_ECHO) {
		if (chunked) {
			r->act = ACT_ECHO_CHUNKED;
		} else if (put_head(s, 200, CT_OCTET, clen) == 0) {
			r->resp_started = true;
		}
	}
	return true;
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

	/* A trailer section may say Connection: close (llhttp then refuses
	 * whatever follows): the response says so, and we close. */
	if (r->keep_alive && (s->parser.flags & F_CHUNKED) && !llhttp_should_keep_alive(&s->parser))
		r->keep_alive = false;
	r->phase = PH_IDLE;
	s->hdr_bytes = 0;
	s->lines = LINE_LEAD;
	switch (r->act) {
	case ACT_HELLO:
		respond_canned(s, canned_hello);
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
	case ACT_SLEEP:
		s->work.kind = WORK_SLEEP;
		s->work.ms = r->arg;
		s->work_pending = true;
		break;
	case ACT_BYTES:
		respond_bytes(s, r->arg);
		break;
	case ACT_DB:
	case ACT_QUERIES:
		db_start(s);
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

/* The parser stopped in a callback: carry on from where it stopped. */
static void paused(struct session *s)
{
	llhttp_resume(&s->parser);
	switch (s->pause) {
	case PAUSE_HEADERS:
		headers_done(s);
		break;
	case PAUSE_TRAILERS:
		s->req.phase = PH_TRAILERS;
		s->hdr_bytes = 0;
		s->lines = LINE_START;	/* right after the last chunk's CRLF */
		break;
	case PAUSE_MESSAGE:
		/* Without a body the head waited until now. */
		if (s->req.phase != PH_HEAD || headers_done(s))
			message_done(s);
		break;
	case PAUSE_NONE:
		break;
	}
}

static void parse_failed(struct session *s)
{
	struct http_req *r = &s->req;

	if (r->oom)
		s->closing = true;	/* counted where the allocation failed */
	else if (r->too_large)
		fail(s, 413);
	else if (r->url_overflow)
		fail(s, 431);
	else
		fail(s, 400);
}

size_t http_feed(struct session *s, const char *p, size_t len)
{
	size_t used = 0;
	/* llhttp stops after a head's last byte; a request without a body then
	 * completes without another byte, once llhttp is called again -- with no
	 * bytes at all if the head's answer (100 Continue, the head of a streamed
	 * echo) filled the output queue. */
	bool head_done = false;

	while (!s->closing) {
		bool can = http_can_parse(s);
		bool in_fields = s->req.phase != PH_BODY;
		const char *at = p + used;
		size_t chunk = can ? len - used : 0;

		if (!head_done && (used >= len || !can))
			break;

		if (in_fields && chunk > HDR_MAX + 1 - s->hdr_bytes)
			chunk = HDR_MAX + 1 - s->hdr_bytes;
		s->pause = PAUSE_NONE;
		llhttp_errno_t e = llhttp_execute(&s->parser, at, chunk);
		/* Stopped in a callback or at an error: up to where it stopped. */
		size_t n = e == HPE_OK ? chunk : (size_t)(llhttp_get_error_pos(&s->parser) - at);

		used += n;
		head_done = false;
		if (in_fields) {
			s->hdr_bytes += (uint32_t)n;
			if (!lines_ok(&s->lines, at, n)) {
				fail(s, 400);
				continue;
			}
		}
		if (e == HPE_PAUSED && !(in_fields && s->hdr_bytes > HDR_MAX)) {
			head_done = s->pause == PAUSE_HEADERS;
			paused(s);
		} else if (e == HPE_PAUSED_UPGRADE) {
			s->closing = true;	/* we close after an upgrade anyway */
		} else if (e != HPE_OK && e != HPE_PAUSED) {
			parse_failed(s);
		} else if (in_fields && s->hdr_bytes > HDR_MAX) {
			fail(s, 431);
		}
	}
	return used;
}

void http_work_done(struct session *s)
{
	static const char hex[] = "0123456789abcdef";
	char b[8];

	switch (s->work.kind) {
	case WORK_CPU:
		for (int i = 0; i < 8; i++)
			b[i] = hex[(s->work.checksum >> (28 - 4 * i)) & 0xf];
		respond(s, 200, CT_TEXT, b, 8);
		break;
	case WORK_BLOCK:
	case WORK_SLEEP:
		respond_canned(s, canned_ok);
		break;
	case WORK_DB:
		respond_db(s);
		db_query_release(&s->db);
		break;
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
	pthread_once(&canned_once, canned_init);
	llhttp_init(&s->parser, HTTP_REQUEST, &settings);
	s->parser.data = s;
	s->lines = LINE_LEAD;
	s->req.url = s->req.url_small;
}

void http_free(struct session *s)
{
	req_reset(&s->req);
}
