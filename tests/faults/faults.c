/* The fault tests (tests/faults/cases.c has the cases):
 *
 *   test-faults --server build/srv-epoll [--server-arg ARG]... [--model NAME]
 *               [--loadgen build/loadgen] [--pg harness/pg] [--verbose]
 *
 * Each case starts its own server (--port 0) and stops it with SIGTERM; a
 * server that does not exit 0 fails the case.  Where a case cannot apply to a
 * model the suite prints "NOT APPLICABLE to <model>: ..." and counts it; it
 * never skips silently.  The last line is a summary mk/faults.mk collects. */
#include "faults.h"

#include <CUnit/Basic.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

struct faults_cfg fcfg;

static int na_count;

static const struct {
	const char *model;
	bool exact, serializes, event, pooled, fd_setsize, limit_at_start, procs;
} models[] = {
	{ "iterative", true, true, false, false, false, false, false },
	{ "threads", true, false, false, false, false, false, false },
	{ "pool", true, false, false, true, false, false, false },
	{ "prefork", true, false, false, false, false, false, true },
	{ "select", true, false, true, false, true, false, false },
	{ "poll", true, false, true, false, false, false, false },
	{ "epoll", true, false, true, false, false, false, false },
	{ "libev", true, false, true, false, false, false, false },
	{ "libuv", true, false, true, false, false, false, false },
	{ "uring", true, false, true, false, false, true, false },
	{ "node", false, false, true, false, false, false, false },
};

void f_not_applicable(const char *name, const char *reason)
{
	na_count++;
	printf("\n    NOT APPLICABLE to %s: %s: %s", fcfg.model, name, reason);
	fflush(stdout);
}

int f_start(struct child *c, const char *proto, const char *const args[],
	    const char *const more[])
{
	const char *argv[48];
	int n = 0;

	argv[n++] = "--proto";
	argv[n++] = proto;
	argv[n++] = "--cpu-iters-per-us";
	argv[n++] = "100";
	for (int i = 0; i < fcfg.nextra; i++)
		argv[n++] = fcfg.extra[i];
	for (int i = 0; args && args[i] && n < 40; i++)
		argv[n++] = args[i];
	for (int i = 0; more && more[i] && n < 47; i++)
		argv[n++] = more[i];
	argv[n] = NULL;
	return child_start(c, fcfg.server, argv, F_START_MS);
}

bool f_stop(struct child *c, const char *what)
{
	int code = child_stop(c, F_STOP_MS);

	if (code != 0)
		fprintf(stderr, "\n    faults: %s server (%s) exited with %d after SIGTERM, expected 0\n",
			fcfg.model, what, code);
	return code == 0;
}

/* Calls fn(child, arg) for each child of each of pid's threads
 * (/proc/PID/task/TID/children). */
static void for_children(pid_t pid, void (*fn)(pid_t child, void *arg), void *arg)
{
	char path[96];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d)) != NULL) {
		FILE *f;
		int child;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.16s/children", (int)pid, e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		while (fscanf(f, "%d", &child) == 1)
			fn((pid_t)child, arg);
		fclose(f);
	}
	closedir(d);
}

static void add_cpu(pid_t child, void *arg)
{
	double s = proc_cpu_s(child);

	if (s > 0)
		*(double *)arg += s;
}

/* Its own threads' CPU, its children's that it has reaped (a prefork
 * server's workers that died), and its live descendants'. */
double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command may hold spaces and parentheses: fields start after the
	 * last ')'.  utime, stime, cutime and cstime are fields 14 to 17. */
	char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	long long cut, cst;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
			 &ut, &st, &cut, &cst) != 4)
		return -1;
	double sum = (double)(ut + st + (unsigned long long)(cut + cst)) / (double)sysconf(_SC_CLK_TCK);
	for_children(pid, add_cpu, &sum);
	return sum;
}

/* The names in a /proc directory (not . and ..), or -1. */
static int count_entries(const char *path)
{
	struct dirent *e;
	int n = 0;
	DIR *d;

	if (!(d = opendir(path)))
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void add_fds(pid_t child, void *arg)
{
	int k = proc_fds(child);

	if (k > 0)
		*(int *)arg += k;
}

/* A process's descriptors and its descendants' (a prefork server's workers). */
int proc_fds(pid_t pid)
{
	char path[96];
	int n;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((n = count_entries(path)) < 0)
		return -1;
	for_children(pid, add_fds, &n);
	return n;
}

int proc_threads(pid_t pid)
{
	char path[64], line[256];
	int n = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

int wait_fds_at_most(pid_t pid, int n, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	int k;

	while ((k = proc_fds(pid)) > n && now_ms() < end)
		sleep_ms(20);
	return k;
}

char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)(n > 0 ? n : 0) + 1);
	if (buf) {
		size_t got = fread(buf, 1, (size_t)(n > 0 ? n : 0), f);
		buf[got] = '\0';
	}
	fclose(f);
	return buf;
}

/* Where the value of a top-level key starts (keys of nested objects, such as
 * loadgen's "config": {"requests": ...}, do not count), or NULL. */
static const char *json_top_value(const char *json, const char *key)
{
	size_t klen = strlen(key);
	int depth = 0;

	if (!json)
		return NULL;
	for (const char *p = json; *p; p++) {
		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (*p == '"') {
			const char *s = p + 1, *e = strchr(s, '"');
			if (!e)
				return NULL;
			p = e;
			if (depth != 1 || (size_t)(e - s) != klen || memcmp(s, key, klen) != 0)
				continue;
			for (e++; *e == ' ' || *e == '\t' || *e == '\n'; e++)
				;
			if (*e != ':')
				continue;
			for (e++; *e == ' ' || *e == '\t' || *e == '\n'; e++)
				;
			return e;
		}
	}
	return NULL;
}

long long json_num(const char *json, const char *key)
{
	const char *p = json_top_value(json, key);

	return p && isdigit((unsigned char)*p) ? strtoll(p, NULL, 10) : -1;
}

long long json_sum_object(const char *json, const char *key)
{
	const char *p = json_top_value(json, key), *end;
	long long sum = 0;

	if (!p || *p != '{' || !(end = strchr(p, '}')))
		return -1;
	while (p < end) {
		if (*p == ':') {
			char *q;
			for (p++; *p == ' '; p++)
				;
			sum += strtoll(p, &q, 10);
			p = q;
		} else {
			p++;
		}
	}
	return sum;
}

long long json_num_in(const char *json, const char *obj, const char *key)
{
	const char *p = json_top_value(json, obj), *end;
	size_t klen = strlen(key);

	if (!p || *p != '{' || !(end = strchr(p, '}')))
		return -1;
	for (const char *q = p; q < end; q++) {
		if (*q != '"' || (size_t)(end - q) < klen + 2 || memcmp(q + 1, key, klen) != 0 ||
		    q[klen + 1] != '"')
			continue;
		for (q += klen + 2; *q == ' ' || *q == ':'; q++)
			;
		return isdigit((unsigned char)*q) ? strtoll(q, NULL, 10) : -1;
	}
	return -1;
}

pid_t f_spawn(const char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int f_wait_pid(pid_t pid, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	int st;

	while (now_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int get_status(int port, const char *path, int want_status, int timeout_ms)
{
	struct hconn h;
	struct hresp r;
	char req[256];
	int rc;

	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	if ((rc = hconn_open(&h, port, timeout_ms)) < 0)
		return rc;
	rc = cl_send_all(h.fd, req, strlen(req), timeout_ms);
	if (rc == 0) {
		rc = hconn_read(&h, &r, false, timeout_ms);
		if (rc == 0) {
			if (r.status != want_status)
				rc = -EPROTO;
			hresp_free(&r);
		}
	}
	hconn_close(&h);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: test-faults --server PATH [--server-arg ARG]... [--model NAME]\n"
		   "                   [--loadgen PATH] [--pg PATH] [--suite NAME] [--verbose]\n"
		   "--suite runs one suite only (e.g. \"database faults\"); all by default.\n"
		   "The database cases need $LOOPBENCH_DB and $LOOPBENCH_PG_CLUSTER:\n"
		   "  harness/pg run -- build/test-faults --server build/srv-epoll\n");
}

int main(int argc, char **argv)
{
	bool verbose = false, known = false;
	const char *only = NULL;
	char extra[256] = "";
	struct rlimit rl;

	fcfg.loadgen = "build/loadgen";
	fcfg.pg = "harness/pg";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			fcfg.server = argv[++i];
		else if (strcmp(argv[i], "--server-arg") == 0 && i + 1 < argc && fcfg.nextra < 15)
			fcfg.extra[fcfg.nextra++] = argv[++i];
		else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
			fcfg.model = argv[++i];
		else if (strcmp(argv[i], "--loadgen") == 0 && i + 1 < argc)
			fcfg.loadgen = argv[++i];
		else if (strcmp(argv[i], "--pg") == 0 && i + 1 < argc)
			fcfg.pg = argv[++i];
		else if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--verbose") == 0)
			verbose = true;
		else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!fcfg.server || access(fcfg.server, X_OK) != 0) {
		if (fcfg.server)
			fprintf(stderr, "test-faults: %s is not an executable\n", fcfg.server);
		usage(stderr);
		return 2;
	}
	if (!fcfg.model) {
		const char *b = strrchr(fcfg.server, '/');
		b = b ? b + 1 : fcfg.server;
		fcfg.model = strncmp(b, "srv-", 4) == 0 ? b + 4 : b;
	}
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
		if (strcmp(models[i].model, fcfg.model) == 0) {
			known = true;
			fcfg.exact = models[i].exact;
			fcfg.serializes = models[i].serializes;
			fcfg.event = models[i].event;
			fcfg.pooled = models[i].pooled;
			fcfg.fd_setsize = models[i].fd_setsize;
			fcfg.limit_at_start = models[i].limit_at_start;
			fcfg.procs = models[i].procs;
			fcfg.supervised = models[i].procs;	/* prefork's parent */
		}
	if (!known) {
		fprintf(stderr, "test-faults: model '%s' is not in the table (tests/faults/faults.c)\n",
			fcfg.model);
		return 2;
	}
	for (int i = 0; i < fcfg.nextra; i++) {
		strncat(extra, i ? " " : "", sizeof extra - strlen(extra) - 1);
		strncat(extra, fcfg.extra[i], sizeof extra - strlen(extra) - 1);
	}

	/* 1,000 client sockets, plus the server's. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, child_on_fatal);
	signal(SIGTERM, child_on_fatal);
	signal(SIGSEGV, child_on_fatal);
	signal(SIGABRT, child_on_fatal);
	atexit(child_stop_all);

	printf("faults: %s (%s)%s%s\n", fcfg.model, fcfg.server, extra[0] ? " with " : "", extra);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	register_fault_suites();
	register_wait_fault_suites();
	register_db_fault_suites();
	CU_basic_set_mode(verbose ? CU_BRM_VERBOSE : CU_BRM_NORMAL);
	if (only) {
		CU_pSuite s = CU_get_suite(only);
		if (!s) {
			fprintf(stderr, "test-faults: no suite named '%s'\n", only);
			CU_cleanup_registry();
			return 2;
		}
		CU_basic_run_suite(s);
	} else {
		CU_basic_run_tests();
	}
	CU_pRunSummary sum = CU_get_run_summary();
	unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed() +
			  CU_get_number_of_failures() ? 1 : 0;
	printf("\nfaults summary: model=%s args='%s' tests=%u failed=%u asserts=%u asserts_failed=%u "
	       "not_applicable=%d result=%s\n", fcfg.model, extra, sum->nTestsRun, sum->nTestsFailed,
	       sum->nAsserts, sum->nAssertsFailed, na_count, failed ? "FAIL" : "PASS");
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
