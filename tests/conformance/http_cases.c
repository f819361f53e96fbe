/* HTTP/1.1 cases (docs/contract.md, "HTTP/1.1 — routes and exact bytes") on a server
 * with the default options.  The limits and the idle timeout: http_limits.c. */
#include "suite.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct child srv_main;


static const char HELLO[] = "Hello, World!";

int xfer(struct hconn *h, const char *req, size_t len, struct hresp *r, bool head)
{
	int e = cl_send_all(h->fd, req, len, IO_MS);

	if (e < 0)
		return e;
	return hconn_read(h, r, head, IO_MS);
}


/* --- the routes, statuses and bodies, on one keep-alive connection --- */

struct route_case {
	const char *req;
	int status;
	const char *ctype;	/* NULL: an error response (text/plain, reason + "\n") */
	const char *allow;
	const char *body;	/* NULL: computed (checksum, bytes) */
	uint64_t cpu_us;	/* /cpu: the expected checksum's N */
	long bytes_n;		/* /bytes: the expected length, -1 if not /bytes */
};

#define OK_TEXT(r, b) { r, 200, "text/plain", NULL, b, 0, -1 }
#define CPU(r, us) { r, 200, "text/plain", NULL, NULL, us, -1 }
#define BYTES(r, n) { r, 200, "application/octet-stream", NULL, NULL, 0, n }
#define ERR(r, st, allow) { r, st, NULL, allow, NULL, 0, -1 }

static const struct route_case routes[] = {
	OK_TEXT("GET / HTTP/1.1\r\nHost: t\r\n\r\n", HELLO),
	OK_TEXT("GET /?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", HELLO),
	CPU("GET /cpu?us=0 HTTP/1.1\r\nHost: t\r\n\r\n", 0),
	CPU("GET /cpu?us=10 HTTP/1.1\r\nHost: t\r\n\r\n", 10),
	CPU("GET /cpu?us=1234 HTTP/1.1\r\nHost: t\r\n\r\n", 1234),
	CPU("GET /cpu?x=1&us=7 HTTP/1.1\r\nHost: t\r\n\r\n", 7),
	CPU("GET /cpu?us=7&x=1 HTTP/1.1\r\nHost: t\r\n\r\n", 7),
	CPU("GET /cpu?us=007 HTTP/1.1\r\nHost: t\r\n\r\n", 7),
	OK_TEXT("GET /block?us=0 HTTP/1.1\r\nHost: t\r\n\r\n", "ok"),
	OK_TEXT("GET /block?us=20000 HTTP/1.1\r\nHost: t\r\n\r\n", "ok"),
	OK_TEXT("GET /sleep?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n", "ok"),
	OK_TEXT("GET /sleep?ms=20 HTTP/1.1\r\nHost: t\r\n\r\n", "ok"),
	OK_TEXT("GET /sleep?x=1&ms=00020 HTTP/1.1\r\nHost: t\r\n\r\n", "ok"),
	BYTES("GET /bytes?n=0 HTTP/1.1\r\nHost: t\r\n\r\n", 0),
	BYTES("GET /bytes?n=1 HTTP/1.1\r\nHost: t\r\n\r\n", 1),
	BYTES("GET /bytes?n=100000 HTTP/1.1\r\nHost: t\r\n\r\n", 100000),
	{ "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 200, "application/octet-stream",
	  NULL, "hello", 0, -1 },
	{ "POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 200, "application/octet-stream",
	  NULL, "", 0, -1 },
	{ "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
	  200, "application/octet-stream", NULL, "abcdefg", 0, -1 },
	ERR("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL),
	ERR("GET /cpu/ HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL),
	ERR("GET // HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL),
	ERR("GET /ECHO HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL),
	ERR("GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL),
	ERR("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "GET"),
	ERR("PUT /cpu?us=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "GET"),
	ERR("DELETE /block?us=1 HTTP/1.1\r\nHost: t\r\n\r\n", 405, "GET"),
	ERR("POST /bytes?n=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "GET"),
	ERR("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", 405, "POST"),
	ERR("PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "POST"),
	ERR("GET /cpu HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu? HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?us= HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?us=abc HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?us=1x HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?us=-1 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?us=+1 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?us=0x10 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?us=10000001 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?us=99999999999999999999999 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?usx=1 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /cpu?n=1 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /block HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /block?us=10000001 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /block?us=x HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /sleep?ms= HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /sleep?ms=1s HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /sleep?ms=-1 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /sleep?ms=60001 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /sleep?ms=99999999999999999999 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /sleep?us=10 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("POST /sleep?ms=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "GET"),
	ERR("DELETE /sleep?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n", 405, "GET"),
	ERR("GET /sleep/ HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL),
	ERR("GET /bytes HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /bytes?n=67108865 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /bytes?us=1 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
	ERR("GET /bytes?n=1.5 HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL),
};

/* Checks one response against a route_case. */
static bool check_route(const struct route_case *c, const struct hresp *r)
{
	char what[160], sum[16];
	size_t rl = strcspn(c->req, "\r");

	snprintf(what, sizeof(what), "%.*s", (int)(rl < 120 ? rl : 120), c->req);
	if (c->ctype == NULL)
		return check_error(what, r, c->status, c->allow, NULL, false);
	if (c->bytes_n >= 0) {
		char *x = malloc((size_t)c->bytes_n + 1);
		bool ok;

		if (x == NULL)
			return false;
		memset(x, 'x', (size_t)c->bytes_n);
		ok = check_resp(what, r, 200, c->ctype, NULL, NULL, x, (size_t)c->bytes_n, false);
		free(x);
		return ok;
	}
	if (c->body == NULL) {
		snprintf(sum, sizeof(sum), "%08x", fnv_units(c->cpu_us * CONF_K));
		return check_resp(what, r, 200, c->ctype, NULL, NULL, sum, 8, false);
	}
	return check_resp(what, r, c->status, c->ctype, NULL, NULL, c->body, strlen(c->body), false);
}

static void test_routes(void)
{
	struct hconn h;
	struct hresp r;

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		int e = XFER(&h, routes[i].req, &r);

		if (e < 0)
			show_bytes("no response to", routes[i].req, strlen(routes[i].req), 200);
		REQUIRE(e == 0);
		CU_ASSERT(check_route(&routes[i], &r));
		hresp_free(&r);
	}
out:
	hconn_close(&h);
}

/* The same requests, each sent one byte at a time: the answer must be the same,
 * and (but for a streamed POST /echo body) nothing may come before the last byte. */
static void test_byte_at_a_time(void)
{
	static const size_t pick[] = { 0, 3, 8, 13, 15, 21, 24, 29, 35 };
	struct hconn h;
	struct hresp r;
	char b;

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	for (size_t k = 0; k < sizeof(pick) / sizeof(pick[0]); k++) {
		const struct route_case *c = &routes[pick[k]];
		size_t len = strlen(c->req);

		for (size_t i = 0; i + 1 < len; i++) {
			REQUIRE(cl_send_all(h.fd, c->req + i, 1, IO_MS) == 0);
			sleep_ms(1);
		}
		/* Complete but for one byte: no answer yet. */
		if (strstr(c->req, "Content-Length: 5") == NULL)
			CU_ASSERT(cl_recv(h.fd, &b, 1, 20) == -ETIMEDOUT);
		REQUIRE(cl_send_all(h.fd, c->req + len - 1, 1, IO_MS) == 0);
		REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
		CU_ASSERT(check_route(c, &r));
		hresp_free(&r);
	}
out:
	hconn_close(&h);
}

/* HEAD is another method on a GET route: 405 with Allow: GET, and no body. */
static void test_head(void)
{
	struct hconn h;
	struct hresp r;
	char exp[512];
	size_t el;
	static const char req[] = "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n";

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	REQUIRE(xfer(&h, req, strlen(req), &r, true) == 0);
	/* The head announces the 19-byte body it does not carry. */
	el = expect_bytes(exp, sizeof(exp), 405, "text/plain", "GET", NULL,
			  "Method Not Allowed\n", 19) - 19;
	if (cfg.exact) {
		CU_ASSERT(r.raw_len == el && memcmp(r.raw, exp, el) == 0);
		if (!(r.raw_len == el && memcmp(r.raw, exp, el) == 0)) {
			show_bytes("expected", exp, el, 300);
			show_bytes("got     ", r.raw, r.raw_len, 300);
		}
	} else {
		CU_ASSERT(r.status == 405);
	}
	hresp_free(&r);
	/* No body may follow: the next request's answer comes next. */
	{
		char b;

		CU_ASSERT(hconn_pending(&h) == 0 && cl_recv(h.fd, &b, 1, 100) == -ETIMEDOUT);
	}
	REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
	CU_ASSERT(check_resp("GET / after HEAD", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
	hresp_free(&r);
out:
	hconn_close(&h);
}

/* A body on a GET is read and ignored: the next request on the connection works. */
static void test_body_on_get(void)
{
	struct hconn h;
	struct hresp r;
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: t\r\n\r\n";

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	REQUIRE(XFER(&h, req, &r) == 0);
	CU_ASSERT(check_resp("GET / with a body", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_resp("GET / after it", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
	hresp_free(&r);
out:
	hconn_close(&h);
}

/* 100 requests in one write, answered in order. */
static void test_pipeline_100(void)
{
	struct hconn h;
	struct hresp r;
	char *buf = malloc(100 * 128), body[64], what[64];
	size_t len = 0;

	REQUIRE(buf != NULL);
	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	for (int i = 0; i < 100; i++) {
		switch (i % 5) {
		case 0: len += (size_t)sprintf(buf + len, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"); break;
		case 1: len += (size_t)sprintf(buf + len, "GET /bytes?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", i * 37); break;
		case 2: len += (size_t)sprintf(buf + len, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\nbody-%03d",
					       8, i); break;
		case 3: len += (size_t)sprintf(buf + len, "GET /cpu?us=%d HTTP/1.1\r\nHost: t\r\n\r\n", i); break;
		case 4: len += (size_t)sprintf(buf + len, "GET /nope%d HTTP/1.1\r\nHost: t\r\n\r\n", i); break;
		}
	}
	REQUIRE(cl_send_all(h.fd, buf, len, IO_MS) == 0);
	for (int i = 0; i < 100; i++) {
		bool ok = false;

		snprintf(what, sizeof(what), "pipelined request %d", i);
		REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
		switch (i % 5) {
		case 0:
			ok = check_resp(what, &r, 200, "text/plain", NULL, NULL, HELLO, 13, false);
			break;
		case 1: {
			char x[4096];

			memset(x, 'x', sizeof(x));
			ok = check_resp(what, &r, 200, "application/octet-stream", NULL, NULL, x,
					(size_t)i * 37, false);
			break;
		}
		case 2:
			snprintf(body, sizeof(body), "body-%03d", i);
			ok = check_resp(what, &r, 200, "application/octet-stream", NULL, NULL, body, 8, false);
			break;
		case 3:
			snprintf(body, sizeof(body), "%08x", fnv_units((uint64_t)i * CONF_K));
			ok = check_resp(what, &r, 200, "text/plain", NULL, NULL, body, 8, false);
			break;
		case 4:
			ok = check_error(what, &r, 404, NULL, NULL, false);
			break;
		}
		CU_ASSERT(ok);
		hresp_free(&r);
	}
out:
	hconn_close(&h);
	free(buf);
}

/* Keep-alive by default; Connection: close honoured, also in a pipelined batch
 * (what follows it is not answered). */
static void test_keepalive_and_close(void)
{
	struct hconn h;
	struct hresp r;

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	for (int i = 0; i < 3; i++) {
		REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
		CU_ASSERT(check_resp("keep-alive GET /", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
		hresp_free(&r);
	}
	REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r) == 0);
	CU_ASSERT(check_resp("Connection: close", &r, 200, "text/plain", NULL, "close", HELLO, 13, false));
	CU_ASSERT(strcasecmp(r.connection, "close") == 0);
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
	hconn_close(&h);

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /cpu?us=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
		    "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
	CU_ASSERT(check_resp("pipelined, 1 of 3", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	{
		char sum[16];

		snprintf(sum, sizeof(sum), "%08x", fnv_units(CONF_K));
		CU_ASSERT(check_resp("pipelined, 2 of 3 (close)", &r, 200, "text/plain", NULL, "close",
				     sum, 8, false));
	}
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
out:
	hconn_close(&h);
}

/* HTTP/1.0 closes unless it asked for keep-alive. */
static void test_http10(void)
{
	struct hconn h;
	struct hresp r;

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	REQUIRE(XFER(&h, "GET / HTTP/1.0\r\n\r\n", &r) == 0);
	CU_ASSERT(check_resp("HTTP/1.0", &r, 200, "text/plain", NULL, "close", HELLO, 13, false));
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
	hconn_close(&h);

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	for (int i = 0; i < 2; i++) {
		REQUIRE(XFER(&h, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r) == 0);
		CU_ASSERT(check_resp("HTTP/1.0 keep-alive", &r, 200, "text/plain", NULL, "keep-alive",
				     HELLO, 13, false));
		CU_ASSERT(strcasecmp(r.connection, "keep-alive") == 0);
		hresp_free(&r);
	}
	REQUIRE(XFER(&h, "POST /echo HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", &r) == 0);
	CU_ASSERT(check_resp("HTTP/1.0 POST /echo", &r, 200, "application/octet-stream", NULL, "close",
			     "abc", 3, false));
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
out:
	hconn_close(&h);
}

/* Expect: 100-continue within --max-body: the 100 first, then the answer. */
static void test_expect_continue(void)
{
	struct hconn h;
	struct hresp r;
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	char got[sizeof(cont)] = "";

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";

	REQUIRE(cl_send_all(h.fd, req, strlen(req), IO_MS) == 0);
	REQUIRE(cl_recv_exact(h.fd, got, sizeof(cont) - 1, IO_MS) == 0);
	CU_ASSERT(memcmp(got, cont, sizeof(cont) - 1) == 0);
	if (memcmp(got, cont, sizeof(cont) - 1) != 0)
		show_bytes("instead of 100 Continue", got, sizeof(cont) - 1, 100);
	REQUIRE(XFER(&h, "hello", &r) == 0);
	CU_ASSERT(check_resp("after 100 Continue", &r, 200, "application/octet-stream", NULL, NULL,
			     "hello", 5, false));
	hresp_free(&r);
out:
	hconn_close(&h);
}

/* Expect: 100-continue on a request pipelined behind another: a 100, if any,
 * comes between the two responses, never inside one (node's http module once
 * put it after the queued response's head; servers/node/server.js now sends
 * none there).  The C models always send it. */
static void test_expect_continue_pipelined(void)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
				  "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
				  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
				  "Expect: 100-continue\r\n\r\nhello";
	struct hconn h;
	struct hresp r;

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	REQUIRE(cl_send_all(h.fd, req, strlen(req), IO_MS) == 0);
	for (int i = 0; i < 2; i++) {
		REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
		CU_ASSERT(check_resp("GET / before it", &r, 200, "text/plain", NULL, NULL, HELLO, 13,
				     false));
		hresp_free(&r);
	}
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	if (r.status == 100) {
		hresp_free(&r);
		REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	} else {
		CU_ASSERT(!cfg.exact);		/* the C models send the 100 */
	}
	CU_ASSERT(check_resp("pipelined POST /echo with Expect", &r, 200, "application/octet-stream",
			     NULL, NULL, "hello", 5, false));
	hresp_free(&r);
out:
	hconn_close(&h);
}

/* Malformed requests: 400, then close. */
static const char *const malformed[] = {
	"GARBAGE\r\n\r\n",
	"GET / XTTP/1.1\r\n\r\n",
	"G@T / HTTP/1.1\r\nHost: t\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
	"\x01\x02\x03\x04\r\n\r\n",
};

static void test_malformed(void)
{
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct hconn h;
		struct hresp r;
		int e;

		REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
		e = XFER(&h, malformed[i], &r);
		if (e != 0)
			show_bytes("no response to", malformed[i], strlen(malformed[i]), 100);
		CU_ASSERT(e == 0);
		if (e == 0) {
			CU_ASSERT(check_error(malformed[i], &r, 400, NULL, "close", true));
			hresp_free(&r);
			CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
		}
		hconn_close(&h);
	}
out:
	return;
}

/* A good request, then garbage, in one write: 200, then 400 and close. */
static void test_good_then_malformed(void)
{
	struct hconn h;
	struct hresp r;

	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\nGARBAGE\r\n\r\n", &r) == 0);
	CU_ASSERT(check_resp("GET / before garbage", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
	hresp_free(&r);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_error("garbage after GET /", &r, 400, NULL, "close", true));
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
out:
	hconn_close(&h);
}

/* A header block over 8 KiB: 431 and close, as one header or many; under it: 200. */
static void test_431(void)
{
	char *req = malloc(16384);
	struct hconn h = { .fd = -1 };
	struct hresp r;
	size_t len;

	REQUIRE(req != NULL);
	for (int v = 0; v < 3; v++) {
		len = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: t\r\n");
		if (v == 0) {
			len += (size_t)sprintf(req + len, "X-Big: ");
			memset(req + len, 'a', 10000);
			len += 10000;
			len += (size_t)sprintf(req + len, "\r\n");
		} else if (v == 1) {
			for (int i = 0; i < 200; i++)
				len += (size_t)sprintf(req + len, "X-Header-%03d: %040d\r\n", i, i);
		} else {
			len += (size_t)sprintf(req + len, "X-Big: ");
			memset(req + len, 'b', 7000);
			len += 7000;
			len += (size_t)sprintf(req + len, "\r\n");
		}
		len += (size_t)sprintf(req + len, "\r\n");
		REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
		REQUIRE(xfer(&h, req, len, &r, false) == 0);
		if (v < 2) {
			CU_ASSERT(check_error(v ? "200 headers, 10 KiB" : "one 10 KiB header", &r, 431, NULL,
					      "close", false));
			hresp_free(&r);
			CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
		} else {
			CU_ASSERT(check_resp("a 7 KiB header", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
			hresp_free(&r);
		}
		hconn_close(&h);
	}
out:
	hconn_close(&h);
	free(req);
}

/* Sends out[] while reading one response (the server answers as it reads: a
 * client that only writes would deadlock against its back-pressure). */
static int pump_http(struct hconn *h, const char *out, size_t outlen, struct hresp *r, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	size_t sent = 0;

	for (;;) {
		struct pollfd p = { h->fd, POLLIN | (sent < outlen ? POLLOUT : 0), 0 };
		int64_t left = (int64_t)(end - now_ms());

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if ((p.revents & POLLOUT) && sent < outlen) {
			ssize_t n = send(h->fd, out + sent, outlen - sent < 65536 ? outlen - sent : 65536,
					 MSG_NOSIGNAL);

			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			/* hconn_read with a short deadline: it returns when a whole
			 * response is buffered, else -ETIMEDOUT after reading more. */
			int e = hconn_read(h, r, false, 1);

			if (e == 0)
				return sent == outlen ? 0 : -EPROTO;
			if (e != -ETIMEDOUT)
				return e;
		}
	}
}

/* 10 MiB POST /echo with a Content-Length, read while writing. */
static void test_echo_10mib(void)
{
	const size_t n = 10 << 20;
	char *body = test_pattern(n, 1), *req = malloc(n + 128);
	struct hconn h = { .fd = -1 };
	struct hresp r = { 0 };
	size_t len;

	REQUIRE(body != NULL && req != NULL);
	len = (size_t)sprintf(req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
	memcpy(req + len, body, n);
	len += n;
	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	REQUIRE(pump_http(&h, req, len, &r, 30000) == 0);
	CU_ASSERT(check_resp("10 MiB POST /echo", &r, 200, "application/octet-stream", NULL, NULL,
			     body, n, false));
	hresp_free(&r);
	/* The connection carries on. */
	REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
	CU_ASSERT(check_resp("GET / after 10 MiB", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
	hresp_free(&r);
out:
	hconn_close(&h);
	free(body);
	free(req);
}

/* A 1 MiB chunked body in uneven chunks: answered with its Content-Length. */
static void test_echo_chunked(void)
{
	const size_t n = 1 << 20;
	char *body = test_pattern(n, 2), *req = malloc(n + 65536);
	struct hconn h = { .fd = -1 };
	struct hresp r = { 0 };
	size_t len, off = 0;

	REQUIRE(body != NULL && req != NULL);
	len = (size_t)sprintf(req, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (unsigned k = 1; off < n; k++) {
		size_t c = (k * 7919) % 16384 + 1;

		if (c > n - off)
			c = n - off;
		len += (size_t)sprintf(req + len, "%zx\r\n", c);
		memcpy(req + len, body + off, c);
		len += c;
		off += c;
		memcpy(req + len, "\r\n", 2);
		len += 2;
	}
	len += (size_t)sprintf(req + len, "0\r\n\r\n");
	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	REQUIRE(pump_http(&h, req, len, &r, 30000) == 0);
	CU_ASSERT(check_resp("1 MiB chunked POST /echo", &r, 200, "application/octet-stream", NULL, NULL,
			     body, n, false));
	hresp_free(&r);
out:
	hconn_close(&h);
	free(body);
	free(req);
}

/* Reads a /bytes?n=N response on fd, streaming: the head must be right and the
 * body N bytes of 'x'.  slow: a small window, reads of 4 KiB with pauses first,
 * so the server meets partial writes and EAGAIN. */
static bool read_bytes_response(int fd, long n, bool slow)
{
	char buf[65536], head[1024];
	size_t hl = 0, body = 0, want = (size_t)n;
	bool in_head = true, ok = true;
	int reads = 0;

	if (slow)
		sleep_ms(300);
	while (in_head || body < want) {
		size_t cap = slow && reads < 200 ? 4096 : sizeof(buf);
		ssize_t r = cl_recv(fd, buf, cap, IO_MS);
		size_t i = 0;

		if (r <= 0) {
			fprintf(stderr, "\n    %s: /bytes?n=%ld: %s after %zu body bytes\n", cfg.model, n,
				r == 0 ? "EOF" : strerror((int)-r), body);
			return false;
		}
		reads++;
		if (slow && reads < 200)
			sleep_ms(1);
		if (in_head) {
			while (i < (size_t)r && hl < sizeof(head) - 1) {
				head[hl++] = buf[i++];
				if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
					break;
			}
			if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0) {
				char exp[512];
				size_t el;

				head[hl] = '\0';
				in_head = false;
				if (cfg.exact) {
					el = (size_t)snprintf(exp, sizeof(exp),
							      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
							      "Content-Length: %ld\r\n\r\n", n);
					if (hl != el || memcmp(head, exp, el) != 0) {
						show_bytes("expected head", exp, el, 300);
						show_bytes("got head     ", head, hl, 300);
						ok = false;
					}
				} else if (strncmp(head, "HTTP/1.1 200 ", 13) != 0 ||
					   strstr(head, "Content-Type: application/octet-stream\r\n") == NULL) {
					show_bytes("got head", head, hl, 300);
					ok = false;
				}
			} else if (hl >= sizeof(head) - 1) {
				return false;
			}
		}
		for (; i < (size_t)r; i++, body++) {
			if (body >= want || buf[i] != 'x') {
				fprintf(stderr, "\n    %s: /bytes?n=%ld: wrong byte at body offset %zu\n",
					cfg.model, n, body);
				return false;
			}
		}
	}
	return ok;
}

static void test_bytes_slow_reader(void)
{
	struct hconn h = { .fd = -1 };
	struct hresp r;
	static const char req[] = "GET /bytes?n=10000000 HTTP/1.1\r\nHost: t\r\n\r\n";

	h.fd = cl_connect(srv_main.port, 4096, IO_MS);
	REQUIRE(h.fd >= 0);
	REQUIRE(cl_send_all(h.fd, req, strlen(req), IO_MS) == 0);
	CU_ASSERT(read_bytes_response(h.fd, 10000000, true));
	REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
	CU_ASSERT(check_resp("GET / after 10 MB read slowly", &r, 200, "text/plain", NULL, NULL, HELLO, 13,
			     false));
	hresp_free(&r);
out:
	hconn_close(&h);
}

static void test_bytes_max(void)
{
	int fd = cl_connect(srv_main.port, 0, IO_MS);
	static const char req[] = "GET /bytes?n=67108864 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

	REQUIRE(fd >= 0);
	REQUIRE(cl_send_all(fd, req, strlen(req), IO_MS) == 0);
	/* The head says Connection: close here: only check the body for it. */
	{
		bool exact = cfg.exact;

		cfg.exact = false;
		CU_ASSERT(read_bytes_response(fd, 67108864, false));
		cfg.exact = exact;
	}
	CU_ASSERT(cl_wait_close(fd, IO_MS, NULL) == 0);
out:
	if (fd >= 0)
		close(fd);
}

/* A client resets mid-response (SO_LINGER 0, close during a large /bytes) while
 * another keeps being served; the server carries on. */
static void test_reset_mid_response(void)
{
	static const char big[] = "GET /bytes?n=67108864 HTTP/1.1\r\nHost: t\r\n\r\n";
	struct hconn b = { .fd = -1 }, c = { .fd = -1 };
	struct hresp r;
	char buf[65536];
	size_t got = 0;
	int a = cl_connect(srv_main.port, 4096, IO_MS);

	REQUIRE(a >= 0);
	REQUIRE(cl_send_all(a, big, strlen(big), IO_MS) == 0);
	while (got < 65536) {
		ssize_t n = cl_recv(a, buf, sizeof(buf), IO_MS);

		REQUIRE(n > 0);
		got += (size_t)n;
	}
	if (cfg.serializes) {
		not_applicable("another client served during a response",
			       "serves one connection at a time (the reset part still runs)");
	} else {
		REQUIRE(hconn_open(&b, srv_main.port, IO_MS) == 0);
		for (int i = 0; i < 3; i++) {
			REQUIRE(XFER(&b, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
			CU_ASSERT(check_resp("GET / during another's 64 MiB", &r, 200, "text/plain", NULL, NULL,
					     HELLO, 13, false));
			hresp_free(&r);
		}
	}
	cl_reset(a);
	a = -1;
	sleep_ms(50);
	if (b.fd < 0)
		REQUIRE(hconn_open(&b, srv_main.port, IO_MS) == 0);
	REQUIRE(XFER(&b, "GET /cpu?us=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
	CU_ASSERT(r.status == 200);
	hresp_free(&r);
	hconn_close(&b);
	REQUIRE(hconn_open(&c, srv_main.port, IO_MS) == 0);
	REQUIRE(XFER(&c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
	CU_ASSERT(check_resp("GET / after a reset", &r, 200, "text/plain", NULL, NULL, HELLO, 13, false));
	hresp_free(&r);
out:
	if (a >= 0)
		close(a);
	hconn_close(&b);
	hconn_close(&c);
}

static void test_500_concurrent(void)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	char exp[256];
	size_t el = expect_bytes(exp, sizeof(exp), 200, "text/plain", NULL, NULL, HELLO, 13);
	int ok;

	if (!cfg.exact) {
		strcpy(exp, HELLO);
		el = 13;
	}
	ok = many_clients(srv_main.port, 500, req, strlen(req), exp, el, !cfg.exact, 60000);
	if (ok != 500)
		fprintf(stderr, "\n    %s: %d of 500 concurrent clients were answered\n", cfg.model, ok);
	CU_ASSERT(ok == 500);
}

/* A slowloris client holds a connection on the default instance (T = 10 s) while
 * another is served. */
static void test_slowloris_while_others(void)
{
	static const char part[] = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: abcdefghijklmnopqrstuvwxyz";
	struct hconn h = { .fd = -1 };
	struct hresp r;
	int s = -1;
	char b;

	if (cfg.serializes) {
		not_applicable("slowloris while others are served",
			       "serves one connection at a time: the others wait for it by design");
		return;
	}
	s = cl_connect(srv_main.port, 0, IO_MS);
	REQUIRE(s >= 0);
	REQUIRE(hconn_open(&h, srv_main.port, IO_MS) == 0);
	for (int i = 0; i < 10; i++) {
		REQUIRE(cl_send_all(s, part + i, 1, IO_MS) == 0);
		REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
		CU_ASSERT(check_resp("GET / beside a slowloris", &r, 200, "text/plain", NULL, NULL, HELLO, 13,
				     false));
		hresp_free(&r);
		sleep_ms(20);
	}
	/* The slowloris got nothing and is still open. */
	CU_ASSERT(cl_recv(s, &b, 1, 10) == -ETIMEDOUT);
out:
	if (s >= 0)
		close(s);
	hconn_close(&h);
}

/* --- registration --- */

static int init_main(void)
{
	return start_server(&srv_main, "http", NULL);
}

static int clean_main(void)
{
	return stop_server(&srv_main, "http");
}

void register_http_suites(void)
{
	CU_pSuite s = CU_add_suite("http", init_main, clean_main);

	CU_add_test(s, "every route, status and body", test_routes);
	CU_add_test(s, "requests sent a byte at a time", test_byte_at_a_time);
	CU_add_test(s, "HEAD: 405 without a body", test_head);
	CU_add_test(s, "a body on GET is skipped", test_body_on_get);
	CU_add_test(s, "100 pipelined requests in one write", test_pipeline_100);
	CU_add_test(s, "keep-alive and Connection: close", test_keepalive_and_close);
	CU_add_test(s, "HTTP/1.0 with and without keep-alive", test_http10);
	CU_add_test(s, "Expect: 100-continue", test_expect_continue);
	CU_add_test(s, "Expect: 100-continue, pipelined", test_expect_continue_pipelined);
	CU_add_test(s, "malformed requests: 400 and close", test_malformed);
	CU_add_test(s, "a good request then garbage", test_good_then_malformed);
	CU_add_test(s, "header block over 8 KiB: 431", test_431);
	CU_add_test(s, "10 MiB POST /echo, read while writing", test_echo_10mib);
	CU_add_test(s, "1 MiB chunked POST /echo", test_echo_chunked);
	CU_add_test(s, "/bytes?n=10000000 read slowly", test_bytes_slow_reader);
	CU_add_test(s, "/bytes?n=67108864", test_bytes_max);
	CU_add_test(s, "a client resets mid-response", test_reset_mid_response);
	CU_add_test(s, "500 concurrent connections", test_500_concurrent);
	CU_add_test(s, "slowloris while others are served", test_slowloris_while_others);
}
