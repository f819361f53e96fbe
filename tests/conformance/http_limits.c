/* HTTP limits and timers: --max-body (413) and --idle-timeout-ms (idle keep-alive,
 * silent and slowloris clients, stalled output), each on a server of its own. */
#include "suite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct child srv_limits, srv_idle;

#define MAX_BODY 1000		/* srv_limits' --max-body */
#define IDLE_T 300		/* srv_idle's --idle-timeout-ms */
#define IDLE_T_STR "300"
#define SLACK_MS 15		/* timers in whole milliseconds: "at >= T" allows this */

/* --- --max-body 1000 --- */

static void test_413_length(void)
{
	char *req = malloc(8192);
	struct hconn h = { .fd = -1 };
	struct hresp r;
	size_t len;

	REQUIRE(req != NULL);
	len = (size_t)sprintf(req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
	memset(req + len, 'y', 5000);
	len += 5000;
	REQUIRE(hconn_open(&h, srv_limits.port, IO_MS) == 0);
	REQUIRE(xfer(&h, req, len, &r, false) == 0);
	CU_ASSERT(check_error("Content-Length over --max-body", &r, 413, NULL, "close", false));
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
out:
	hconn_close(&h);
	free(req);
}

static void test_413_expect(void)
{
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n";
	struct hconn h = { .fd = -1 };
	struct hresp r;

	REQUIRE(hconn_open(&h, srv_limits.port, IO_MS) == 0);
	/* No body is sent: the 413 must come at once. */
	REQUIRE(XFER(&h, req, &r) == 0);
	CU_ASSERT(check_error("Expect: 100-continue over --max-body", &r, 413, NULL, "close", false));
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
out:
	hconn_close(&h);
}

static void test_413_chunked(void)
{
	char *req = malloc(8192);
	struct hconn h = { .fd = -1 };
	struct hresp r;
	size_t len;

	REQUIRE(req != NULL);
	len = (size_t)sprintf(req, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 4; i++) {
		len += (size_t)sprintf(req + len, "200\r\n");
		memset(req + len, 'z', 512);
		len += 512;
		len += (size_t)sprintf(req + len, "\r\n");
	}
	len += (size_t)sprintf(req + len, "0\r\n\r\n");
	REQUIRE(hconn_open(&h, srv_limits.port, IO_MS) == 0);
	REQUIRE(xfer(&h, req, len, &r, false) == 0);
	CU_ASSERT(check_error("chunked body over --max-body", &r, 413, NULL, "close", false));
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
out:
	hconn_close(&h);
	free(req);
}

/* --max-body bounds the body of every request, not only POST /echo's: a body
 * on GET / is read and discarded when within it, and gets 413 and a close when
 * over it (declared, or found while reading chunks). */
static void test_413_other_route(void)
{
	char *req = malloc(8192);
	struct hconn h = { .fd = -1 };
	struct hresp r;
	size_t len;

	REQUIRE(req != NULL);
	REQUIRE(hconn_open(&h, srv_limits.port, IO_MS) == 0);
	len = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n");
	memset(req + len, 'y', 500);
	len += 500;
	REQUIRE(xfer(&h, req, len, &r, false) == 0);
	CU_ASSERT(check_resp("GET / with a body within --max-body", &r, 200, "text/plain", NULL,
			     NULL, "Hello, World!", 13, false));
	hresp_free(&r);
	len = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
	memset(req + len, 'y', 5000);
	len += 5000;
	REQUIRE(xfer(&h, req, len, &r, false) == 0);
	CU_ASSERT(check_error("GET / with a Content-Length over --max-body", &r, 413, NULL, "close",
			      false));
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
	hconn_close(&h);

	REQUIRE(hconn_open(&h, srv_limits.port, IO_MS) == 0);
	len = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 4; i++) {
		len += (size_t)sprintf(req + len, "200\r\n");
		memset(req + len, 'z', 512);
		len += 512;
		len += (size_t)sprintf(req + len, "\r\n");
	}
	len += (size_t)sprintf(req + len, "0\r\n\r\n");
	REQUIRE(xfer(&h, req, len, &r, false) == 0);
	CU_ASSERT(check_error("GET / with a chunked body over --max-body", &r, 413, NULL, "close",
			      false));
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
out:
	hconn_close(&h);
	free(req);
}

/* Exactly --max-body is allowed, with a Content-Length or chunked. */
static void test_max_body_ok(void)
{
	char *req = malloc(8192), *body = test_pattern(MAX_BODY, 3);
	struct hconn h = { .fd = -1 };
	struct hresp r;
	size_t len;

	REQUIRE(req != NULL && body != NULL);
	REQUIRE(hconn_open(&h, srv_limits.port, IO_MS) == 0);
	len = (size_t)sprintf(req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", MAX_BODY);
	memcpy(req + len, body, MAX_BODY);
	len += MAX_BODY;
	REQUIRE(xfer(&h, req, len, &r, false) == 0);
	CU_ASSERT(check_resp("body of exactly --max-body", &r, 200, "application/octet-stream", NULL, NULL,
			     body, MAX_BODY, false));
	hresp_free(&r);
	len = (size_t)sprintf(req, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n");
	memcpy(req + len, body, 500);
	len += 500;
	len += (size_t)sprintf(req + len, "\r\n1f4\r\n");
	memcpy(req + len, body + 500, 500);
	len += 500;
	len += (size_t)sprintf(req + len, "\r\n0\r\n\r\n");
	REQUIRE(xfer(&h, req, len, &r, false) == 0);
	CU_ASSERT(check_resp("chunked body of exactly --max-body", &r, 200, "application/octet-stream", NULL,
			     NULL, body, MAX_BODY, false));
	hresp_free(&r);
out:
	hconn_close(&h);
	free(req);
	free(body);
}

/* --- --idle-timeout-ms 300 --- */

/* Waits for the server to close fd; the milliseconds from t0, or -1. */
static long closed_after(int fd, uint64_t t0, int limit_ms)
{
	int e = cl_wait_close(fd, limit_ms, NULL);

	return e == 0 ? (long)(now_ms() - t0) : -1;
}

static void check_idle_bound(const char *what, long ms)
{
	bool ok = ms >= IDLE_T - SLACK_MS && ms < 10 * IDLE_T;

	if (!ok)
		fprintf(stderr, "\n    %s: %s: closed after %ld ms, expected >= %d and < %d (-1: not closed)\n",
			cfg.model, what, ms, IDLE_T, 10 * IDLE_T);
	CU_ASSERT(ok);
}

static void test_idle_keepalive(void)
{
	struct hconn h = { .fd = -1 };
	struct hresp r;

	REQUIRE(hconn_open(&h, srv_idle.port, IO_MS) == 0);
	REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r) == 0);
	CU_ASSERT(r.status == 200);
	hresp_free(&r);
	check_idle_bound("idle keep-alive connection", closed_after(h.fd, now_ms(), 10 * IDLE_T + 2000));
out:
	hconn_close(&h);
}

static void test_idle_silent(void)
{
	uint64_t t0 = now_ms();
	int fd = cl_connect(srv_idle.port, 0, IO_MS);

	REQUIRE(fd >= 0);
	check_idle_bound("connection that sends nothing", closed_after(fd, t0, 10 * IDLE_T + 2000));
out:
	if (fd >= 0)
		close(fd);
}

/* A header byte every T/3: bytes of an incomplete request do not restart the
 * timer, so it is closed at T all the same (with no answer). */
static void test_slowloris(void)
{
	static const char part[] = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq";
	uint64_t t0 = now_ms();
	int fd = cl_connect(srv_idle.port, 0, IO_MS);
	long ms = -1;
	char b;

	REQUIRE(fd >= 0);
	for (size_t i = 0; i < sizeof(part) - 1 && now_ms() - t0 < 10 * IDLE_T; i++) {
		ssize_t n;

		if (cl_send_all(fd, part + i, 1, 100) < 0) {
			ms = (long)(now_ms() - t0);
			break;
		}
		n = cl_recv(fd, &b, 1, IDLE_T / 3);
		if (n == 0 || n == -ECONNRESET || n == -EPIPE) {
			ms = (long)(now_ms() - t0);
			break;
		}
		CU_ASSERT(n == -ETIMEDOUT);	/* no answer to an incomplete request */
		if (n > 0)
			break;
	}
	check_idle_bound("slowloris (a header byte every T/3)", ms);
out:
	if (fd >= 0)
		close(fd);
}

/* Output that makes no progress for T closes the connection too: a client that
 * never reads a 64 MiB answer is dropped, so it can read far less than 64 MiB. */
static void test_idle_stalled_output(void)
{
	static const char req[] = "GET /bytes?n=67108864 HTTP/1.1\r\nHost: t\r\n\r\n";
	char *buf = malloc(1 << 16);
	size_t total = 0;
	int fd = cl_connect(srv_idle.port, 4096, IO_MS);

	REQUIRE(buf != NULL && fd >= 0);
	REQUIRE(cl_send_all(fd, req, strlen(req), IO_MS) == 0);
	sleep_ms(10 * IDLE_T);
	for (;;) {
		ssize_t n = cl_recv(fd, buf, 1 << 16, IO_MS);

		if (n <= 0) {
			CU_ASSERT(n == 0 || n == -ECONNRESET);
			break;
		}
		total += (size_t)n;
	}
	if (total >= 67108864)
		fprintf(stderr, "\n    %s: a stalled 64 MiB response was not closed after 10 T\n", cfg.model);
	CU_ASSERT(total < 67108864);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
}

/* --- registration --- */

static int init_limits(void)
{
	static const char *const args[] = { "--max-body", "1000", NULL };

	return start_server(&srv_limits, "http", args);
}

static int clean_limits(void)
{
	return stop_server(&srv_limits, "http --max-body 1000");
}

static int init_idle(void)
{
	static const char *const args[] = { "--idle-timeout-ms", IDLE_T_STR, NULL };

	return start_server(&srv_idle, "http", args);
}

static int clean_idle(void)
{
	return stop_server(&srv_idle, "http --idle-timeout-ms " IDLE_T_STR);
}

void register_http_limit_suites(void)
{
	CU_pSuite s;

	s = CU_add_suite("http --max-body 1000", init_limits, clean_limits);
	CU_add_test(s, "Content-Length over --max-body: 413", test_413_length);
	CU_add_test(s, "Expect: 100-continue over --max-body: 413 at once", test_413_expect);
	CU_add_test(s, "chunked body over --max-body: 413", test_413_chunked);
	CU_add_test(s, "a body of exactly --max-body", test_max_body_ok);
	CU_add_test(s, "a body on GET / counts against --max-body too", test_413_other_route);

	s = CU_add_suite("http --idle-timeout-ms " IDLE_T_STR, init_idle, clean_idle);
	CU_add_test(s, "an idle keep-alive client is closed", test_idle_keepalive);
	CU_add_test(s, "a silent client is closed", test_idle_silent);
	CU_add_test(s, "a slowloris client is closed", test_slowloris);
	CU_add_test(s, "output stalled for T is closed", test_idle_stalled_output);
}
