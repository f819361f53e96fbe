/* Command line: valid lines give the right settings, every invalid one is a usage
 * error with a message (main turns that into exit 2). */
#include <CUnit/CUnit.h>
#include <string.h>

#include "opts.h"
#include "tests.h"

#define MAXARGS 32

/* Splits a space-separated line into argv (no quoting: test lines have none). */
static int parse_line(struct lg_opts *o, const char *line, char *err, size_t errlen)
{
	static char buf[1024];
	char *argv[MAXARGS];
	int argc = 0;

	snprintf(buf, sizeof(buf), "loadgen %s", line);
	for (char *t = strtok(buf, " "); t && argc < MAXARGS - 1; t = strtok(NULL, " "))
		argv[argc++] = t;
	argv[argc] = NULL;
	return opts_parse(o, argc, argv, err, errlen);
}

#define BASE "--proto http --target 127.0.0.1:8080 "

static void test_defaults(void)
{
	struct lg_opts o;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(parse_line(&o, BASE "-c 50 -d 10", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(o.proto, LG_HTTP);
	CU_ASSERT_STRING_EQUAL(o.target, "127.0.0.1:8080");
	CU_ASSERT_EQUAL(o.conns, 50);
	CU_ASSERT_EQUAL(o.threads, 1);
	CU_ASSERT_DOUBLE_EQUAL(o.duration_s, 10.0, 1e-12);
	CU_ASSERT_EQUAL(o.nrequests, 0);
	CU_ASSERT_DOUBLE_EQUAL(o.rate, 0, 1e-12);
	CU_ASSERT_EQUAL(o.pipeline, 1);
	CU_ASSERT_EQUAL(o.timeout_ms, 5000);
	CU_ASSERT_EQUAL(o.npaths, 1);
	CU_ASSERT_STRING_EQUAL(o.paths[0].path, "/");
	CU_ASSERT_EQUAL(o.close, 0);
	CU_ASSERT_EQUAL(o.quiet, 0);
	CU_ASSERT_EQUAL(o.allow_remote, 0);
	CU_ASSERT_DOUBLE_EQUAL(o.start_at, 0, 1e-12);
	CU_ASSERT_PTR_NULL(o.json);
	opts_free(&o);
}

static void test_all_options(void)
{
	struct lg_opts o;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(parse_line(&o, BASE "-t2 -c50 -d10s --rate 1000.5 --pipeline 16 "
					 "--close --warmup 2 --timeout-ms 100 --json a.json "
					 "--timeline t.csv --quiet --allow-remote --path /cpu?us=10 "
					 "--start-at 1700000000.25",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(o.threads, 2);
	CU_ASSERT_DOUBLE_EQUAL(o.duration_s, 10.0, 1e-12);
	CU_ASSERT_DOUBLE_EQUAL(o.rate, 1000.5, 1e-9);
	CU_ASSERT_EQUAL(o.pipeline, 16);
	CU_ASSERT_EQUAL(o.close, 1);
	CU_ASSERT_DOUBLE_EQUAL(o.warmup_s, 2.0, 1e-12);
	CU_ASSERT_EQUAL(o.timeout_ms, 100);
	CU_ASSERT_STRING_EQUAL(o.json, "a.json");
	CU_ASSERT_STRING_EQUAL(o.timeline, "t.csv");
	CU_ASSERT_EQUAL(o.quiet, 1);
	CU_ASSERT_EQUAL(o.allow_remote, 1);
	CU_ASSERT_DOUBLE_EQUAL(o.start_at, 1700000000.25, 1e-6);
	CU_ASSERT_STRING_EQUAL(o.paths[0].path, "/cpu?us=10");
	opts_free(&o);

	CU_ASSERT_EQUAL_FATAL(parse_line(&o, BASE "-c 4 -n 1000 --mix /:3,/cpu?us=100:1,/a:b:2",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(o.nrequests, 1000);
	CU_ASSERT_EQUAL(o.mix, 1);
	CU_ASSERT_EQUAL_FATAL(o.npaths, 3);
	CU_ASSERT_STRING_EQUAL(o.paths[0].path, "/");
	CU_ASSERT_EQUAL(o.paths[0].weight, 3);
	CU_ASSERT_STRING_EQUAL(o.paths[1].path, "/cpu?us=100");
	CU_ASSERT_EQUAL(o.paths[1].weight, 1);
	CU_ASSERT_STRING_EQUAL(o.paths[2].path, "/a:b");	/* the last ':' splits */
	CU_ASSERT_EQUAL(o.paths[2].weight, 2);
	opts_free(&o);

	CU_ASSERT_EQUAL_FATAL(parse_line(&o, "--proto echo --target [::1]:7 -c 1 -d 1 --size 1M",
					 err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(o.proto, LG_ECHO);
	CU_ASSERT_EQUAL(o.size, 1048576);
	opts_free(&o);

	CU_ASSERT_EQUAL(parse_line(&o, "--help", err, sizeof(err)), 1);
	CU_ASSERT_EQUAL(parse_line(&o, BASE "-c 1 -h", err, sizeof(err)), 1);
}

static void test_errors(void)
{
	static const char *bad[] = {
		"--target 127.0.0.1:80 -c 1 -d 1",			/* no --proto */
		"--proto http -c 1 -d 1",				/* no --target */
		BASE "-d 1",						/* no -c */
		BASE "-c 1",						/* neither -d nor -n */
		BASE "-c 1 -d 1 -n 5",					/* both */
		BASE "-c 2 -t 3 -d 1",					/* more threads than conns */
		BASE "-c 1 -d 1 --path / --mix /:1",
		BASE "-c 1 -d 1 --size 10",				/* --size is echo's */
		"--proto echo --target 127.0.0.1:7 -c 1 -d 1 --path /x",
		"--proto ftp --target 127.0.0.1:80 -c 1 -d 1",
		BASE "-c 0 -d 1",
		BASE "-c abc -d 1",
		BASE "-c 5x -d 1",
		BASE "-c -5 -d 1",
		BASE "-c 1 -d 0",
		BASE "-c 1 -d nan",
		BASE "-c 1 -d 1 --rate 0",
		BASE "-c 1 -d 1 --rate -5",
		BASE "-c 1 -d 1 --pipeline 0",
		BASE "-c 1 -d 1 --pipeline 2000",
		BASE "-c 1 -d 1 --timeout-ms 0",
		BASE "-c 1 -d 1 --warmup -1",
		BASE "-c 1 -d 1 --path nostartslash",
		BASE "-c 1 -d 1 --start-at 0",				/* seconds since 1970 */
		BASE "-c 1 -d 1 --start-at soon",
		BASE "-c 1 -d 1 --mix /a",
		BASE "-c 1 -d 1 --mix /a:0",
		BASE "-c 1 -d 1 --mix a:1",
		BASE "-c 1 -d 1 --mix /a:1,/a:2",
		BASE "-c 1 -d 1 --frobnicate",
		BASE "-c 1 -d 1 stray",
		BASE "-d 1 -c",						/* missing value */
		"--proto echo --target 127.0.0.1:7 -c 1 -d 1 --size 0",
		"--proto echo --target 127.0.0.1:7 -c 1 -d 1 --size 2G",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lg_opts o;
		char err[256];
		int rc = parse_line(&o, bad[i], err, sizeof(err));

		if (rc != -1)
			fprintf(stderr, "\n  accepted: %s\n", bad[i]);
		CU_ASSERT_EQUAL(rc, -1);
		CU_ASSERT(err[0] != '\0');
		opts_free(&o);
	}
}

void suite_opts(void)
{
	CU_pSuite s = CU_add_suite("opts", NULL, NULL);

	CU_add_test(s, "defaults", test_defaults);
	CU_add_test(s, "every option", test_all_options);
	CU_add_test(s, "usage errors", test_errors);
}
