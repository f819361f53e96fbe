/* Where a request ends: RFC 9112's rules, one case each (docs/contract.md,
 * "HTTP/1.1"), on a server with the default options.
 *
 * Every rule of sections 2.2, 3, 5.1, 5.2, 6.1, 6.3 and 7.1 that says a server
 * must reject a request gets one: its bytes usually carry a second request
 * that a parser reading them the other way would answer (request smuggling),
 * and the server must answer 400, close, and send nothing else.  The rules
 * that decide where a message ends get one each too: the right answers, in
 * order, on a connection that stays open.  The two CVE cases are the published
 * reproducers, from llhttp's own tests ("Spaces before headers" and "Headers
 * separated by dummy characters").  Node is compared on status alone for the
 * rejections, like every malformed request. */
#include "suite.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static struct child srv_rfc;

/* A request that a lenient parser answers as a second one: 404 if it ever is. */
#define SMUGGLED "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"	/* 31 bytes */

enum expect {
	REJECT,		/* 400, close, nothing more */
	ANSWERS,	/* answers[] in order, and the connection stays open */
	CUT_SHORT,	/* the client half-closes mid-body: no complete response, close */
};

struct answer {
	int status;		/* 0 ends the list */
	const char *ctype;	/* NULL: an error response */
	const char *body;
};

struct rfc_case {
	const char *name;
	const char *req;
	enum expect expect;
	struct answer answers[3];
};

static const struct rfc_case cases[] = {
	{ "2.2: whitespace between the start-line and the first field line",
	  "GET / HTTP/1.1\r\n X: y\r\nHost: t\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "2.2: a bare CR in a field line",
	  "GET / HTTP/1.1\r\nHost: t\r\nFoo: 1\rContent-Length: 31\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "2.2: a header block ended by CR LF CR and another byte (CVE-2025-23167)",
	  "GET / HTTP/1.1\r\nConnection: close\r\nHost: a\r\n\rZGET /evil: HTTP/1.1\r\nHost: a\r\n",
	  REJECT, { { 0 } } },
	{ "2.2: a bare LF as a line terminator (allowed, refused as node refuses it)",
	  "GET / HTTP/1.1\nHost: t\n\n" SMUGGLED, REJECT, { { 0 } } },
	{ "3.2: an HTTP/1.1 request without Host",
	  "GET / HTTP/1.1\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "3.2: two Host field lines",
	  "GET / HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "3.2: a Host field with an invalid value",
	  "GET / HTTP/1.1\r\nHost: t/nope\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "5.1: whitespace between a field name and the colon",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length : 31\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "5.1: a field line without a name",
	  "GET / HTTP/1.1\r\nHost: t\r\n: 31\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "5.2: obsolete line folding",
	  "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "5.2: a Content-Length folded behind a leading space (CVE-2024-27982)",
	  "POST /hello HTTP/1.1\r\nHost: localhost\r\nFoo: bar\r\n Content-Length: 38\r\n\r\n"
	  "GET /bye HTTP/1.1\r\nHost: localhost\r\n\r\n", REJECT, { { 0 } } },
	{ "6.1: Transfer-Encoding in an HTTP/1.0 request",
	  "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	  SMUGGLED, REJECT, { { 0 } } },
	{ "6.3: Content-Length and Transfer-Encoding together",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 36\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	  SMUGGLED, REJECT, { { 0 } } },
	{ "6.3: a Transfer-Encoding whose final coding is not chunked",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"
	  SMUGGLED, REJECT, { { 0 } } },
	{ "6.3: an invalid Content-Length",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x1f\r\n\r\n" SMUGGLED, REJECT, { { 0 } } },
	{ "6.3: Content-Length field lines that differ",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 31\r\n\r\n" SMUGGLED,
	  REJECT, { { 0 } } },
	{ "6.3: a Content-Length body cut short by the client's close is incomplete",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello", CUT_SHORT, { { 0 } } },
	{ "6.3: Content-Length says where the body ends",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" SMUGGLED, ANSWERS,
	  { { 200, "application/octet-stream", "hello" }, { 404, NULL, NULL }, { 0 } } },
	{ "6.3: a request without Content-Length or Transfer-Encoding has no body",
	  "GET / HTTP/1.1\r\nHost: t\r\n\r\n" SMUGGLED, ANSWERS,
	  { { 200, "text/plain", "Hello, World!" }, { 404, NULL, NULL }, { 0 } } },
	{ "7.1: a chunk size that overflows",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\na\r\n0\r\n\r\n"
	  SMUGGLED, REJECT, { { 0 } } },
	{ "7.1: chunk data not followed by CRLF",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc0\r\n\r\n" SMUGGLED,
	  REJECT, { { 0 } } },
	{ "7.1: a chunk-size line ended by a bare LF",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" SMUGGLED,
	  REJECT, { { 0 } } },
	{ "7.1.2: obsolete line folding in the trailer section",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: a\r\n b\r\n\r\n"
	  SMUGGLED, REJECT, { { 0 } } },
	{ "7.1: the last chunk and the trailer section end the message",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nX: y\r\n\r\n"
	  SMUGGLED, ANSWERS,
	  { { 200, "application/octet-stream", "abc" }, { 404, NULL, NULL }, { 0 } } },
};

#define NCASES (sizeof cases / sizeof cases[0])

static void reject(const struct rfc_case *c, struct hconn *h)
{
	struct hresp r;
	int e = XFER(h, c->req, &r);

	if (e != 0)
		fprintf(stderr, "\n    %s: %s: no response (%s)\n", cfg.model, c->name, strerror(-e));
	CU_ASSERT(e == 0);
	if (e != 0)
		return;
	CU_ASSERT(check_error(c->name, &r, 400, NULL, "close", true));
	hresp_free(&r);
	e = hconn_wait_close(h, IO_MS);
	if (e != 0)
		fprintf(stderr, "\n    %s: %s: after the 400: %s\n", cfg.model, c->name,
			e == -EPROTO ? "more bytes (a second response)" : "not closed");
	CU_ASSERT(e == 0);
}

static void answers(const struct rfc_case *c, struct hconn *h)
{
	char b;

	REQUIRE(cl_send_all(h->fd, c->req, strlen(c->req), IO_MS) == 0);
	for (const struct answer *a = c->answers; a->status; a++) {
		struct hresp r;

		REQUIRE(hconn_read(h, &r, false, IO_MS) == 0);
		bool ok = a->ctype ? check_resp(c->name, &r, a->status, a->ctype, NULL, NULL, a->body,
						strlen(a->body), false)
				   : check_error(c->name, &r, a->status, NULL, NULL, false);

		CU_ASSERT(ok);
		hresp_free(&r);
	}
	/* Nothing more, and still open. */
	CU_ASSERT(hconn_pending(h) == 0 && cl_recv(h->fd, &b, 1, 100) == -ETIMEDOUT);
out:
	return;
}

static void cut_short(const struct rfc_case *c, struct hconn *h)
{
	struct hresp r;
	int e;

	REQUIRE(cl_send_all(h->fd, c->req, strlen(c->req), IO_MS) == 0);
	shutdown(h->fd, SHUT_WR);
	/* A streamed echo may have begun (its head and "hello"): it must not end. */
	e = hconn_read(h, &r, false, IO_MS);
	if (e == 0) {
		fprintf(stderr, "\n    %s: %s: a complete response to an incomplete request\n",
			cfg.model, c->name);
		hresp_free(&r);
	}
	CU_ASSERT(e == -EPIPE || e == -ECONNRESET);
out:
	return;
}

static void run_case(size_t i)
{
	const struct rfc_case *c = &cases[i];
	struct hconn h = { .fd = -1 };

	REQUIRE(hconn_open(&h, srv_rfc.port, IO_MS) == 0);
	switch (c->expect) {
	case REJECT:
		reject(c, &h);
		break;
	case ANSWERS:
		answers(c, &h);
		break;
	case CUT_SHORT:
		cut_short(c, &h);
		break;
	}
out:
	hconn_close(&h);
}

/* CUnit tests take no argument: one small function per case. */
#define CASE(i) static void case_##i(void) { run_case(i); }
CASE(0) CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9)
CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16) CASE(17) CASE(18) CASE(19)
CASE(20) CASE(21) CASE(22) CASE(23)

static void (*const case_fns[])(void) = {
	case_0, case_1, case_2, case_3, case_4, case_5, case_6, case_7, case_8, case_9,
	case_10, case_11, case_12, case_13, case_14, case_15, case_16, case_17, case_18, case_19,
	case_20, case_21, case_22, case_23,
};

_Static_assert(sizeof case_fns / sizeof case_fns[0] == NCASES, "one function per case");

static int init_rfc(void)
{
	return start_server(&srv_rfc, "http", NULL);
}

static int clean_rfc(void)
{
	return stop_server(&srv_rfc, "http, RFC 9112 framing");
}

void register_rfc9112_suites(void)
{
	CU_pSuite s = CU_add_suite("http: RFC 9112 framing", init_rfc, clean_rfc);

	for (size_t i = 0; i < NCASES; i++)
		CU_add_test(s, cases[i].name, case_fns[i]);
}
