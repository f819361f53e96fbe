/* Runs every suite of the load generator's unit tests with CUnit's basic
 * interface (its summary is printed); exits non-zero on any failure. */
#include <CUnit/Basic.h>
#include <stdio.h>

#include "tests.h"

int main(void)
{
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite_hist();
	suite_sched();
	suite_resp();
	suite_opts();
	suite_addr();
	suite_timeline();
	if (CU_get_error() != CUE_SUCCESS) {
		fprintf(stderr, "test-loads: %s\n", CU_get_error_msg());
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
