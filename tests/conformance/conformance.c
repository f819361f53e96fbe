/* The conformance suite: one set of cases run against any server binary, both
 * protocols, so that "the models are equivalent" is checked, not claimed.
 *
 *   test-conformance --server build/srv-epoll [--server-arg --offload --server-arg 2]
 *                    [--model epoll] [--proto http|echo|both] [--suite NAME] [--exact|--loose]
 *                    [--verbose] [--list]
 *
 * Each group of cases starts its own server instance as a child process on
 * --port 0 (the options it needs, e.g. a small --idle-timeout-ms), and stops it
 * with SIGTERM: a server that does not exit 0 fails the group.  Where a case
 * cannot apply to a model the suite prints "NOT APPLICABLE to <model>: ..." and
 * counts it; nothing is skipped silently.  --exact/--loose override the model
 * table's comparison rule; --suite runs one suite ("resources", "echo", ...);
 * --verbose lists every case as it runs; --list prints the cases ("suite:
 * case", one a line) without starting a server.  stdout is unbuffered, so a
 * case's name comes before what it says on stderr when both go to one file.  The last line is a
 * summary that mk/conformance.mk collects. */
#include "suite.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct conf_cfg cfg;

static int na_count;

/* What the contract says about each model: which options it supports, whether
 * it serves one connection at a time, whether its bytes must match exactly, and
 * whether a supervisor replaces a worker that dies (always; with --reactors N). */
enum { NO_SUPERVISOR, SUPERVISED, SUPERVISED_WITH_REACTORS };
static const struct {
	const char *model;
	unsigned supports;
	bool serializes;
	bool exact;
	int supervisor;
} models[] = {
	{ "iterative", 0, true, true, NO_SUPERVISOR },
	{ "threads", SUP_STACK_KB, false, true, NO_SUPERVISOR },
	{ "pool", SUP_THREADS | SUP_STACK_KB, false, true, NO_SUPERVISOR },
	{ "prefork", SUP_PROCS, false, true, SUPERVISED },
	{ "epoll", SUP_OFFLOAD | SUP_REACTORS, false, true, NO_SUPERVISOR },
	{ "poll", SUP_OFFLOAD | SUP_REACTORS, false, true, NO_SUPERVISOR },
	{ "select", SUP_OFFLOAD | SUP_REACTORS, false, true, NO_SUPERVISOR },
	{ "libev", SUP_OFFLOAD | SUP_REACTORS, false, true, NO_SUPERVISOR },
	{ "libuv", SUP_OFFLOAD | SUP_REACTORS, false, true, NO_SUPERVISOR },
	{ "uring", SUP_OFFLOAD | SUP_REACTORS, false, true, NO_SUPERVISOR },
	{ "node", SUP_OFFLOAD | SUP_REACTORS, false, false, SUPERVISED_WITH_REACTORS },
};

int offload_arg(void)
{
	for (int i = 0; i + 1 < cfg.nextra; i++)
		if (strcmp(cfg.extra[i], "--offload") == 0)
			return atoi(cfg.extra[i + 1]);
	return 0;
}

void not_applicable(const char *name, const char *reason)
{
	na_count++;
	printf("\n    NOT APPLICABLE to %s: %s: %s", cfg.model, name, reason);
	fflush(stdout);
}

int start_server(struct child *c, const char *proto, const char *const args[])
{
	const char *argv[48];
	int n = 0;

	argv[n++] = "--proto";
	argv[n++] = proto;
	argv[n++] = "--cpu-iters-per-us";
	argv[n++] = "100";	/* CONF_K */
	for (int i = 0; i < cfg.nextra; i++)
		argv[n++] = cfg.extra[i];
	for (int i = 0; args && args[i] && n < 47; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return child_start(c, cfg.server, argv, START_MS);
}

int stop_server(struct child *c, const char *what)
{
	int code = child_stop(c, STOP_MS);

	if (code != 0) {
		fprintf(stderr, "\nconformance: %s server (%s) exited with %d after SIGTERM, expected 0\n",
			cfg.model, what, code);
		return -1;
	}
	return 0;
}

bool check_resp(const char *what, const struct hresp *r, int status, const char *ctype,
		const char *allow, const char *conn, const void *body, size_t body_len,
		bool malformed_input)
{
	bool ok;

	if (cfg.exact) {
		size_t cap = body_len + 512, len;
		char *exp = malloc(cap);

		if (exp == NULL)
			return false;
		len = expect_bytes(exp, cap, status, ctype, allow, conn, body, body_len);
		ok = r->raw_len == len && memcmp(r->raw, exp, len) == 0;
		if (!ok) {
			fprintf(stderr, "\n    %s: %s: response differs from the contract\n", cfg.model, what);
			show_bytes("expected", exp, len, 400);
			show_bytes("got     ", r->raw, r->raw_len, 400);
		}
		free(exp);
		return ok;
	}
	/* Node may add Connection/Keep-Alive, but like every model no Date or Server
	 * header (res.sendDate = false). */
	ok = r->status == status && strstr(r->raw, "\r\nDate:") == NULL &&
	     strstr(r->raw, "\r\nServer:") == NULL;
	if (!malformed_input)
		ok = ok && strcmp(r->ctype, ctype) == 0 && r->body_len == body_len &&
		     memcmp(r->body, body, body_len) == 0;
	if (!ok) {
		fprintf(stderr, "\n    %s: %s: expected %d %s with a %zu-byte body%s\n", cfg.model, what,
			status, ctype, body_len, malformed_input ? " (status compared)" : "");
		show_bytes("got", r->raw, r->raw_len, 400);
	}
	return ok;
}

bool check_error(const char *what, const struct hresp *r, int status, const char *allow,
		 const char *conn, bool malformed_input)
{
	char body[64];

	snprintf(body, sizeof(body), "%s\n", reason_phrase(status));
	return check_resp(what, r, status, "text/plain", allow, conn, body, strlen(body),
			  malformed_input);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: test-conformance --server PATH [--server-arg ARG]... [--model NAME]\n"
		   "                        [--proto http|echo|both] [--suite NAME] [--exact|--loose] [--verbose]\n"
		   "                        [--list]\n");
}

int main(int argc, char **argv)
{
	const char *proto = "both";
	const char *only = NULL;
	int exact = -1;
	bool verbose = false, list = false;
	CU_pRunSummary sum;
	unsigned failed;
	struct rlimit rl;
	char extra[256] = "";

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			cfg.server = argv[++i];
		else if (strcmp(argv[i], "--server-arg") == 0 && i + 1 < argc && cfg.nextra < 15)
			cfg.extra[cfg.nextra++] = argv[++i];
		else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
			cfg.model = argv[++i];
		else if (strcmp(argv[i], "--proto") == 0 && i + 1 < argc)
			proto = argv[++i];
		else if (strcmp(argv[i], "--exact") == 0)
			exact = 1;
		else if (strcmp(argv[i], "--loose") == 0)
			exact = 0;
		else if (strcmp(argv[i], "--verbose") == 0)
			verbose = true;
		else if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--list") == 0)
			list = true;
		else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (cfg.server == NULL || access(cfg.server, X_OK) != 0 ||
	    (strcmp(proto, "http") && strcmp(proto, "echo") && strcmp(proto, "both"))) {
		if (cfg.server != NULL)
			fprintf(stderr, "test-conformance: %s is not an executable\n", cfg.server);
		usage(stderr);
		return 2;
	}
	if (cfg.model == NULL) {
		const char *b = strrchr(cfg.server, '/');

		b = b ? b + 1 : cfg.server;
		cfg.model = strncmp(b, "srv-", 4) == 0 ? b + 4 : b;
	}
	cfg.exact = true;
	cfg.reactors = 1;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		if (strcmp(models[i].model, cfg.model) == 0) {
			cfg.known = true;
			cfg.supports = models[i].supports;
			cfg.serializes = models[i].serializes;
			cfg.exact = models[i].exact;
		}
	}
	if (exact >= 0)
		cfg.exact = exact;
	for (int i = 0; i < cfg.nextra; i++) {
		if (strcmp(cfg.extra[i], "--reactors") == 0 && i + 1 < cfg.nextra)
			cfg.reactors = atoi(cfg.extra[i + 1]);
		strncat(extra, i ? " " : "", sizeof(extra) - strlen(extra) - 1);
		strncat(extra, cfg.extra[i], sizeof(extra) - strlen(extra) - 1);
	}
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strcmp(models[i].model, cfg.model) == 0)
			cfg.supervised = models[i].supervisor == SUPERVISED ||
					 (models[i].supervisor == SUPERVISED_WITH_REACTORS && cfg.reactors > 1);

	/* 500 concurrent connections and their servers' need descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, child_on_fatal);
	signal(SIGTERM, child_on_fatal);
	signal(SIGSEGV, child_on_fatal);
	signal(SIGABRT, child_on_fatal);
	atexit(child_stop_all);

	if (!list)
		printf("conformance: %s (%s)%s%s, %s comparison\n", cfg.model, cfg.server,
		       extra[0] ? " with " : "", extra, cfg.exact ? "byte-for-byte" :
		       "status/Content-Type/body (node's rule)");
	if (!cfg.known && !list)
		printf("conformance: model '%s' is not in the suite's table: its option support is unknown\n",
		       cfg.model);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	if (strcmp(proto, "echo") != 0) {
		register_http_suites();
		register_http_limit_suites();
		register_rfc9112_suites();
		register_wait_suites();
		register_db_suites();
	}
	if (strcmp(proto, "http") != 0)
		register_echo_suites();
	register_misc_suites(strcmp(proto, "echo") != 0, strcmp(proto, "http") != 0);
	register_resource_suites(strcmp(proto, "echo") != 0, strcmp(proto, "http") != 0);
	if (strcmp(proto, "echo") != 0)
		register_fail_suites();
	if (list) {	/* "suite: case", one a line: what a run would report */
		for (CU_pSuite s = CU_get_registry()->pSuite; s != NULL; s = s->pNext)
			for (CU_pTest t = s->pTest; t != NULL; t = t->pNext)
				printf("%s: %s\n", s->pName, t->pName);
		CU_cleanup_registry();
		return 0;
	}
	CU_basic_set_mode(verbose ? CU_BRM_VERBOSE : CU_BRM_NORMAL);
	if (only == NULL) {
		CU_basic_run_tests();
	} else {
		CU_pSuite s = CU_get_suite(only);

		if (s == NULL) {
			fprintf(stderr, "test-conformance: no suite '%s' (for this --proto)\n", only);
			CU_cleanup_registry();
			return 2;
		}
		CU_basic_run_suite(s);
	}
	sum = CU_get_run_summary();
	failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed() +
		 CU_get_number_of_failures() ? 1 : 0;
	printf("\nconformance summary: model=%s args='%s' tests=%u failed=%u asserts=%u asserts_failed=%u "
	       "suites_failed=%u not_applicable=%d result=%s\n",
	       cfg.model, extra, sum->nTestsRun, sum->nTestsFailed, sum->nAsserts, sum->nAssertsFailed,
	       sum->nSuitesFailed, na_count, failed ? "FAIL" : "PASS");
	CU_cleanup_registry();
	child_stop_all();
	return failed ? 1 : 0;
}
