/* What a server costs, measured from outside in /proc/<pid> of the server
 * process (docs/contract.md, "Resources"): back-pressure bounds its memory while
 * a client sends faster than it reads, and a server with nothing to do uses no
 * CPU.  The bytes cases elsewhere pass without either -- a reactor that keeps
 * reading whatever its output backlog still echoes every byte, and one that
 * spins still answers -- so these two promises are checked here, on every model.
 * Each case starts a server of its own, so its memory starts from start-up,
 * and counts every process of it (node's cluster workers with --reactors). */
#include "procfs.h"
#include "suite.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* 10 MiB sent as fast as the server takes it, read back at about 16 MiB/s: 64
 * KiB every BP_READ_EVERY_MS.  With back-pressure the server holds its 64 KiB
 * high-water mark of output plus one read (session_impl.h); the rest waits in
 * the kernel's socket buffers, which are not the server's memory.  Without it
 * the server reads everything it is sent and holds what the reader has not
 * taken yet.  Measured on the C models: peak RSS +0.1 to +0.3 MiB with
 * back-pressure (ASan builds too, their quarantine off for this server), +6
 * to +11 MiB with epoll.c's conn_watch ignoring session_wants_input, echo and
 * HTTP alike.  2 MiB lies between, with a wide margin either way. */
#define BP_BYTES		(10u << 20)
#define BP_READ_CHUNK		65536
#define BP_READ_EVERY_MS	4
#define BP_GROWTH_MAX_KIB	2048L
#define BP_DEADLINE_MS		60000

/* A server whose connections are all waiting -- one drained after a short
 * write, one keep-alive between requests, one half-closed with its response
 * stuck -- must sleep in the kernel.  A loop that leaves EPOLLOUT armed once
 * the output has drained, or watches a socket whose EOF it has read, wakes at
 * once forever: a core's worth of CPU, and at least a few hundred ms per
 * second even on a machine shared with other busy processes.  100 ms in a
 * 1 s window (10 %) lies between the two with a wide margin either way (an
 * idle server measures 0 or one 10 ms tick). */
#define IDLE_WINDOW_MS		1000
#define IDLE_SETTLE_MS		300
#define IDLE_CPU_MAX_MS		100L

/* The sum over the server's processes of a /proc/<pid>/status value in kB
 * ("VmHWM:", "VmRSS:"), or -1 if none could be read. */
static long status_kib(pid_t leader, const char *key)
{
	pid_t pids[MAX_GROUP];
	int n = server_group_pids(leader, pids, MAX_GROUP);
	long sum = -1;

	for (int i = 0; i < n; i++) {
		char path[64], line[256];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, key, strlen(key)) == 0) {
				sum = (sum < 0 ? 0 : sum) + strtol(line + strlen(key), NULL, 10);
				break;
			}
		fclose(f);
	}
	return sum;
}

/* Waits (at most IO_MS) until the server's process group has stopped growing:
 * a prefork server answers while its parent is still forking workers (slowly
 * on a busy machine, under ASan), and a worker that starts after the baseline
 * would count as growth. */
static void settle_group(pid_t leader)
{
	pid_t pids[MAX_GROUP];
	int n = server_group_pids(leader, pids, MAX_GROUP), k;
	uint64_t end = now_ms() + IO_MS, same_since = now_ms();

	while (now_ms() < end && now_ms() - same_since < 300) {
		sleep_ms(50);
		if ((k = server_group_pids(leader, pids, MAX_GROUP)) != n) {
			n = k;
			same_since = now_ms();
		}
	}
}

/* Resets each process's peak RSS to its current RSS (clear_refs "5", Linux
 * 4.0): the peak of start-up and warm-up does not count.  False if the kernel
 * refused. */
static bool reset_peak(pid_t leader)
{
	pid_t pids[MAX_GROUP];
	int n = server_group_pids(leader, pids, MAX_GROUP);
	bool ok = n > 0;

	for (int i = 0; i < n; i++) {
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pids[i]);
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0 || write(fd, "5", 1) != 1)
			ok = false;
		if (fd >= 0)
			close(fd);
	}
	return ok;
}

/* Sends out[0..len) as fast as the server takes it and reads back want bytes
 * into in[], BP_READ_CHUNK every BP_READ_EVERY_MS at most.  0 or -errno. */
static int pump_slow_reader(int fd, const char *out, size_t len, char *in, size_t want)
{
	uint64_t end = now_ms() + BP_DEADLINE_MS, next_read = now_ms() + BP_READ_EVERY_MS;
	size_t sent = 0, got = 0;

	while (got < want) {
		uint64_t now = now_ms();
		bool may_read = now >= next_read;
		struct pollfd p = { fd, (short)((may_read ? POLLIN : 0) | (sent < len ? POLLOUT : 0)), 0 };
		int wait = may_read ? (int)(end - now) : (int)(next_read - now);

		if (now >= end)
			return -ETIMEDOUT;
		if (poll(&p, 1, wait) < 0 && errno != EINTR)
			return -errno;
		if ((p.revents & POLLOUT) && sent < len) {
			ssize_t n = send(fd, out + sent, len - sent < 65536 ? len - sent : 65536, MSG_NOSIGNAL);

			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				return -errno;
		}
		if (may_read && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			size_t cap = want - got < BP_READ_CHUNK ? want - got : BP_READ_CHUNK;
			ssize_t n = recv(fd, in + got, cap, 0);

			if (n > 0) {
				got += (size_t)n;
				next_read = now_ms() + BP_READ_EVERY_MS;
			} else if (n == 0) {
				return -EPIPE;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -errno;
			}
		}
	}
	return 0;
}

/* Starts a server, warms it up with one small exchange (its per-thread
 * buffers exist then), resets its peak RSS and returns the RSS it starts
 * from, in kB; -1 if any of it failed. */
static long start_measured(struct child *c, const char *proto, const char *warm, size_t wlen)
{
	char in[256];
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[512];
	long base;
	int fd, e;

	/* An ASan build keeps freed memory in a quarantine (256 MiB by default)
	 * that RSS would count: off for this server, whose use-after-free checks
	 * the other suites make. */
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
		 asan ? asan : "", asan && asan[0] ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	e = start_server(c, proto, NULL);
	if (asan)
		setenv("ASAN_OPTIONS", asan, 1);
	else
		unsetenv("ASAN_OPTIONS");
	if (e != 0)
		return -1;
	if ((fd = cl_connect(c->port, 0, IO_MS)) < 0)
		return -1;
	if (cl_send_all(fd, warm, wlen, IO_MS) != 0 || cl_recv(fd, in, sizeof(in), IO_MS) <= 0) {
		close(fd);
		return -1;
	}
	close(fd);
	sleep_ms(50);
	settle_group(c->pid);
	if (!reset_peak(c->pid))
		fprintf(stderr, "\n    %s: /proc/%d/clear_refs refused: the peak includes start-up\n",
			cfg.model, (int)c->pid);
	base = status_kib(c->pid, "VmRSS:");
	return base;
}

/* Peak RSS growth over base: within BP_GROWTH_MAX_KIB, or says by how much not.
 * Not for node: its buffers are garbage, freed when the collector runs, so its
 * RSS grows with the bytes that passed through whether or not it stopped
 * reading (measured: +26 MiB for 40 MiB echoed, with back-pressure).  node's
 * back-pressure is checked by "a stalled client resets", in the echo suite. */
static void check_growth(const struct child *c, long base, const char *what)
{
	long peak;
	bool ok;

	if (strcmp(cfg.model, "node") == 0) {
		not_applicable(what, "a garbage-collected heap: RSS grows with the bytes that "
			       "passed, whether or not the server stopped reading (the bytes are checked)");
		return;
	}
	peak = status_kib(c->pid, "VmHWM:");
	ok = base >= 0 && peak >= 0 && peak - base <= BP_GROWTH_MAX_KIB;

	fprintf(stderr, "\n    %s: %s: peak RSS +%ld KiB (at most %ld)\n", cfg.model, what, peak - base,
		BP_GROWTH_MAX_KIB);
	if (!ok)
		fprintf(stderr, "    %s: %s: peak RSS grew by %ld KiB (from %ld to %ld), at most %ld "
			"allowed: the server reads faster than its client takes the output "
			"(no back-pressure)\n", cfg.model, what, peak - base, base, peak, BP_GROWTH_MAX_KIB);
	CU_ASSERT(ok);
}

/* The body of both back-pressure cases: out[0..len) pumped to the server by a
 * slow reader, which must get back want bytes equal to expect[], while the
 * server's peak RSS stays within bounds. */
static void slow_reader_case(const struct child *c, long base, int fd, const char *out, size_t len,
			     char *in, const char *expect, size_t want, const char *what)
{
	int e = pump_slow_reader(fd, out, len, in, want);

	if (e != 0)
		fprintf(stderr, "\n    %s: %s: %s\n", cfg.model, what, strerror(-e));
	CU_ASSERT(e == 0);
	if (e != 0)
		return;
	CU_ASSERT(memcmp(in, expect, want) == 0);
	check_growth(c, base, what);
}

static void test_echo_backpressure(void)
{
	struct child c = { 0 };
	char *out = test_pattern(BP_BYTES, 7), *in = malloc(BP_BYTES);
	long base = start_measured(&c, "echo", "warm", 4);
	int fd = -1;

	REQUIRE(out != NULL && in != NULL && base >= 0);
	fd = cl_connect(c.port, BP_READ_CHUNK, IO_MS);
	REQUIRE(fd >= 0);
	slow_reader_case(&c, base, fd, out, BP_BYTES, in, out, BP_BYTES, "10 MiB echoed to a slow reader");
out:
	if (fd >= 0)
		close(fd);
	child_stop(&c, STOP_MS);
	free(out);
	free(in);
}

static void test_http_backpressure(void)
{
	static const char warm[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child c = { 0 };
	char head[128], *body = test_pattern(BP_BYTES, 11), *out = NULL, *in = NULL;
	int hl = snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %u\r\n\r\n", BP_BYTES);
	/* The response's head: the contract's bytes for the C models, any 200
	 * for node, whose head differs; read the head first, then the body. */
	long base = start_measured(&c, "http", warm, strlen(warm));
	size_t want = 0;
	int fd = -1;

	REQUIRE(body != NULL && base >= 0);
	out = malloc((size_t)hl + BP_BYTES);
	in = malloc(BP_BYTES + 1024);
	REQUIRE(out != NULL && in != NULL);
	memcpy(out, head, (size_t)hl);
	memcpy(out + hl, body, BP_BYTES);
	fd = cl_connect(c.port, BP_READ_CHUNK, IO_MS);
	REQUIRE(fd >= 0);
	/* The head of the response comes first and is short: find its end. */
	{
		char h[1024];
		size_t n = 0;

		REQUIRE(cl_send_all(fd, out, (size_t)hl + 1024, IO_MS) == 0);
		while (n < sizeof(h) - 1) {
			ssize_t r = cl_recv(fd, h + n, 1, IO_MS);

			REQUIRE(r == 1);
			n++;
			if (n >= 4 && memcmp(h + n - 4, "\r\n\r\n", 4) == 0)
				break;
		}
		h[n] = '\0';
		REQUIRE(strncmp(h, "HTTP/1.1 200 ", 13) == 0);
		want = BP_BYTES;
	}
	slow_reader_case(&c, base, fd, out + hl + 1024, BP_BYTES - 1024, in, body, want,
			 "10 MiB POST /echo to a slow reader");
out:
	if (fd >= 0)
		close(fd);
	child_stop(&c, STOP_MS);
	free(body);
	free(out);
	free(in);
}

/* Reads until EOF (or an error, or a deadline). */
static void drain(int fd)
{
	char buf[65536];

	while (cl_recv(fd, buf, sizeof(buf), IO_MS) > 0)
		;
}

/* A response no socket buffers can hold: twice the kernel's largest send
 * buffer (tcp_wmem's maximum, which autotuning may reach) plus a MiB, at most
 * /bytes's 64 MiB.  Sent to a client that reads nothing for a while, it meets a
 * short write whatever this machine's TCP settings. */
static long unbufferable(void)
{
	long lo, def, max = 4L << 20, n;
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");

	if (f != NULL) {
		if (fscanf(f, "%ld %ld %ld", &lo, &def, &max) != 3)
			max = 4L << 20;
		fclose(f);
	}
	n = 2 * max + (1L << 20);
	return n > 67108864L ? 67108864L : n;
}

static void test_idle_cpu(void)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	long n = unbufferable();
	char big[64];
	struct child c = { 0 };
	struct hconn a = { .fd = -1 }, k = { .fd = -1 };
	struct hresp r = { 0 };
	int b = -1;
	long before, after;

	snprintf(big, sizeof(big), "GET /bytes?n=%ld HTTP/1.1\r\nHost: t\r\n\r\n", n);
	REQUIRE(start_server(&c, "http", NULL) == 0);
	/* a: a response larger than the socket buffers, read only after a pause,
	 * so the server meets a short write, waits for writability, and must stop
	 * waiting for it once the output has drained. */
	a.fd = cl_connect(c.port, 16384, IO_MS);
	REQUIRE(a.fd >= 0);
	REQUIRE(cl_send_all(a.fd, big, strlen(big), IO_MS) == 0);
	sleep_ms(100);
	REQUIRE(hconn_read(&a, &r, false, IO_MS) == 0);
	CU_ASSERT(r.status == 200 && r.body_len == (size_t)n);
	hresp_free(&r);
	if (cfg.serializes) {
		not_applicable("idle CPU beside a keep-alive and a half-closed connection",
			       "serves one connection at a time (the drained connection is measured alone)");
	} else {
		/* k: keep-alive, between requests. */
		REQUIRE(hconn_open(&k, c.port, IO_MS) == 0);
		REQUIRE(XFER(&k, get, &r) == 0);
		CU_ASSERT(r.status == 200);
		hresp_free(&r);
		/* b: half-closed, its response stuck in a full socket buffer: the
		 * server must neither watch for writability it does not have nor
		 * keep reading the FIN. */
		b = cl_connect(c.port, 16384, IO_MS);
		REQUIRE(b >= 0);
		REQUIRE(cl_send_all(b, big, strlen(big), IO_MS) == 0);
		shutdown(b, SHUT_WR);
	}
	sleep_ms(IDLE_SETTLE_MS);
	before = server_cpu_ms(c.pid);
	sleep_ms(IDLE_WINDOW_MS);
	after = server_cpu_ms(c.pid);
	REQUIRE(before >= 0 && after >= 0);
	fprintf(stderr, "\n    %s: idle CPU %ld ms in %d ms (at most %ld)\n", cfg.model, after - before,
		IDLE_WINDOW_MS, IDLE_CPU_MAX_MS);
	if (after - before > IDLE_CPU_MAX_MS)
		fprintf(stderr, "    %s: used %ld ms of CPU in %d ms with every connection waiting, at "
			"most %ld allowed: the loop does not sleep\n", cfg.model, after - before,
			IDLE_WINDOW_MS, IDLE_CPU_MAX_MS);
	CU_ASSERT(after - before <= IDLE_CPU_MAX_MS);
	/* Still serving: the drained connection answers again. */
	REQUIRE(XFER(&a, get, &r) == 0);
	CU_ASSERT(r.status == 200);
	hresp_free(&r);
	if (b >= 0)	/* what a half-closed client gets is not this case's business */
		drain(b);
out:
	hconn_close(&a);
	hconn_close(&k);
	if (b >= 0)
		close(b);
	child_stop(&c, STOP_MS);
}

void register_resource_suites(bool want_http, bool want_echo)
{
	CU_pSuite s = CU_add_suite("resources", NULL, NULL);

	if (want_echo)
		CU_add_test(s, "back-pressure: 10 MiB echoed to a slow reader, peak RSS bounded",
			    test_echo_backpressure);
	if (want_http)
		CU_add_test(s, "back-pressure: 10 MiB POST /echo to a slow reader, peak RSS bounded",
			    test_http_backpressure);
	if (want_http)
		CU_add_test(s, "no busy loop: no CPU while every connection waits", test_idle_cpu);
}
