/* GET /fail (docs/contract.md): a handler that fails, only with --enable-fail.
 *
 * kind=error fails the way the runtime reports errors (C: an error return;
 * node: an exception its wrapper catches): 500, counted in errors, and the
 * connection carries on.  kind=crash is a fault nothing in the process
 * recovers from (C: abort(); node: an exception thrown from a callback): the
 * request gets no answer, and the server process ends -- unless a supervisor
 * replaces the worker that died (prefork; node with --reactors), which then
 * keeps serving and counts the restart.  Without --enable-fail, /fail is 404,
 * so fuzzers and ordinary runs never meet it. */
#include "suite.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const enable[] = { "--enable-fail", NULL };

static void test_fail_disabled(void)
{
	static const char error[] = "GET /fail?kind=error HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char crash[] = "GET /fail?kind=crash HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	struct hresp r;

	REQUIRE(start_server(&c, "http", NULL) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	REQUIRE(XFER(&h, error, &r) == 0);
	CU_ASSERT(check_error("GET /fail?kind=error without --enable-fail", &r, 404, NULL, NULL, false));
	hresp_free(&r);
	REQUIRE(XFER(&h, crash, &r) == 0);
	CU_ASSERT(check_error("GET /fail?kind=crash without --enable-fail", &r, 404, NULL, NULL, false));
	hresp_free(&r);
	hconn_close(&h);
	CU_ASSERT(stop_server(&c, "/fail disabled") == 0);
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
}

static void test_fail_error(void)
{
	static const char error[] = "GET /fail?kind=error HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	struct hresp r;
	char *json = NULL;

	REQUIRE(start_server(&c, "http", enable) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	REQUIRE(XFER(&h, error, &r) == 0);
	CU_ASSERT(check_error("GET /fail?kind=error", &r, 500, NULL, NULL, false));
	hresp_free(&r);
	/* The error was the handler's: the same connection carries on. */
	REQUIRE(XFER(&h, get, &r) == 0);
	CU_ASSERT(r.status == 200);
	hresp_free(&r);
	REQUIRE(XFER(&h, error, &r) == 0);
	CU_ASSERT(r.status == 500);
	hresp_free(&r);
	hconn_close(&h);
	CU_ASSERT(stop_server(&c, "/fail?kind=error") == 0);
	json = read_stats_file(c.stats_path);
	REQUIRE(json != NULL);
	CU_ASSERT(json_num(json, "requests") == 3);
	CU_ASSERT(json_num(json, "errors") == 2);
	CU_ASSERT(json_num(json, "restarts") == 0);
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
	free(json);
}

static void test_fail_usage(void)
{
	static const struct {
		const char *req;
		int status;
		const char *allow;
		bool head;
	} cases[] = {
		{ "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL, false },
		{ "GET /fail?kind= HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL, false },
		{ "GET /fail?kind=boom HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL, false },
		{ "GET /fail?kind=crashed HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL, false },
		{ "GET /fail?how=crash HTTP/1.1\r\nHost: t\r\n\r\n", 400, NULL, false },
		{ "POST /fail?kind=crash HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "GET", false },
		{ "HEAD /fail?kind=crash HTTP/1.1\r\nHost: t\r\n\r\n", 405, "GET", true },
		{ "GET /fail/?kind=crash HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL, false },
	};
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	struct hresp r;

	REQUIRE(start_server(&c, "http", enable) == 0);
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		REQUIRE(xfer(&h, cases[i].req, strlen(cases[i].req), &r, cases[i].head) == 0);
		if (cases[i].head) {	/* the head of the 405, no body */
			CU_ASSERT(r.status == 405 && strcmp(r.allow, "GET") == 0 && r.body_len == 0);
		} else {
			CU_ASSERT(check_error(cases[i].req, &r, cases[i].status, cases[i].allow, NULL, false));
		}
		hresp_free(&r);
	}
	hconn_close(&h);
	CU_ASSERT(stop_server(&c, "/fail usage") == 0);
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
}

/* A core file the crash might have left in the server's directory (this one),
 * where core_pattern names a plain file ("core", "core.%p"). */
static bool core_left(pid_t pid)
{
	char pattern[256] = "", name[64];
	FILE *f = fopen("/proc/sys/kernel/core_pattern", "r");

	if (f) {
		if (!fgets(pattern, sizeof pattern, f))
			pattern[0] = '\0';
		fclose(f);
	}
	if (pattern[0] == '|' || strchr(pattern, '/'))
		return false;	/* a pipe or another directory: nothing to look at here */
	snprintf(name, sizeof name, "core.%d", (int)pid);
	return access("core", F_OK) == 0 || access(name, F_OK) == 0;
}

/* The pids of a process's children, sorted, into pids[max]; their count. */
static int children(pid_t pid, int *pids, int max)
{
	char path[64];
	int n = 0, x;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	while (n < max && fscanf(f, "%d", &x) == 1) {
		int i = n++;
		for (; i > 0 && pids[i - 1] > x; i--)
			pids[i] = pids[i - 1];
		pids[i] = x;
	}
	fclose(f);
	return n;
}

/* The children once they stop changing (a supervisor may still be starting
 * its workers after "listening on"): the same list three times, 50 ms apart. */
static int settled_children(pid_t pid, int *pids, int max)
{
	int prev[256], n = -1, same = 0;

	for (uint64_t end = now_ms() + IO_MS; same < 3 && now_ms() < end; sleep_ms(50)) {
		int k = children(pid, pids, max);

		same = k == n && memcmp(pids, prev, sizeof *pids * (size_t)k) == 0 ? same + 1 : 0;
		n = k;
		memcpy(prev, pids, sizeof *pids * (size_t)k);
	}
	return n;
}

static void test_fail_crash(void)
{
	static const char crash[] = "GET /fail?kind=crash HTTP/1.1\r\nHost: t\r\n\r\n";
	struct child c = { 0 };
	struct hconn h = { .fd = -1 };
	bool core_before = access("core", F_OK) == 0;
	char *json = NULL;
	pid_t pid;
	int code;

	int before[256], now[256], nb = 0, nn = 0;

	REQUIRE(start_server(&c, "http", enable) == 0);
	pid = c.pid;
	REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
	if (cfg.supervised) {	/* every worker up: it has served one request */
		struct hresp r0;

		REQUIRE(XFER(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r0) == 0);
		hresp_free(&r0);
		nb = settled_children(pid, before, 256);
	}
	REQUIRE(cl_send_all(h.fd, crash, strlen(crash), IO_MS) == 0);
	/* No answer: the connection ends with the process that held it. */
	CU_ASSERT_EQUAL(hconn_wait_close(&h, IO_MS), 0);
	hconn_close(&h);

	if (!cfg.supervised) {
		code = child_wait(&c, STOP_MS);
		printf("\n    /fail?kind=crash: the server ended by itself (exit status %d)", code);
		if (cfg.exact)	/* a C model: abort() */
			CU_ASSERT_EQUAL(code, 128 + SIGABRT);
		CU_ASSERT(code > 0);
		CU_ASSERT(core_before || !core_left(pid));
		goto out;
	}
	/* A supervisor replaced the worker: as many workers as before, one of
	 * them new; and new clients are served. */
	for (uint64_t end = now_ms() + IO_MS; now_ms() < end; sleep_ms(20))
		if ((nn = children(pid, now, 256)) == nb && memcmp(now, before, sizeof *now * (size_t)nb))
			break;
	CU_ASSERT(nn == nb && nb > 0 && memcmp(now, before, sizeof *now * (size_t)nb) != 0);
	{
		static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
		struct hresp r;
		int ok = -1;

		for (uint64_t end = now_ms() + IO_MS; ok != 0 && now_ms() < end;) {
			REQUIRE(hconn_open(&h, c.port, IO_MS) == 0);
			if ((ok = XFER(&h, get, &r)) == 0) {
				CU_ASSERT(r.status == 200);
				hresp_free(&r);
			}
			hconn_close(&h);
		}
		CU_ASSERT_EQUAL(ok, 0);
	}
	CU_ASSERT(stop_server(&c, "/fail?kind=crash, supervised") == 0);
	json = read_stats_file(c.stats_path);
	REQUIRE(json != NULL);
	printf("\n    /fail?kind=crash: a worker died and was replaced (restarts %lld)",
	       json_num(json, "restarts"));
	CU_ASSERT(json_num(json, "restarts") == 1);
	CU_ASSERT(json_num(json, "errors") >= 1);
out:
	hconn_close(&h);
	child_stop(&c, STOP_MS);
	free(json);
}

void register_fail_suites(void)
{
	CU_pSuite s = CU_add_suite("GET /fail (--enable-fail)", NULL, NULL);

	CU_add_test(s, "without --enable-fail, /fail is 404", test_fail_disabled);
	CU_add_test(s, "kind=error: 500, counted, the connection carries on", test_fail_error);
	CU_add_test(s, "no or another kind 400, other methods 405", test_fail_usage);
	CU_add_test(s, "kind=crash: no answer; the process ends unless a supervisor replaces the worker",
		    test_fail_crash);
}
