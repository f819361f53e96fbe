/* The unit-test runner: every suite, CUnit's basic interface, and an exit
 * status that says whether anything failed. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

int add_suite(const char *name, const struct unit_test *tests)
{
	CU_pSuite s = CU_add_suite(name, NULL, NULL);

	if (!s)
		return -1;
	for (; tests->name; tests++)
		if (!CU_add_test(s, tests->name, tests->fn))
			return -1;
	return 0;
}

void test_server(struct server *srv, enum proto proto)
{
	memset(srv, 0, sizeof *srv);
	srv->opts.proto = proto;
	srv->opts.host = "127.0.0.1";
	srv->opts.idle_timeout_ms = 10000;
	srv->opts.max_body = 67108864;
	srv->model = "test";
	srv->cpu_iters_per_us = 3;
	srv->shutdown_fd = -1;
}

void capture_init(struct capture *c, bool store)
{
	memset(c, 0, sizeof *c);
	c->store = store;
}

void capture_free(struct capture *c)
{
	free(c->buf);
	memset(c, 0, sizeof *c);
}

void capture_bytes(struct capture *c, const char *p, size_t n)
{
	c->total += n;
	if (!c->store)
		return;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n + 1)
			cap *= 2;
		c->buf = realloc(c->buf, cap);
		if (!c->buf)
			abort();
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
}

void drive(struct session *s, struct capture *c)
{
	for (;;) {
		struct work *w = session_work(s);
		if (w) {
			work_run(w);
			c->works++;
			session_work_done(s);
			continue;
		}
		const char *p;
		size_t n = session_output(s, &p);
		if (n == 0)
			break;
		capture_bytes(c, p, n);
		session_output_sent(s, n);
	}
}

size_t feed(struct session *s, struct capture *c, const char *data, size_t n, size_t piece)
{
	size_t done = 0;

	drive(s, c);
	while (done < n && session_wants_input(s)) {
		size_t cap;
		char *buf = session_input_buf(s, &cap);
		size_t k = n - done;
		if (k > cap)
			k = cap;
		if (piece && k > piece)
			k = piece;
		memcpy(buf, data + done, k);
		session_input(s, k);
		done += k;
		drive(s, c);
	}
	return done;
}

int main(void)
{
	int (*suites[])(void) = {
		suite_http, suite_echo, suite_opts, suite_work, suite_idle, suite_timerheap,
		suite_workq, suite_stats, suite_net, suite_slots, suite_doneq,
		suite_regress,
		suite_db, suite_dbclients,
	};

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		if (suites[i]() < 0) {
			fprintf(stderr, "test-unit: %s\n", CU_get_error_msg());
			CU_cleanup_registry();
			return 2;
		}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures();
	unsigned tests_failed = CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed || tests_failed ? 1 : 0;
}
