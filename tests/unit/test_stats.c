/* Counters and the stats JSON (docs/contract.md, "Start-up and shutdown"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"
#include "unit.h"

static void test_conns(void)
{
	struct srv_stats st;

	memset(&st, 0, sizeof st);
	stats_conn_opened(&st);
	stats_conn_opened(&st);
	stats_conn_closed(&st);
	stats_conn_opened(&st);
	stats_conn_closed(&st);
	stats_conn_closed(&st);
	CU_ASSERT_EQUAL(st.accepted, 3);
	CU_ASSERT_EQUAL(st.conns, 0);
	CU_ASSERT_EQUAL(st.peak_conns, 2);
}

static void test_json(void)
{
	struct srv_stats st;
	char *buf = NULL;
	size_t len = 0;

	memset(&st, 0, sizeof st);
	STAT_ADD(&st, accepted, 1);
	STAT_ADD(&st, requests, 2);
	STAT_ADD(&st, bytes_in, 3);
	STAT_ADD(&st, bytes_out, 4);
	STAT_ADD(&st, errors, 5);
	STAT_ADD(&st, peak_conns, 6);
	STAT_ADD(&st, timeouts, 7);
	STAT_ADD(&st, resets, 8);
	STAT_ADD(&st, waiting, 9);
	STAT_ADD(&st, restarts, 10);
	FILE *f = open_memstream(&buf, &len);
	CU_ASSERT_EQUAL(stats_write_json(&st, f, "epoll", "http", 812), 0);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf,
		"{\"schema\":1,\"model\":\"epoll\",\"proto\":\"http\",\"accepted\":1,"
		"\"requests\":2,\"bytes_in\":3,\"bytes_out\":4,\"errors\":5,"
		"\"peak_conns\":6,\"cpu_iters_per_us\":812,\"timeouts\":7,\"resets\":8,"
		"\"waits_cut\":9,\"restarts\":10}\n");
	free(buf);
}

/* A peer's reset is the client's doing; other I/O errors are the server's. */
static void test_io_error(void)
{
	struct srv_stats st;

	memset(&st, 0, sizeof st);
	stats_io_error(&st, ECONNRESET);
	stats_io_error(&st, EPIPE);
	stats_io_error(&st, ENOMEM);
	stats_io_error(&st, ETIMEDOUT);
	CU_ASSERT_EQUAL(st.resets, 2);
	CU_ASSERT_EQUAL(st.errors, 2);
}

int suite_stats(void)
{
	static const struct unit_test tests[] = {
		{ "open/close counts and peak", test_conns },
		{ "JSON, exact bytes", test_json },
		{ "I/O errors: resets apart", test_io_error },
		{ NULL, NULL },
	};
	return add_suite("stats", tests);
}
