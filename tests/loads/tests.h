/* The load generator's CUnit suites; test_main.c runs them all. */
#ifndef TESTS_LOADS_TESTS_H
#define TESTS_LOADS_TESTS_H

void suite_hist(void);
void suite_sched(void);
void suite_resp(void);
void suite_opts(void);
void suite_addr(void);
void suite_timeline(void);

#endif
