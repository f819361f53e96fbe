/* Timeline: per-second rows per thread, merged into the CSV. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests.h"
#include "timeline.h"

static void test_merge_csv(void)
{
	struct timeline a, b;
	struct timeline *tls[2] = { &a, &b };
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	CU_ASSERT_FATAL(timeline_init(&a) == 0 && timeline_init(&b) == 0);
	for (int i = 0; i < 100; i++)
		timeline_request(&a, 0, 10);
	timeline_request(&a, 2, 1000);
	timeline_errors(&a, 2, 2);
	for (int i = 0; i < 100; i++)
		timeline_request(&b, 0, 30);
	timeline_errors(&b, 1, 5);
	timeline_errors(&a, 3, 0);	/* the window's last second, though empty */
	CU_ASSERT(timeline_finish(&a) == 0);
	CU_ASSERT(timeline_finish(&b) == 0);
	CU_ASSERT_EQUAL(a.nrows, 4);
	CU_ASSERT_EQUAL(b.nrows, 2);

	f = open_memstream(&out, &outlen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT(timeline_write_csv(f, tls, 2) == 0);
	fclose(f);
	/* p50 of 200 values (100 x 10, 100 x 30) is the 100th = 10; p99 the 198th = 30. */
	CU_ASSERT_STRING_EQUAL(out,
		"t_s,requests,errors,p50_us,p99_us\n"
		"0,200,0,10,30\n"
		"1,0,5,,\n"
		"2,1,2,1000,1000\n"
		"3,0,0,,\n");
	free(out);
	timeline_free(&a);
	timeline_free(&b);
}

void suite_timeline(void)
{
	CU_pSuite s = CU_add_suite("timeline", NULL, NULL);

	CU_add_test(s, "rows merged into the CSV", test_merge_csv);
}
