/* Echo protocol cases (docs/contract.md, "Echo protocol"): every byte back, in order, as
 * soon as possible; back-pressure; the idle timer restarted by any byte. */
#include "suite.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct child srv_echo, srv_echo_idle;

#define IDLE_T 300
#define IDLE_T_STR "300"
#define SLACK_MS 15

/* Writes out[] while reading the same number of bytes back into in[]. */
static int pump_echo(int fd, const char *out, char *in, size_t len, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	size_t sent = 0, got = 0;

	while (got < len) {
		struct pollfd p = { fd, POLLIN | (sent < len ? POLLOUT : 0), 0 };
		int64_t left = (int64_t)(end - now_ms());

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if ((p.revents & POLLOUT) && sent < len) {
			ssize_t n = send(fd, out + sent, len - sent < 65536 ? len - sent : 65536, MSG_NOSIGNAL);

			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, in + got, len - got, 0);

			if (n > 0)
				got += (size_t)n;
			else if (n == 0)
				return -EPIPE;
			else if (errno != EAGAIN && errno != EINTR)
				return -errno;
		}
	}
	return 0;
}

static void test_echo_small(void)
{
	char buf[64];
	int fd = cl_connect(srv_echo.port, 0, IO_MS);

	REQUIRE(fd >= 0);
	for (int i = 0; i < 5; i++) {
		int n = snprintf(buf, sizeof(buf), "message %d\n", i);
		char got[64];

		REQUIRE(cl_send_all(fd, buf, (size_t)n, IO_MS) == 0);
		REQUIRE(cl_recv_exact(fd, got, (size_t)n, IO_MS) == 0);
		CU_ASSERT(memcmp(got, buf, (size_t)n) == 0);
	}
out:
	if (fd >= 0)
		close(fd);
}

/* Each byte comes back before the next is sent: nothing waits for more input. */
static void test_echo_byte_at_a_time(void)
{
	int fd = cl_connect(srv_echo.port, 0, IO_MS);

	REQUIRE(fd >= 0);
	for (int i = 0; i < 64; i++) {
		char c = (char)(i * 13), got = 0;

		REQUIRE(cl_send_all(fd, &c, 1, IO_MS) == 0);
		REQUIRE(cl_recv_exact(fd, &got, 1, IO_MS) == 0);
		CU_ASSERT(got == c);
	}
out:
	if (fd >= 0)
		close(fd);
}

static void test_echo_10mib(void)
{
	const size_t n = 10 << 20;
	char *out = malloc(n), *in = malloc(n);
	int fd = -1, e;

	REQUIRE(out != NULL && in != NULL);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)((i * 31 + (i >> 13)) & 0xff);
	fd = cl_connect(srv_echo.port, 0, IO_MS);
	REQUIRE(fd >= 0);
	e = pump_echo(fd, out, in, n, 30000);
	CU_ASSERT(e == 0);
	if (e == 0) {
		bool same = memcmp(in, out, n) == 0;

		if (!same)
			fprintf(stderr, "\n    %s: 10 MiB echo came back different\n", cfg.model);
		CU_ASSERT(same);
	}
out:
	if (fd >= 0)
		close(fd);
	free(out);
	free(in);
}

/* After the client's FIN, what it sent still comes back, then the server closes. */
static void test_echo_half_close(void)
{
	char out[1000], in[1000];
	int fd = cl_connect(srv_echo.port, 0, IO_MS);

	REQUIRE(fd >= 0);
	memset(out, 'h', sizeof(out));
	REQUIRE(cl_send_all(fd, out, sizeof(out), IO_MS) == 0);
	shutdown(fd, SHUT_WR);
	REQUIRE(cl_recv_exact(fd, in, sizeof(in), IO_MS) == 0);
	CU_ASSERT(memcmp(in, out, sizeof(in)) == 0);
	CU_ASSERT(cl_wait_close(fd, IO_MS, NULL) == 0);
out:
	if (fd >= 0)
		close(fd);
}

static void test_echo_500(void)
{
	char msg[100];
	int ok;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('a' + i % 26);
	ok = many_clients(srv_echo.port, 500, msg, sizeof(msg), msg, sizeof(msg), false, 60000);
	if (ok != 500)
		fprintf(stderr, "\n    %s: %d of 500 concurrent echo clients were answered\n", cfg.model, ok);
	CU_ASSERT(ok == 500);
}

/* A client that writes without reading: the server must stop reading it
 * (back-pressure: the client's writes stall well before 64 MiB), then it resets;
 * another client is served meanwhile and afterwards. */
static void test_echo_reset(void)
{
	const size_t chunk = 1 << 20, cap = 64u << 20;
	char *junk = malloc(chunk), in[64];
	int a = cl_connect(srv_echo.port, 4096, IO_MS), b = -1;
	size_t sent = 0;
	bool stalled = false;

	REQUIRE(junk != NULL && a >= 0);
	memset(junk, 'j', chunk);
	while (sent < cap) {
		ssize_t w = send(a, junk, chunk, MSG_NOSIGNAL);

		if (w > 0) {
			sent += (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { a, POLLOUT, 0 };

			if (poll(&p, 1, 300) == 0) {
				stalled = true;
				break;
			}
		} else if (w < 0 && errno != EINTR) {
			break;
		}
	}
	if (!stalled)
		fprintf(stderr, "\n    %s: echo took %zu bytes from a client that reads nothing\n",
			cfg.model, sent);
	CU_ASSERT(stalled);
	if (cfg.serializes) {
		not_applicable("another echo client served during a stalled one",
			       "serves one connection at a time (the reset part still runs)");
	} else {
		b = cl_connect(srv_echo.port, 0, IO_MS);
		REQUIRE(b >= 0);
		REQUIRE(cl_send_all(b, "ping", 4, IO_MS) == 0);
		REQUIRE(cl_recv_exact(b, in, 4, IO_MS) == 0);
		CU_ASSERT(memcmp(in, "ping", 4) == 0);
	}
	cl_reset(a);
	a = -1;
	if (b < 0)
		b = cl_connect(srv_echo.port, 0, IO_MS);
	REQUIRE(b >= 0);
	REQUIRE(cl_send_all(b, "pong", 4, IO_MS) == 0);
	REQUIRE(cl_recv_exact(b, in, 4, IO_MS) == 0);
	CU_ASSERT(memcmp(in, "pong", 4) == 0);
out:
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	free(junk);
}

static void check_idle_bound(const char *what, long ms)
{
	bool ok = ms >= IDLE_T - SLACK_MS && ms < 10 * IDLE_T;

	if (!ok)
		fprintf(stderr, "\n    %s: %s: closed after %ld ms, expected >= %d and < %d (-1: not closed)\n",
			cfg.model, what, ms, IDLE_T, 10 * IDLE_T);
	CU_ASSERT(ok);
}

/* A byte every T/3 keeps an echo connection open (any byte restarts the timer);
 * once silent it is closed after T. */
static void test_echo_trickle(void)
{
	int fd = cl_connect(srv_echo_idle.port, 0, IO_MS), e;
	uint64_t t0 = now_ms(), last;

	REQUIRE(fd >= 0);
	for (;;) {
		char c = 't', got = 0;

		REQUIRE(cl_send_all(fd, &c, 1, IO_MS) == 0);
		e = cl_recv_exact(fd, &got, 1, IO_MS);
		if (e != 0)
			fprintf(stderr, "\n    %s: echo client sending a byte every T/3 was closed after %ld ms\n",
				cfg.model, (long)(now_ms() - t0));
		REQUIRE(e == 0);
		CU_ASSERT(got == 't');
		if (now_ms() - t0 >= 4 * IDLE_T)
			break;
		sleep_ms(IDLE_T / 3);
	}
	last = now_ms();
	e = cl_wait_close(fd, 10 * IDLE_T + 2000, NULL);
	check_idle_bound("silent echo client after a trickle", e == 0 ? (long)(now_ms() - last) : -1);
out:
	if (fd >= 0)
		close(fd);
}

static void test_echo_idle_silent(void)
{
	uint64_t t0 = now_ms();
	int fd = cl_connect(srv_echo_idle.port, 0, IO_MS), e;

	REQUIRE(fd >= 0);
	e = cl_wait_close(fd, 10 * IDLE_T + 2000, NULL);
	check_idle_bound("silent echo client", e == 0 ? (long)(now_ms() - t0) : -1);
out:
	if (fd >= 0)
		close(fd);
}

static int init_echo(void)
{
	return start_server(&srv_echo, "echo", NULL);
}

static int clean_echo(void)
{
	return stop_server(&srv_echo, "echo");
}

static int init_echo_idle(void)
{
	static const char *const args[] = { "--idle-timeout-ms", IDLE_T_STR, NULL };

	return start_server(&srv_echo_idle, "echo", args);
}

static int clean_echo_idle(void)
{
	return stop_server(&srv_echo_idle, "echo --idle-timeout-ms " IDLE_T_STR);
}

void register_echo_suites(void)
{
	CU_pSuite s = CU_add_suite("echo", init_echo, clean_echo);

	CU_add_test(s, "small messages", test_echo_small);
	CU_add_test(s, "a byte at a time", test_echo_byte_at_a_time);
	CU_add_test(s, "10 MiB round trip, read while writing", test_echo_10mib);
	CU_add_test(s, "half-close: the rest comes back, then close", test_echo_half_close);
	CU_add_test(s, "500 concurrent connections", test_echo_500);
	CU_add_test(s, "a stalled client resets", test_echo_reset);

	s = CU_add_suite("echo --idle-timeout-ms " IDLE_T_STR, init_echo_idle, clean_echo_idle);
	CU_add_test(s, "a byte every T/3 is not closed", test_echo_trickle);
	CU_add_test(s, "a silent client is closed", test_echo_idle_silent);
}
