/* libFuzzer target: the HTTP core of servers/common through the public session
 * API, as a model drives it, with a hostile client and a hostile scheduler.
 *
 * One input is one connection (fuzz.h gives the layout).  The PRNG decides, at
 * every step, whether the "model" reads the next piece of the request (any
 * size, at any split point), writes part of the pending output, takes the
 * work the session asks for, finishes work taken earlier, sends EOF once all
 * bytes are in, or (flag) starts a SIGTERM drain.  Work runs "instantly": no
 * sleep for /block or /sleep, and /cpu computes its checksum only when it is
 * cheap.
 *
 * What must hold, beyond ASan/UBSan/LSan:
 * - the output is a sequence of well-formed HTTP/1.1 responses, one per
 *   request in order, each the one docs/contract.md prescribes (status, Allow,
 *   Connection, body), as an independent request parser predicts: the same
 *   library fed byte by byte, with the routing rules and the framing rules of
 *   servers/common/http.c (lines, Host, Transfer-Encoding) restated here;
 * - nothing follows a response that says Connection: close;
 * - the session never wedges: whenever it has no output and no work for us,
 *   it either wants input or is done;
 * - after EOF, once the output is drained, session_done() is true, and the
 *   stats agree with what the client saw (responses, bytes in and out).
 */
#include <ctype.h>
#include <llhttp.h>
#include <stdbool.h>
#include <strings.h>

#include "common/server.h"
#include "common/session.h"
#include "common/work.h"
#include "fuzz.h"

#define F_SMALL_BODY	0x01	/* --max-body 64 instead of 64 MiB */
#define F_RUDE		0x02	/* one more read after a read that made the session
				   stop wanting input (libuv's read loop can) */
#define F_DRAIN		0x04	/* SIGTERM (session_drain) at a step the PRNG picks */
#define F_LAZY_WORK	0x08	/* work finishes a few steps after it is taken */

#define K		3	/* --cpu-iters-per-us */
#define CPU_EXACT_MAX	200000	/* units computed for real, so the checksum is checked */
#define CPU_FAKE	0x5eedf00du
#define HDR_LIMIT	8192
#define BODY_CHECK_MAX	(1u << 20)	/* body bytes compared per response */

enum route { R_HELLO, R_CPU, R_BLOCK, R_SLEEP, R_BYTES, R_ECHO, R_OTHER };

/* What the contract says the response to one request is. */
struct expect {
	int status;
	const char *allow;
	bool head;		/* no body in the response */
	bool closes;		/* Connection: close (request asked, or an error) */
	bool ka_header;		/* HTTP/1.0 keep-alive: Connection: keep-alive */
	enum route route;
	uint64_t arg;
	bool streamed;		/* POST /echo with Content-Length: head sent early */
	bool complete;		/* the request was complete in the input */
	char *body;		/* POST /echo: the request body */
	size_t body_len;
};

/* ---- the requests, as an independent parser sees them ---- */

struct tracker {
	llhttp_t p;
	uint64_t max_body;
	struct expect *exp;
	int n, cap;
	bool stopped;		/* the server parses nothing after this point */
	bool in_msg;		/* a request has begun */
	bool in_body;
	bool in_trailers;	/* a chunked body's trailer section */
	uint32_t hdr;		/* field-section bytes of the current request */
	int prev;		/* the section's previous byte; -1: none yet */
	bool bad_field;		/* a field line without a name */
	char name[32];		/* the current field's name, lowercased (truncated) */
	size_t name_len;
	char value[HDR_LIMIT + 2];	/* and its value */
	size_t value_len;
	int hosts;
	bool host_bad, te_seen, te_empty;
	char url[HDR_LIMIT + 2];
	size_t url_len;
	size_t body_cap;
	uint64_t body_seen;
};

static int query_u64(const char *q, size_t qlen, const char *key, uint64_t max, uint64_t *out)
{
	size_t klen = strlen(key);
	const char *end = q + qlen;

	/* docs/contract.md: the first pair with that key decides; digits only. */
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pe = amp ? amp : end;

		if ((size_t)(pe - q) > klen && memcmp(q, key, klen) == 0 && q[klen] == '=') {
			uint64_t v = 0;
			const char *d = q + klen + 1;

			if (d == pe)
				return -1;
			for (; d < pe; d++) {
				if (*d < '0' || *d > '9')
					return -1;
				v = v * 10 + (uint64_t)(*d - '0');
				if (v > max)
					return -1;
			}
			*out = v;
			return 0;
		}
		q = amp ? amp + 1 : end;
	}
	return -1;
}

static struct expect *cur(struct tracker *t)
{
	return &t->exp[t->n - 1];
}

static void push(struct tracker *t)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->exp = realloc(t->exp, (size_t)t->cap * sizeof *t->exp);
		FUZZ_CHECK(t->exp != NULL, "out of memory");
	}
	t->n++;
	memset(cur(t), 0, sizeof *cur(t));
}

/* The server answers this one (an error) and parses nothing more. */
static void stop_with(struct tracker *t, int status, bool head)
{
	struct expect *e;

	if (!t->in_msg)
		push(t);
	e = cur(t);
	if (e->streamed) {
		/* A streamed response has begun: the server can only close. */
		t->stopped = true;
		return;
	}
	e->status = status;
	e->allow = NULL;
	e->head = head;
	e->closes = true;
	e->ka_header = false;
	e->route = R_OTHER;
	e->complete = true;
	t->stopped = true;
}

static int tr_begin(llhttp_t *p)
{
	struct tracker *t = p->data;

	push(t);
	t->in_msg = true;
	t->url_len = 0;
	t->body_cap = 0;
	t->body_seen = 0;
	t->hosts = 0;
	t->host_bad = t->te_seen = t->te_empty = false;
	return 0;
}

static int tr_url(llhttp_t *p, const char *at, size_t n)
{
	struct tracker *t = p->data;

	if (t->url_len + n <= sizeof t->url) {
		memcpy(t->url + t->url_len, at, n);
		t->url_len += n;
	}
	return 0;
}

/* Sets route, status and allow as the contract's table says; -1 for a URL
 * the server cannot parse (400, then close). */
static void route_of(struct tracker *t, struct expect *e, unsigned method)
{
	/* The target as server.js splits it: no fragment; http(s)://authority
	 * dropped from an absolute-form target, "/" in its place when no path
	 * follows.  u[0] is room for that "/" when the authority is empty. */
	char u[HDR_LIMIT + 3];
	char *v = u + 1;

	memcpy(v, t->url, t->url_len);
	v[t->url_len] = '\0';
	v[strcspn(v, "#")] = '\0';
	if (strncasecmp(v, "http://", 7) == 0 || strncasecmp(v, "https://", 8) == 0) {
		v += v[4] == ':' ? 7 : 8;
		v += strcspn(v, "/?");
		if (*v != '/')
			*--v = '/';
	}
	const char *path = v;
	size_t plen = strcspn(path, "?");
	const char *query = path[plen] ? path + plen + 1 : "";
	size_t qlen = strlen(query);

#define IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
	e->route = R_OTHER;
	e->status = 200;
	if (IS("/")) {
		e->route = R_HELLO;
		if (method != HTTP_GET)
			e->status = 405, e->allow = "GET";
	} else if (IS("/cpu") || IS("/block")) {
		e->route = IS("/cpu") ? R_CPU : R_BLOCK;
		if (method != HTTP_GET)
			e->status = 405, e->allow = "GET";
		else if (query_u64(query, qlen, "us", 10000000, &e->arg) < 0)
			e->status = 400;
	} else if (IS("/sleep")) {
		e->route = R_SLEEP;
		if (method != HTTP_GET)
			e->status = 405, e->allow = "GET";
		else if (query_u64(query, qlen, "ms", 60000, &e->arg) < 0)
			e->status = 400;
	} else if (IS("/bytes")) {
		e->route = R_BYTES;
		if (method != HTTP_GET)
			e->status = 405, e->allow = "GET";
		else if (query_u64(query, qlen, "n", 67108864, &e->arg) < 0)
			e->status = 400;
	} else if (IS("/db") || IS("/queries")) {
		/* The fuzzed server has no --db: 503, whatever n says. */
		if (method != HTTP_GET)
			e->status = 405, e->allow = "GET";
		else
			e->status = 503;
	} else if (IS("/echo")) {
		e->route = R_ECHO;
		if (method != HTTP_POST)
			e->status = 405, e->allow = "POST";
	} else {
		e->status = 404;
	}
#undef IS
}

/* A Host value: uri-host [":" port], then optional whitespace (RFC 9112
 * section 3.2 and RFC 3986), judged on the whole value at once. */
static bool host_valid(const char *v, size_t n)
{
	static const char name[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789-._~!$&'()*+,;=";
	char h[HDR_LIMIT + 2];
	size_t i = 0;

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	memcpy(h, v, n);
	h[n] = '\0';
	if (memchr(h, '\0', n))
		return false;
	if (h[0] == '[') {
		i = 1 + strspn(h + 1, name);
		for (; h[i] == ':'; i += 1 + strspn(h + i + 1, name))
			;
		if (h[i] != ']')
			return false;
		i++;
	} else {
		for (;;) {
			i += strspn(h + i, name);
			if (h[i] != '%')
				break;
			if (!isxdigit((unsigned char)h[i + 1]) || !isxdigit((unsigned char)h[i + 2]))
				return false;
			i += 3;
		}
	}
	if (h[i] == ':')
		i += 1 + strspn(h + i + 1, "0123456789");
	return i == n;
}

static int tr_field(llhttp_t *p, const char *at, size_t n)
{
	struct tracker *t = p->data;

	for (size_t i = 0; i < n; i++, t->name_len++)
		if (t->name_len < sizeof t->name - 1)
			t->name[t->name_len] = (char)tolower((unsigned char)at[i]);
	return 0;
}

static int tr_field_done(llhttp_t *p)
{
	struct tracker *t = p->data;

	t->name[t->name_len < sizeof t->name ? t->name_len : sizeof t->name - 1] = '\0';
	/* A field needs a name; a trailer section has no Content-Length. */
	if (t->name_len == 0 || (t->in_trailers && strcmp(t->name, "content-length") == 0))
		t->bad_field = true;
	t->value_len = 0;
	return 0;
}

static int tr_value(llhttp_t *p, const char *at, size_t n)
{
	struct tracker *t = p->data;

	if (t->value_len + n <= HDR_LIMIT) {
		memcpy(t->value + t->value_len, at, n);
		t->value_len += n;
	}
	return 0;
}

static int tr_value_done(llhttp_t *p)
{
	struct tracker *t = p->data;

	if (!t->in_trailers && t->name_len == 4 && strcmp(t->name, "host") == 0) {
		t->hosts++;
		t->host_bad = t->host_bad || !host_valid(t->value, t->value_len);
	} else if (!t->in_trailers && t->name_len == 17 && strcmp(t->name, "transfer-encoding") == 0) {
		t->te_seen = true;
		t->te_empty = t->te_empty || t->value_len == 0;	/* no coding named */
	}
	t->name_len = 0;
	return 0;
}

static int tr_headers(llhttp_t *p)
{
	struct tracker *t = p->data;
	struct expect *e = cur(t);
	bool chunked = p->flags & F_CHUNKED;
	uint64_t clen = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;
	bool v11 = p->http_major == 1 && p->http_minor == 1;
	bool v10 = p->http_major == 1 && p->http_minor == 0;

	t->in_body = true;
	e->head = p->method == HTTP_HEAD;
	if (t->hdr > HDR_LIMIT) {
		stop_with(t, 431, e->head);
		return 0;
	}
	bool ka = llhttp_should_keep_alive(p) && !p->upgrade;
	e->closes = !ka;
	e->ka_header = ka && v10;
	/* RFC 9112 sections 3.2, 6.1 and 6.3, as servers/common/http.c has them. */
	if (t->hosts > 1 || t->host_bad || (v11 && t->hosts == 0) ||
	    (t->te_seen && ((p->flags & F_CONTENT_LENGTH) || v10 || t->te_empty)) ||
	    ((p->flags & F_TRANSFER_ENCODING) && !chunked)) {
		stop_with(t, 400, e->head);
		return 0;
	}
	route_of(t, e, p->method);
	if (!chunked && clen > t->max_body) {
		stop_with(t, 413, e->head);
		return 0;
	}
	if (e->route == R_ECHO && e->status == 200 && !chunked)
		e->streamed = true;
	return 0;
}

/* The last chunk: a trailer section follows, with the head's line rules and
 * a limit of its own. */
static int tr_chunk(llhttp_t *p)
{
	struct tracker *t = p->data;

	if (p->content_length == 0) {
		t->in_trailers = true;
		t->hdr = 0;
		t->prev = '\n';
	}
	return 0;
}

static int tr_body(llhttp_t *p, const char *at, size_t n)
{
	struct tracker *t = p->data;
	struct expect *e = cur(t);

	if (!(p->flags & F_CHUNKED) || t->body_seen + n <= t->max_body) {
		t->body_seen += n;
	} else {
		stop_with(t, 413, e->head);
		return -1;
	}
	if (e->route == R_ECHO && e->status == 200) {
		if (e->body_len + n > t->body_cap) {
			size_t cap = t->body_cap ? t->body_cap * 2 : 256;
			while (cap < e->body_len + n)
				cap *= 2;
			e->body = realloc(e->body, cap);
			FUZZ_CHECK(e->body != NULL, "out of memory");
			t->body_cap = cap;
		}
		memcpy(e->body + e->body_len, at, n);
		e->body_len += n;
	}
	return 0;
}

static int tr_complete(llhttp_t *p)
{
	struct tracker *t = p->data;
	struct expect *e = cur(t);

	if (t->in_trailers && t->hdr > HDR_LIMIT) {
		stop_with(t, 431, e->head);
		return 0;
	}
	/* A trailer Connection: close: the response closes. */
	if ((p->flags & F_CHUNKED) && !llhttp_should_keep_alive(p))
		e->closes = true;
	e->complete = true;
	t->in_msg = false;
	t->in_body = false;
	t->in_trailers = false;
	t->hdr = 0;
	t->prev = -1;
	if (e->closes)
		t->stopped = true;
	return 0;
}

static const llhttp_settings_t tr_settings = {
	.on_message_begin = tr_begin,
	.on_url = tr_url,
	.on_header_field = tr_field,
	.on_header_field_complete = tr_field_done,
	.on_header_value = tr_value,
	.on_header_value_complete = tr_value_done,
	.on_headers_complete = tr_headers,
	.on_chunk_header = tr_chunk,
	.on_body = tr_body,
	.on_message_complete = tr_complete,
};

/* A field section's lines end in CR LF, and none begins with SP or HTAB;
 * before a request line, CRs and LFs are skipped. */
static bool line_ok(struct tracker *t, int c)
{
	int prev = t->prev;

	if (prev < 0 && !t->in_msg && (c == '\r' || c == '\n'))
		return true;
	t->prev = c;
	if (prev == '\r')
		return c == '\n';
	if (c == '\n')
		return false;
	return !(prev == '\n' && (c == ' ' || c == '\t'));
}

/* Byte by byte, so the header-block limit is applied exactly where the server
 * applies it. */
static void track(struct tracker *t, const uint8_t *in, size_t len, uint64_t max_body)
{
	struct expect *keep = t->exp;
	int cap = t->cap;

	memset(t, 0, sizeof *t);
	t->exp = keep;
	t->cap = cap;
	t->max_body = max_body;
	t->prev = -1;
	llhttp_init(&t->p, HTTP_REQUEST, &tr_settings);
	t->p.data = t;
	for (size_t i = 0; i < len && !t->stopped; i++) {
		bool in_fields = !t->in_body || t->in_trailers;

		if (in_fields) {
			t->hdr++;
			if (!line_ok(t, in[i])) {
				stop_with(t, 400, t->in_body && cur(t)->head);
				break;
			}
		}
		llhttp_errno_t e = llhttp_execute(&t->p, (const char *)in + i, 1);
		if (t->stopped)
			break;
		if (e == HPE_PAUSED_UPGRADE)
			break;		/* only after a request the server closes after */
		if (e != HPE_OK || t->bad_field) {
			stop_with(t, 400, t->in_body && cur(t)->head);
			break;
		}
		if (in_fields && (!t->in_body || t->in_trailers) && t->hdr > HDR_LIMIT) {
			stop_with(t, 431, false);
			break;
		}
	}
}

/* ---- the responses, checked against the expectations ---- */

/* The contract's phrases (RFC 9110), not llhttp's table. */
static const char *reason(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default:  return "?";
	}
}

struct checker {
	llhttp_t p;
	const struct tracker *t;
	bool drained;
	int idx;		/* the response being read: exp[idx] */
	int finals;		/* complete final (non-1xx) responses */
	bool closed;		/* a Connection: close response was complete */
	bool in_msg;
	/* the current response */
	char status_text[40];
	size_t status_len;
	char field[32];
	size_t field_len;
	bool in_value;
	char ctype[64], conn[32], allow[16];
	size_t ctype_len, conn_len, allow_len;
	int nheaders;
	bool have_clen;
	uint64_t body_len;
	char body_start[16];
};

static const struct expect *want(const struct checker *c)
{
	FUZZ_CHECK(c->idx < c->t->n, "response %d but only %d requests", c->idx + 1, c->t->n);
	return &c->t->exp[c->idx];
}

static int ck_begin(llhttp_t *p)
{
	struct checker *c = p->data;

	FUZZ_CHECK(!c->closed, "bytes after a Connection: close response");
	c->in_msg = true;
	c->status_len = c->field_len = c->ctype_len = c->conn_len = c->allow_len = 0;
	c->in_value = false;
	c->nheaders = 0;
	c->have_clen = false;
	c->body_len = 0;
	return 0;
}

static void append(char *dst, size_t *len, size_t cap, const char *at, size_t n)
{
	FUZZ_CHECK(*len + n < cap, "header value too long");
	memcpy(dst + *len, at, n);
	*len += n;
	dst[*len] = '\0';
}

static int ck_status(llhttp_t *p, const char *at, size_t n)
{
	struct checker *c = p->data;

	append(c->status_text, &c->status_len, sizeof c->status_text, at, n);
	return 0;
}

static int ck_field(llhttp_t *p, const char *at, size_t n)
{
	struct checker *c = p->data;

	if (c->in_value) {
		c->in_value = false;
		c->field_len = 0;
	}
	append(c->field, &c->field_len, sizeof c->field, at, n);
	return 0;
}

static int ck_value(llhttp_t *p, const char *at, size_t n)
{
	struct checker *c = p->data;

	if (!c->in_value) {
		c->in_value = true;
		c->nheaders++;
		/* Exactly these headers, in this order (docs/contract.md). */
		FUZZ_CHECK(strcmp(c->field, "Content-Type") == 0 || strcmp(c->field, "Content-Length") == 0 ||
			   strcmp(c->field, "Allow") == 0 || strcmp(c->field, "Connection") == 0,
			   "unexpected header '%s'", c->field);
		if (strcmp(c->field, "Content-Length") == 0)
			c->have_clen = true;
	}
	if (strcmp(c->field, "Content-Type") == 0)
		append(c->ctype, &c->ctype_len, sizeof c->ctype, at, n);
	else if (strcmp(c->field, "Connection") == 0)
		append(c->conn, &c->conn_len, sizeof c->conn, at, n);
	else if (strcmp(c->field, "Allow") == 0)
		append(c->allow, &c->allow_len, sizeof c->allow, at, n);
	return 0;
}

static int ck_headers(llhttp_t *p)
{
	struct checker *c = p->data;

	FUZZ_CHECK(p->http_major == 1 && p->http_minor == 1, "not HTTP/1.1");
	FUZZ_CHECK(strcmp(c->status_text, reason((int)p->status_code)) == 0,
		   "status %u '%s'", p->status_code, c->status_text);
	if (p->status_code == 100) {
		FUZZ_CHECK(c->nheaders == 0, "100 Continue with headers");
		return 0;
	}
	const struct expect *e = want(c);
	FUZZ_CHECK(c->have_clen, "no Content-Length");
	FUZZ_CHECK((int)p->status_code == e->status, "response %d: status %u, expected %d",
		   c->idx + 1, p->status_code, e->status);
	FUZZ_CHECK(strcmp(c->ctype, e->status == 200 && (e->route == R_BYTES || e->route == R_ECHO) ?
			  "application/octet-stream" : "text/plain") == 0,
		   "response %d: Content-Type '%s'", c->idx + 1, c->ctype);
	if (e->status == 405)
		FUZZ_CHECK(strcmp(c->allow, e->allow) == 0, "Allow '%s', expected %s", c->allow, e->allow);
	else
		FUZZ_CHECK(c->allow_len == 0, "Allow on a %d", e->status);
	if (e->closes)
		FUZZ_CHECK(strcmp(c->conn, "close") == 0, "response %d: Connection '%s', expected close",
			   c->idx + 1, c->conn);
	else if (strcmp(c->conn, "close") == 0)
		FUZZ_CHECK(c->drained, "response %d: Connection: close on a keep-alive request", c->idx + 1);
	else if (e->ka_header)
		FUZZ_CHECK(strcmp(c->conn, "keep-alive") == 0, "Connection '%s', expected keep-alive", c->conn);
	else
		FUZZ_CHECK(c->conn_len == 0, "Connection '%s' on a keep-alive request", c->conn);

	/* The body length the contract fixes. */
	uint64_t clen = p->content_length;
	if (e->status != 200)
		FUZZ_CHECK(clen == strlen(reason(e->status)) + 1,
			   "error body length %llu", (unsigned long long)clen);
	else if (e->route == R_HELLO)
		FUZZ_CHECK(clen == 13, "hello length %llu", (unsigned long long)clen);
	else if (e->route == R_BLOCK || e->route == R_SLEEP)
		FUZZ_CHECK(clen == 2, "block/sleep length");
	else if (e->route == R_CPU)
		FUZZ_CHECK(clen == 8, "cpu length");
	else if (e->route == R_BYTES)
		FUZZ_CHECK(clen == e->arg, "bytes length %llu, expected %llu",
			   (unsigned long long)clen, (unsigned long long)e->arg);
	else if (e->route == R_ECHO && e->complete)
		FUZZ_CHECK(clen == e->body_len, "echo length %llu, expected %zu",
			   (unsigned long long)clen, e->body_len);
	return e->head ? 1 : 0;		/* 1: no body follows (HEAD) */
}

static int ck_body(llhttp_t *p, const char *at, size_t n)
{
	struct checker *c = p->data;
	const struct expect *e = want(c);

	for (size_t i = 0; i < n && c->body_len + i < sizeof c->body_start; i++)
		c->body_start[c->body_len + i] = at[i];
	if (e->status == 200 && c->body_len < BODY_CHECK_MAX) {
		size_t k = n;
		if (c->body_len + k > BODY_CHECK_MAX)
			k = BODY_CHECK_MAX - (size_t)c->body_len;
		if (e->route == R_BYTES) {
			for (size_t i = 0; i < k; i++)
				FUZZ_CHECK(at[i] == 'x', "/bytes body byte %llu is %d",
					   (unsigned long long)(c->body_len + i), at[i]);
		} else if (e->route == R_ECHO) {
			FUZZ_CHECK(c->body_len + k <= e->body_len &&
				   memcmp(at, e->body + c->body_len, k) == 0,
				   "echo body differs at %llu", (unsigned long long)c->body_len);
		}
	}
	c->body_len += n;
	return 0;
}

static bool is_hex8(const char *b)
{
	for (int i = 0; i < 8; i++)
		if (!((b[i] >= '0' && b[i] <= '9') || (b[i] >= 'a' && b[i] <= 'f')))
			return false;
	return true;
}

static int ck_complete(llhttp_t *p)
{
	struct checker *c = p->data;

	c->in_msg = false;
	if (p->status_code == 100)
		return 0;

	const struct expect *e = want(c);
	if (e->status == 200 && !e->head) {
		if (e->route == R_HELLO)
			FUZZ_CHECK(memcmp(c->body_start, "Hello, World!", 13) == 0, "hello body");
		else if (e->route == R_BLOCK || e->route == R_SLEEP)
			FUZZ_CHECK(memcmp(c->body_start, "ok", 2) == 0, "block/sleep body");
		else if (e->route == R_CPU) {
			FUZZ_CHECK(is_hex8(c->body_start), "cpu body not 8 hex digits");
			uint64_t units = e->arg * K;
			uint32_t h = units <= CPU_EXACT_MAX ? work_fnv_units(units) : CPU_FAKE;
			char hex[9];
			snprintf(hex, sizeof hex, "%08x", h);
			FUZZ_CHECK(memcmp(c->body_start, hex, 8) == 0, "cpu checksum %.8s, expected %s",
				   c->body_start, hex);
		}
	} else if (e->status != 200 && !e->head) {
		const char *r = reason(e->status);
		FUZZ_CHECK(memcmp(c->body_start, r, strlen(r) < 15 ? strlen(r) : 15) == 0,
			   "error body '%.15s'", c->body_start);
	}
	if (strcmp(c->conn, "close") == 0)
		c->closed = true;
	c->finals++;
	c->idx++;
	return 0;
}

static const llhttp_settings_t ck_settings = {
	.on_message_begin = ck_begin,
	.on_status = ck_status,
	.on_header_field = ck_field,
	.on_header_value = ck_value,
	.on_headers_complete = ck_headers,
	.on_body = ck_body,
	.on_message_complete = ck_complete,
};

static void check_bytes(struct checker *c, const char *p, size_t n)
{
	llhttp_errno_t e = llhttp_execute(&c->p, p, n);

	FUZZ_CHECK(e == HPE_OK, "output is not HTTP: %s after %d responses",
		   llhttp_errno_name(e), c->finals);
}

/* ---- the connection ---- */

static void work_instant(struct work *w)
{
	if (w->kind == WORK_CPU)
		w->checksum = w->units <= CPU_EXACT_MAX ? work_fnv_units(w->units) : CPU_FAKE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tracker t;
	struct checker c;
	struct server srv;
	struct fuzz_rng rng;

	if (size < FUZZ_HDR)
		return 0;
	uint8_t flags = data[0];
	fuzz_rng_init(&rng, data + 1);
	const uint8_t *in = data + FUZZ_HDR;
	size_t len = size - FUZZ_HDR;

	memset(&srv, 0, sizeof srv);
	srv.opts.proto = PROTO_HTTP;
	srv.opts.host = "127.0.0.1";
	srv.opts.idle_timeout_ms = 10000;
	srv.opts.max_body = (flags & F_SMALL_BODY) ? 64 : 67108864;
	srv.model = "fuzz";
	srv.cpu_iters_per_us = K;
	srv.shutdown_fd = -1;

	track(&t, in, len, srv.opts.max_body);
	memset(&c, 0, sizeof c);
	llhttp_init(&c.p, HTTP_RESPONSE, &ck_settings);
	c.p.data = &c;
	c.t = &t;

	struct session *s = session_new(&srv);
	FUZZ_CHECK(s != NULL, "session_new");
	size_t pos = 0;
	uint64_t out_total = 0;
	bool eof = false, drained = false, just_read = false;
	struct work *w = NULL;
	int work_delay = 0;
	/* Enough for the largest output (32 pipelined 64 MiB /bytes at 64 KiB a
	 * step) with room to spare; only a wedge gets near it. */
	long steps = 0, max_steps = 4000000;

	while (!session_done(s)) {
		FUZZ_CHECK(++steps < max_steps, "no end after %ld steps", steps);
		bool progress = false;
		uint32_t pick = fuzz_rand(&rng);
		bool rude = (flags & F_RUDE) && just_read;

		just_read = false;

		if ((flags & F_DRAIN) && !drained && pick % 61 == 0) {
			session_drain(s);
			drained = c.drained = true;
			continue;
		}
		switch (pick % 4) {
		case 0:		/* work */
			if (w) {
				if (work_delay-- > 0)
					break;
				work_instant(w);
				w = NULL;
				session_work_done(s);
				progress = true;
			} else if ((w = session_work(s)) != NULL) {
				FUZZ_CHECK(session_work(s) == NULL, "work handed out twice");
				work_delay = (flags & F_LAZY_WORK) ? (int)(fuzz_rand(&rng) % 4) : 0;
				progress = true;
			}
			break;
		case 1: {	/* write */
			const char *p;
			size_t n = session_output(s, &p);
			if (n == 0)
				break;
			FUZZ_CHECK(p != NULL, "output without a pointer");
			/* A fast peer for bulk output, so 64 MiB bodies stay cheap. */
			size_t k = n >= 4096 && (pick & 0x30) ? n : fuzz_amount(&rng, n);
			check_bytes(&c, p, k);
			out_total += k;
			session_output_sent(s, k);
			progress = true;
			break;
		}
		case 2:		/* read */
			if (pos == len || eof || w || (!session_wants_input(s) && !rude))
				break;
			{
				size_t cap;
				char *buf = session_input_buf(s, &cap);
				FUZZ_CHECK(buf != NULL && cap > 0, "no input buffer");
				size_t k = fuzz_amount(&rng, cap < len - pos ? cap : len - pos);
				memcpy(buf, in + pos, k);
				session_input(s, k);
				pos += k;
				progress = just_read = true;
			}
			break;
		case 3:		/* EOF */
			if (pos < len || eof || w || (!session_wants_input(s) && !rude))
				break;
			session_input_eof(s);
			eof = true;
			progress = true;
			break;
		}
		if (progress)
			continue;
		/* Could the model do anything at all?  If not, the connection
		 * would sit until its idle timeout: a wedge. */
		const char *p;
		bool can = w != NULL || session_output(s, &p) > 0 ||
			   (!eof && session_wants_input(s));
		if (!can) {
			struct work *again = session_work(s);
			FUZZ_CHECK(again != NULL, "wedged: not done, no output, no work, wants no input "
				   "(fed %zu of %zu bytes, eof %d, %d responses)", pos, len, eof, c.finals);
			w = again;
			work_delay = 0;
		}
	}

	/* Done: nothing left to write or run. */
	const char *p;
	FUZZ_CHECK(session_output(s, &p) == 0, "done with output pending");
	FUZZ_CHECK(w == NULL, "done while work is out");
	FUZZ_CHECK(!session_wants_input(s), "done but wants input");
	FUZZ_CHECK(c.finals == (int)srv.stats.requests, "client saw %d responses, stats say %llu",
		   c.finals, (unsigned long long)srv.stats.requests);
	FUZZ_CHECK(out_total == srv.stats.bytes_out, "bytes_out");
	FUZZ_CHECK(pos == srv.stats.bytes_in, "bytes_in");
	FUZZ_CHECK(c.finals <= t.n, "more responses than requests");
	if (c.in_msg) {
		/* Only a streamed echo whose body never came in full can end
		 * mid-response: its head went out before the body arrived. */
		FUZZ_CHECK(c.idx < t.n && t.exp[c.idx].streamed && !t.exp[c.idx].complete,
			   "output ends inside response %d", c.idx + 1);
	}
	if (!drained && eof && !c.closed) {
		/* Every complete request before EOF was answered. */
		int complete = 0;
		for (int i = 0; i < t.n; i++)
			complete += t.exp[i].complete;
		FUZZ_CHECK(c.finals == complete, "%d complete requests, %d responses", complete, c.finals);
	}
	session_free(s);
	FUZZ_CHECK(srv.stats.waiting == 0, "%llu waits still counted after the session is freed",
		   (unsigned long long)srv.stats.waiting);
	for (int i = 0; i < t.n; i++)
		free(t.exp[i].body);
	return 0;
}
