/* The shared command line: good, bad and unsupported options. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/opts.h"
#include "unit.h"

#define MAXARGS 32

static int parse(struct srv_opts *o, unsigned supported, char *err, const char *const *args)
{
	char *argv[MAXARGS + 2];
	int argc = 0;

	argv[argc++] = (char *)"srv-test";
	for (; *args && argc <= MAXARGS; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return opts_parse(o, argc, argv, supported, err, 256);
}

static void test_defaults(void)
{
	struct srv_opts o;
	char err[256];
	const char *args[] = { "--proto", "echo", NULL };

	CU_ASSERT_EQUAL_FATAL(parse(&o, 0, err, args), 0);
	CU_ASSERT_EQUAL(o.proto, PROTO_ECHO);
	CU_ASSERT_STRING_EQUAL(o.host, "127.0.0.1");
	CU_ASSERT_EQUAL(o.port, 8080);
	CU_ASSERT_EQUAL(o.backlog, 4096);
	CU_ASSERT_EQUAL(o.threads, 64);
	CU_ASSERT_EQUAL(o.offload, 0);
	CU_ASSERT_EQUAL(o.reactors, 1);
	CU_ASSERT_EQUAL(o.stack_kb, 0);
	CU_ASSERT_EQUAL(o.idle_timeout_ms, 10000);
	CU_ASSERT_EQUAL(o.max_conns, 0);
	CU_ASSERT_EQUAL(o.max_body, 67108864);
	CU_ASSERT_EQUAL(o.cpu_iters_per_us, 0);
	CU_ASSERT_PTR_NULL(o.stats_file);
	CU_ASSERT(!o.quiet);
	CU_ASSERT_PTR_NULL(o.db);
	CU_ASSERT_EQUAL(o.db_conns, 4);
	CU_ASSERT_EQUAL(o.procs, 64);
	CU_ASSERT(!o.enable_fail);
}

static void test_every_option(void)
{
	struct srv_opts o;
	char err[256];
	const char *args[] = {
		"--proto", "http", "--host", "::1", "--port", "0", "--backlog=16",
		"--threads", "8", "--offload", "2", "--reactors", "3", "--stack-kb", "64",
		"--idle-timeout-ms", "0", NULL,
	};
	const char *more[] = {
		"--proto=http", "--max-conns", "100", "--max-body", "4294967296",
		"--cpu-iters-per-us", "1000000", "--stats-file", "/tmp/x.json", "--quiet",
		"--db", "postgresql://u@127.0.0.1:5/d?sslmode=disable", "--db-conns=16",
		"--enable-fail", NULL,
	};
	const char *procs[] = { "--proto", "http", "--procs", "10000", NULL };

	int r = parse(&o, OPT_THREADS | OPT_OFFLOAD | OPT_REACTORS | OPT_STACK_KB, err, args);
	if (r != 0)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_EQUAL(o.proto, PROTO_HTTP);
	CU_ASSERT_STRING_EQUAL(o.host, "::1");
	CU_ASSERT_EQUAL(o.port, 0);
	CU_ASSERT_EQUAL(o.backlog, 16);
	CU_ASSERT_EQUAL(o.threads, 8);
	CU_ASSERT_EQUAL(o.offload, 2);
	CU_ASSERT_EQUAL(o.reactors, 3);
	CU_ASSERT_EQUAL(o.stack_kb, 64);
	CU_ASSERT_EQUAL(o.idle_timeout_ms, 0);

	CU_ASSERT_EQUAL_FATAL(parse(&o, 0, err, more), 0);
	CU_ASSERT_EQUAL(o.max_conns, 100);
	CU_ASSERT_EQUAL(o.max_body, 4294967296ULL);
	CU_ASSERT_EQUAL(o.cpu_iters_per_us, 1000000);
	CU_ASSERT_STRING_EQUAL(o.stats_file, "/tmp/x.json");
	CU_ASSERT(o.quiet);
	CU_ASSERT_STRING_EQUAL(o.db, "postgresql://u@127.0.0.1:5/d?sslmode=disable");
	CU_ASSERT_EQUAL(o.db_conns, 16);
	CU_ASSERT(o.enable_fail);

	CU_ASSERT_EQUAL_FATAL(parse(&o, OPT_PROCS, err, procs), 0);
	CU_ASSERT_EQUAL(o.procs, 10000);
}

static void test_help(void)
{
	struct srv_opts o;
	char err[256];
	const char *a[] = { "--help", NULL };
	const char *b[] = { "--proto", "http", "-h", NULL };

	CU_ASSERT_EQUAL(parse(&o, 0, err, a), 1);
	CU_ASSERT_EQUAL(parse(&o, 0, err, b), 1);
}

struct bad {
	const char *args[6];
	unsigned supported;
	const char *in_msg;	/* the reason names what was wrong */
};

static const struct bad bads[] = {
	{ { NULL }, 0, "--proto" },
	{ { "--port", "80", NULL }, 0, "--proto" },
	{ { "--proto", "ftp", NULL }, 0, "ftp" },
	{ { "--proto", NULL }, 0, "--proto" },
	{ { "--proto", "http", "--port", "65536", NULL }, 0, "--port" },
	{ { "--proto", "http", "--port", "-1", NULL }, 0, "--port" },
	{ { "--proto", "http", "--port", "+80", NULL }, 0, "--port" },
	{ { "--proto", "http", "--port", "8o", NULL }, 0, "--port" },
	{ { "--proto", "http", "--port", "", NULL }, 0, "--port" },
	{ { "--proto", "http", "--port", "0x50", NULL }, 0, "--port" },
	{ { "--proto", "http", "--port", "99999999999999999999999", NULL }, 0, "--port" },
	{ { "--proto", "http", "--backlog", "0", NULL }, 0, "--backlog" },
	{ { "--proto", "http", "--threads", "0", NULL }, OPT_THREADS, "--threads" },
	{ { "--proto", "http", "--reactors", "0", NULL }, OPT_REACTORS, "--reactors" },
	{ { "--proto", "http", "--stack-kb", "8", NULL }, OPT_STACK_KB, "--stack-kb" },
	{ { "--proto", "http", "--cpu-iters-per-us", "0", NULL }, 0, "--cpu-iters-per-us" },
	{ { "--proto", "http", "--max-body", "4294967297", NULL }, 0, "--max-body" },
	{ { "--proto", "http", "--idle-timeout-ms", "-5", NULL }, 0, "--idle-timeout-ms" },
	{ { "--proto", "http", "--host", "localhost", NULL }, 0, "localhost" },
	{ { "--proto", "http", "--stats-file", "", NULL }, 0, "--stats-file" },
	{ { "--proto", "http", "--bogus", NULL }, 0, "--bogus" },
	{ { "--proto", "http", "--db", "", NULL }, 0, "--db" },
	{ { "--proto", "http", "--db", "localhost", NULL }, 0, "--db" },
	{ { "--proto", "http", "--db", "postgresql://h/d?nosuchoption=1", NULL }, 0, "nosuchoption" },
	{ { "--proto", "http", "--db", NULL }, 0, "--db" },
	{ { "--proto", "http", "--db-conns", "0", NULL }, 0, "--db-conns" },
	{ { "--proto", "http", "--db-conns", "10001", NULL }, 0, "--db-conns" },
	{ { "--proto", "http", "extra", NULL }, 0, "extra" },
	{ { "--proto", "http", "-x", NULL }, 0, "-x" },
	/* Options a model does not support. */
	{ { "--proto", "http", "--threads", "4", NULL }, OPT_STACK_KB, "--threads" },
	{ { "--proto", "http", "--offload", "1", NULL }, OPT_THREADS, "--offload" },
	{ { "--proto", "http", "--reactors", "2", NULL }, 0, "--reactors" },
	{ { "--proto", "http", "--stack-kb", "64", NULL }, OPT_OFFLOAD | OPT_REACTORS, "--stack-kb" },
	{ { "--proto", "http", "--procs", "4", NULL }, OPT_THREADS, "--procs" },
	{ { "--proto", "http", "--procs", "0", NULL }, OPT_PROCS, "--procs" },
	{ { "--proto", "http", "--procs", "10001", NULL }, OPT_PROCS, "--procs" },
	{ { "--proto", "http", "--enable-fail=1", NULL }, 0, "--enable-fail" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
		struct srv_opts o;
		char err[256];
		int r = parse(&o, bads[i].supported, err, bads[i].args);
		CU_ASSERT_EQUAL(r, -EINVAL);
		CU_ASSERT(strstr(err, bads[i].in_msg) != NULL);
		if (r != -EINVAL || !strstr(err, bads[i].in_msg))
			fprintf(stderr, "\n  bad case %zu: r=%d err='%s'\n", i, r, err);
	}
}

/* Reusable: parsing twice in one process starts afresh. */
static void test_reparse(void)
{
	struct srv_opts o;
	char err[256];
	const char *a[] = { "--proto", "echo", "--port", "1", NULL };
	const char *b[] = { "--proto", "http", NULL };

	CU_ASSERT_EQUAL(parse(&o, 0, err, a), 0);
	CU_ASSERT_EQUAL(o.port, 1);
	CU_ASSERT_EQUAL(parse(&o, 0, err, b), 0);
	CU_ASSERT_EQUAL(o.port, 8080);
	CU_ASSERT_EQUAL(o.proto, PROTO_HTTP);
}

int suite_opts(void)
{
	static const struct unit_test tests[] = {
		{ "defaults", test_defaults },
		{ "every option", test_every_option },
		{ "--help", test_help },
		{ "bad and unsupported options", test_bad },
		{ "parsing twice starts afresh", test_reparse },
		{ NULL, NULL },
	};
	return add_suite("opts", tests);
}
