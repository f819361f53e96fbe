/* Cases with a server of their own: the stats JSON at SIGTERM, a /cpu holding up
 * a concurrent GET / on a loop (and not elsewhere), --max-conns, and the command
 * line's usage errors. */
#include "procfs.h"
#include "suite.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

char *read_stats_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = calloc(1, 8192);
	n = buf ? fread(buf, 1, 8191, f) : 0;
	(void)n;
	fclose(f);
	return buf;
}

long long json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(json, pat);
	if (p == NULL)
		return -1;
	p += strlen(pat);
	while (*p == ' ' || *p == ':')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	return strtoll(p, NULL, 10);
}

static bool json_str_is(const char *json, const char *key, const char *want)
{
	char pat[128];

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	{
		const char *p = strstr(json, pat);

		if (p == NULL)
			return false;
		p += strlen(pat);
		while (*p == ' ' || *p == ':')
			p++;
		return *p == '"' && strncmp(p + 1, want, strlen(want)) == 0 && p[1 + strlen(want)] == '"';
	}
}

static void expect_stat(const char *json, const char *key, long long want)
{
	long long got = json_num(json, key);

	if (got != want)
		fprintf(stderr, "\n    %s: stats \"%s\" is %lld, the suite counted %lld\n", cfg.model, key,
			got, want);
	CU_ASSERT(got == want);
}

static void check_stats_common(const char *json, const char *proto)
{
	static const char *const keys[] = { "accepted", "requests", "bytes_in", "bytes_out", "errors",
					    "peak_conns", "cpu_iters_per_us", "timeouts", "restarts" };

	if (json == NULL) {
		CU_FAIL("no stats file written at SIGTERM");
		return;
	}
	CU_ASSERT(json_num(json, "schema") == 1);
	CU_ASSERT(json_str_is(json, "model", cfg.model));
	CU_ASSERT(json_str_is(json, "proto", proto));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		bool present = json_num(json, keys[i]) >= 0;

		if (!present)
			fprintf(stderr, "\n    %s: stats JSON lacks \"%s\": %s", cfg.model, keys[i], json);
		CU_ASSERT(present);
	}
	CU_ASSERT(json_num(json, "cpu_iters_per_us") == CONF_K);
}

/* Requests on three connections, the last one in progress when SIGTERM comes: it
 * is finished (Connection: close), the server exits 0, and its counters are
 * what the suite saw. */
static void test_stats_http(void)
{
	static const char *const seq[] = {
		"GET / HTTP/1.1\r\nHost: t\r\n\r\n", "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", "GET /cpu?us=x HTTP/1.1\r\nHost: t\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", "GET /bytes?n=1000 HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	static const char block[] = "GET /block?us=300000 HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	struct hresp r;
	long long sent = 0, got = 0, responses = 0;
	char *json = NULL;
	int code;

	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		REQUIRE(cl_send_all(h.fd, seq[i], strlen(seq[i]), IO_MS) == 0);
		sent += (long long)strlen(seq[i]);
		REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
		got += (long long)r.raw_len;
		responses++;
		hresp_free(&r);
	}
	hconn_close(&h);

	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	for (int i = 0; i < 10; i++) {
		REQUIRE(cl_send_all(h.fd, seq[0], strlen(seq[0]), IO_MS) == 0);
		sent += (long long)strlen(seq[0]);
	}
	for (int i = 0; i < 10; i++) {
		REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
		got += (long long)r.raw_len;
		responses++;
		hresp_free(&r);
	}
	hconn_close(&h);

	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	REQUIRE(cl_send_all(h.fd, block, strlen(block), IO_MS) == 0);
	sent += (long long)strlen(block);
	sleep_ms(100);
	kill(c.pid, SIGTERM);
	REQUIRE(hconn_read(&h, &r, false, IO_MS) == 0);
	CU_ASSERT(check_resp("request in progress at SIGTERM", &r, 200, "text/plain", NULL, "close", "ok", 2,
			     false));
	got += (long long)r.raw_len;
	responses++;
	hresp_free(&r);
	CU_ASSERT(hconn_wait_close(&h, IO_MS) == 0);
	hconn_close(&h);

	code = child_wait(&c, STOP_MS);
	if (code != 0)
		fprintf(stderr, "\n    %s: exit status %d after SIGTERM, expected 0\n", cfg.model, code);
	CU_ASSERT(code == 0);
	json = read_stats_file(c.stats_path);
	check_stats_common(json, "http");
	if (json != NULL) {
		expect_stat(json, "requests", responses);
		expect_stat(json, "accepted", 3);
		expect_stat(json, "bytes_in", sent);
		expect_stat(json, "bytes_out", got);
	}
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
	free(json);
}

/* Echo: two finished connections and one still open at SIGTERM, which the server
 * closes before it exits 0. */
static void test_stats_echo(void)
{
	struct child c = { 0 };
	char *buf = malloc(5000), *in = malloc(5000), *json = NULL;
	int fd = -1, code;

	REQUIRE(buf != NULL && in != NULL);
	memset(buf, 'e', 5000);
	REQUIRE(start_server(&c, "echo", NULL) == 0);
	for (int k = 0; k < 2; k++) {
		size_t n = k ? 5000 : 1000;

		fd = cl_connect(c.port, 0, IO_MS);
		REQUIRE(fd >= 0);
		REQUIRE(cl_send_all(fd, buf, n, IO_MS) == 0);
		REQUIRE(cl_recv_exact(fd, in, n, IO_MS) == 0);
		close(fd);
		fd = -1;
	}
	fd = cl_connect(c.port, 0, IO_MS);
	REQUIRE(fd >= 0);
	REQUIRE(cl_send_all(fd, buf, 10, IO_MS) == 0);
	REQUIRE(cl_recv_exact(fd, in, 10, IO_MS) == 0);
	kill(c.pid, SIGTERM);
	CU_ASSERT(cl_wait_close(fd, IO_MS, NULL) == 0);
	code = child_wait(&c, STOP_MS);
	if (code != 0)
		fprintf(stderr, "\n    %s: exit status %d after SIGTERM, expected 0\n", cfg.model, code);
	CU_ASSERT(code == 0);
	json = read_stats_file(c.stats_path);
	check_stats_common(json, "echo");
	if (json != NULL) {
		expect_stat(json, "accepted", 3);
		expect_stat(json, "bytes_in", 6010);
		expect_stat(json, "bytes_out", 6010);
	}
out:
	if (fd >= 0)
		close(fd);
	child_stop(&c, STOP_MS);
	free(buf);
	free(in);
	free(json);
}

/* --max-conns 2: a third connection waits (in the backlog) until one closes.
 * A prefork worker holds one connection, so its limit is the number of
 * workers: it runs with --procs 2 instead. */
static void test_max_conns(void)
{
	const char *const args[] = { cfg.supports & SUP_PROCS ? "--procs" : "--max-conns", "2", NULL };
	static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child c = { 0 };
	struct hconn h[3] = { { .fd = -1 }, { .fd = -1 }, { .fd = -1 } };
	struct hresp r;
	char *json = NULL;
	char b;

	if (cfg.serializes) {
		not_applicable("--max-conns 2", "serves one connection at a time: the limit never binds");
		return;
	}
	if (cfg.reactors > 1 && !cfg.exact) {
		not_applicable("--max-conns 2", "the limit is per process, and --reactors N runs N processes");
		return;
	}
	REQUIRE(start_server(&c, "http", args) == 0);
	for (int i = 0; i < 2; i++) {
		REQUIRE(hconn_open(&h[i], c.port, IO_MS) == 0);
		REQUIRE(cl_send_all(h[i].fd, get, strlen(get), IO_MS) == 0);
		REQUIRE(hconn_read(&h[i], &r, false, IO_MS) == 0);
		CU_ASSERT(r.status == 200);
		hresp_free(&r);
	}
	REQUIRE(hconn_open(&h[2], c.port, IO_MS) == 0);	/* the kernel completes it */
	REQUIRE(cl_send_all(h[2].fd, get, strlen(get), IO_MS) == 0);
	{
		ssize_t n = cl_recv(h[2].fd, &b, 1, 300);

		if (n != -ETIMEDOUT)
			fprintf(stderr, "\n    %s: a third connection over --max-conns 2 was %s\n", cfg.model,
				n > 0 ? "served" : "closed");
		CU_ASSERT(n == -ETIMEDOUT);
	}
	hconn_close(&h[0]);
	REQUIRE(hconn_read(&h[2], &r, false, IO_MS) == 0);
	CU_ASSERT(r.status == 200);
	hresp_free(&r);
	hconn_close(&h[1]);
	hconn_close(&h[2]);
	CU_ASSERT(child_stop(&c, STOP_MS) == 0);
	json = read_stats_file(c.stats_path);
	CU_ASSERT(json != NULL && json_num(json, "peak_conns") <= 2 && json_num(json, "peak_conns") >= 1);
out:
	for (int i = 0; i < 3; i++)
		hconn_close(&h[i]);
	child_stop(&c, STOP_MS);
	free(json);
}

/* Runs the binary with args; true when it exited with `want` and, for errors, said
 * something on stderr (for --help, on stdout). */
static bool exits_with(const char *const args[], int want)
{
	char out[4096], err[4096];
	int code = child_run(cfg.server, args, 5000, out, sizeof(out), err, sizeof(err));
	bool ok = code == want && (want == 0 ? out[0] != '\0' : err[0] != '\0');

	if (!ok) {
		fprintf(stderr, "\n    %s:", cfg.model);
		for (int i = 0; args[i]; i++)
			fprintf(stderr, " %s", args[i]);
		fprintf(stderr, ": exit %d (expected %d), stdout %zu bytes, stderr %zu bytes\n", code, want,
			strlen(out), strlen(err));
	}
	return ok;
}

static void test_usage(void)
{
	/* Every one has --port 0: a server that starts instead of refusing must not
	 * take a fixed port. */
	static const char *const bad[][8] = {
		{ "--proto", "http", "--port", "0", "--bogus", NULL },
		{ "--port", "0", NULL },
		{ "--proto", "smtp", "--port", "0", NULL },
		{ "--proto", "http", "--port", "abc", NULL },
		{ "--proto", "http", "--port", "0", "--idle-timeout-ms", "-5", NULL },
		{ "--proto", "http", "--port", "0", "--max-body", "12x", NULL },
		{ "--proto", "http", "--port", "0", "--cpu-iters-per-us", "", NULL },
		{ "--proto", "http", "--port", "0", "extra", NULL },
	};
	static const char *const help[] = { "--help", NULL };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT(exits_with(bad[i], 2));
	CU_ASSERT(exits_with(help, 0));
}

static void test_unsupported(void)
{
	static const struct {
		unsigned flag;
		const char *opt, *val;
	} opts[] = {
		{ SUP_THREADS, "--threads", "4" },
		{ SUP_OFFLOAD, "--offload", "2" },
		{ SUP_REACTORS, "--reactors", "2" },
		{ SUP_STACK_KB, "--stack-kb", "256" },
		{ SUP_PROCS, "--procs", "4" },
	};
	int checked = 0;

	if (!cfg.known) {
		not_applicable("unsupported options", "the model is not in the suite's table");
		return;
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const char *args[] = { "--proto", "http", "--port", "0", opts[i].opt, opts[i].val, NULL };

		if (cfg.supports & opts[i].flag)
			continue;
		CU_ASSERT(exits_with(args, 2));
		checked++;
	}
	if (checked == 0)
		not_applicable("unsupported options", "the model supports every optional option");
}

/* The server's CPU time that shows test_cpu_hol's /cpu has started: five clock
 * ticks of an otherwise idle server, a twentieth of the /cpu. */
#define CPU_STARTED_MS 50L

/* Claim C4's point about CPU-bound work, as an ordering, not a timing: a cheap
 * GET / sent while another connection's /cpu runs is answered after the /cpu
 * when the work runs on the one loop, and before it when the work runs
 * elsewhere (--offload, or a thread per connection). */
static void test_cpu_hol(void)
{
	/* The contract's largest /cpu: 1e9 units at the suite's K=100, about 1 s on
	 * these machines (their calibrated K is near 960).  With 2e8 units (0.2 s)
	 * threads under ASan once answered the GET / after the /cpu while the other
	 * suites loaded both cores: the margin must be long in real time, not in K. */
	static const char cpu[] = "GET /cpu?us=10000000 HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child c = { 0 };
	struct hconn h[2] = { { .fd = -1 }, { .fd = -1 } };
	struct hresp r;
	long cpu0;
	bool on_loop = (cfg.supports & SUP_OFFLOAD) && offload_arg() == 0;

	if (cfg.serializes) {
		not_applicable("/cpu delays a concurrent GET /", "serves one connection at a time: the second waits by design");
		return;
	}
	if (on_loop && cfg.reactors > 1) {
		not_applicable("/cpu delays a concurrent GET /",
			       "with --reactors the two connections may land on different loops");
		return;
	}
	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&h[0], c.port, IO_MS) == 0);
	REQUIRE(hconn_open(&h[1], c.port, IO_MS) == 0);
	REQUIRE((cpu0 = server_cpu_ms(c.pid)) >= 0);
	REQUIRE(cl_send_all(h[0].fd, cpu, strlen(cpu), IO_MS) == 0);
	/* The GET / goes once the work has started, seen as the idle server's
	 * CPU time rising (a fixed sleep was a guess that a loaded machine can
	 * beat), and long before it can end: a twentieth of it. */
	{
		uint64_t end = now_ms() + IO_MS;
		bool started;

		while (!(started = server_cpu_ms(c.pid) - cpu0 >= CPU_STARTED_MS) && now_ms() < end)
			sleep_ms(5);
		if (!started)
			fprintf(stderr, "\n    %s: no CPU used %d ms after a /cpu was sent\n", cfg.model, IO_MS);
		REQUIRE(started);
	}
	REQUIRE(cl_send_all(h[1].fd, get, strlen(get), IO_MS) == 0);
	REQUIRE(hconn_read(&h[1], &r, false, IO_MS) == 0);
	CU_ASSERT(r.status == 200);
	hresp_free(&r);
	{
		struct pollfd pfd = { .fd = h[0].fd, .events = POLLIN };
		bool cpu_first = poll(&pfd, 1, 0) == 1;

		if (cpu_first != on_loop)
			fprintf(stderr, "\n    %s: GET / was answered %s the /cpu (expected %s)\n", cfg.model,
				cpu_first ? "after" : "before", on_loop ? "after" : "before");
		CU_ASSERT(cpu_first == on_loop);
	}
	REQUIRE(hconn_read(&h[0], &r, false, IO_MS) == 0);
	CU_ASSERT(r.status == 200 && r.body_len == 8);
	hresp_free(&r);
out:
	hconn_close(&h[0]);
	hconn_close(&h[1]);
	child_stop(&c, STOP_MS);
}

void register_misc_suites(bool want_http, bool want_echo)
{
	CU_pSuite s = CU_add_suite("servers of their own", NULL, NULL);

	if (want_http)
		CU_add_test(s, "SIGTERM: HTTP stats match the client's count", test_stats_http);
	if (want_http)
		CU_add_test(s, "/cpu on the loop delays a concurrent GET /; offloaded it does not",
			    test_cpu_hol);
	if (want_echo)
		CU_add_test(s, "SIGTERM: echo stats match, open connections closed", test_stats_echo);
	CU_add_test(s, "--max-conns 2 (prefork: --procs 2): the third waits", test_max_conns);
	CU_add_test(s, "usage errors exit 2, --help exits 0", test_usage);
	CU_add_test(s, "unsupported options exit 2", test_unsupported);
}
