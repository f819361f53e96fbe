/* HTTP response reader: every response whole, split at every byte, byte by
 * byte, and pipelined back to back; exact Content-Length; malformed input; EOF. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "http_resp.h"
#include "tests.h"

struct rcase {
	const char *name;
	const char *bytes;
	int status;		/* of the (last) response */
	int keep_alive;
};

static const struct rcase cases[] = {
	{ "200 plaintext",
	  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
	  200, 1 },
	{ "404 with body",
	  "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nNot Found\n",
	  404, 1 },
	{ "chunked",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n8\r\n, World!\r\n0\r\n\r\n",
	  200, 1 },
	{ "empty body",
	  "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 204, 1 },
	{ "100 Continue then 200",
	  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, 1 },
	{ "500",
	  "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
	  "Content-Length: 22\r\n\r\nInternal Server Error\n", 500, 1 },
	{ "binary body with CRLFs",
	  "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n\r\n\r\nHTTP", 200, 1 },
	{ "Connection: close",
	  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", 200, 0 },
	{ "HTTP/1.0 closes",
	  "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, 0 },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Feeds buf in pieces cut at `cuts` (sorted offsets); records each completed
 * response's status.  Returns the number of responses, or -1 on a parse error. */
static int feed_pieces(struct http_resp *r, const char *buf, size_t len, const size_t *cuts,
		       size_t ncuts, int *status, int *ka, int max)
{
	size_t start = 0;
	int n = 0;

	for (size_t p = 0; p <= ncuts; p++) {
		size_t end = p < ncuts ? cuts[p] : len, off = start;

		while (off < end) {
			long k = http_resp_feed(r, buf + off, end - off);
			if (k < 0 || (k == 0 && !r->complete))
				return -1;
			off += (size_t)k;
			if (r->complete && n < max) {
				status[n] = r->status;
				ka[n] = r->keep_alive;
				n++;
			}
		}
		start = end;
	}
	return n;
}

static void test_whole(void)
{
	for (size_t i = 0; i < NCASES; i++) {
		struct http_resp r;
		int st[4], ka[4], n;

		http_resp_init(&r);
		n = feed_pieces(&r, cases[i].bytes, strlen(cases[i].bytes), NULL, 0, st, ka, 4);
		CU_ASSERT_EQUAL(n, 1);
		if (n == 1) {
			CU_ASSERT_EQUAL(st[0], cases[i].status);
			CU_ASSERT_EQUAL(ka[0], cases[i].keep_alive);
		}
		CU_ASSERT_EQUAL(r.in_message, 0);
	}
}

static void test_split_every_byte(void)
{
	for (size_t i = 0; i < NCASES; i++) {
		size_t len = strlen(cases[i].bytes);

		for (size_t cut = 1; cut < len; cut++) {
			struct http_resp r;
			int st[4], ka[4], n;

			http_resp_init(&r);
			n = feed_pieces(&r, cases[i].bytes, len, &cut, 1, st, ka, 4);
			CU_ASSERT_EQUAL_FATAL(n, 1);
			CU_ASSERT_EQUAL_FATAL(st[0], cases[i].status);
			/* Before the last byte the response must not be complete. */
			http_resp_init(&r);
			n = feed_pieces(&r, cases[i].bytes, cut, NULL, 0, st, ka, 4);
			CU_ASSERT_EQUAL_FATAL(n, 0);
		}
	}
}

static void test_byte_by_byte(void)
{
	for (size_t i = 0; i < NCASES; i++) {
		size_t len = strlen(cases[i].bytes), cuts[512];
		struct http_resp r;
		int st[4], ka[4];

		CU_ASSERT_FATAL(len < 512);
		for (size_t c = 0; c + 1 < len; c++)
			cuts[c] = c + 1;
		http_resp_init(&r);
		CU_ASSERT_EQUAL(feed_pieces(&r, cases[i].bytes, len, cuts, len - 1, st, ka, 4), 1);
		CU_ASSERT_EQUAL(st[0], cases[i].status);
	}
}

/* The keep-alive responses back to back, as pipelining delivers them in one read,
 * and again cut at every byte. */
static void test_pipelined(void)
{
	char buf[4096];
	size_t len = 0;
	int expect[NCASES], nexp = 0;

	for (size_t i = 0; i < NCASES; i++) {
		if (!cases[i].keep_alive)
			continue;
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s", cases[i].bytes);
		expect[nexp++] = cases[i].status;
	}
	for (size_t cut = 0; cut < len; cut++) {
		struct http_resp r;
		int st[NCASES + 1], ka[NCASES + 1], n;

		http_resp_init(&r);
		n = feed_pieces(&r, buf, len, &cut, cut ? 1 : 0, st, ka, NCASES + 1);
		CU_ASSERT_EQUAL_FATAL(n, nexp);
		for (int k = 0; k < nexp; k++)
			CU_ASSERT_EQUAL_FATAL(st[k], expect[k]);
	}
}

/* The reader stops exactly at the end of a Content-Length body. */
static void test_exact_length(void)
{
	const char *a = cases[0].bytes, *b = cases[1].bytes;
	char buf[512];
	struct http_resp r;
	long k;

	snprintf(buf, sizeof(buf), "%s%s", a, b);
	http_resp_init(&r);
	k = http_resp_feed(&r, buf, strlen(buf));
	CU_ASSERT_EQUAL(k, (long)strlen(a));
	CU_ASSERT(r.complete);
	k = http_resp_feed(&r, buf + strlen(a), strlen(b));
	CU_ASSERT_EQUAL(k, (long)strlen(b));
	CU_ASSERT(r.complete);
	CU_ASSERT_EQUAL(r.status, 404);
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"HTTP/1.1 abc OK\r\n\r\n",
		"garbage\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",	/* status: three digits */
		"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_resp r;
		int st[4], ka[4];

		http_resp_init(&r);
		CU_ASSERT_EQUAL(feed_pieces(&r, bad[i], strlen(bad[i]), NULL, 0, st, ka, 4), -1);
	}
}

static void test_eof(void)
{
	struct http_resp r;
	const char *until_close = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc";
	const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
	int st[4], ka[4];

	http_resp_init(&r);
	CU_ASSERT_EQUAL(http_resp_eof(&r), 0);	/* nothing in progress */

	http_resp_init(&r);	/* a body that runs to the close */
	CU_ASSERT_EQUAL(feed_pieces(&r, until_close, strlen(until_close), NULL, 0, st, ka, 4), 0);
	CU_ASSERT_EQUAL(http_resp_eof(&r), 1);
	CU_ASSERT_EQUAL(r.status, 200);

	http_resp_init(&r);	/* cut short */
	CU_ASSERT_EQUAL(feed_pieces(&r, cut, strlen(cut), NULL, 0, st, ka, 4), 0);
	CU_ASSERT_EQUAL(http_resp_eof(&r), -1);

	http_resp_init(&r);	/* after a complete response, EOF is clean */
	CU_ASSERT_EQUAL(feed_pieces(&r, cases[0].bytes, strlen(cases[0].bytes), NULL, 0, st, ka, 4), 1);
	CU_ASSERT_EQUAL(http_resp_eof(&r), 0);
}

void suite_resp(void)
{
	CU_pSuite s = CU_add_suite("http_resp", NULL, NULL);

	CU_add_test(s, "each response whole", test_whole);
	CU_add_test(s, "split at every byte", test_split_every_byte);
	CU_add_test(s, "byte by byte", test_byte_by_byte);
	CU_add_test(s, "pipelined, cut at every byte", test_pipelined);
	CU_add_test(s, "stops at the end of Content-Length", test_exact_length);
	CU_add_test(s, "malformed responses", test_malformed);
	CU_add_test(s, "end of stream", test_eof);
}
