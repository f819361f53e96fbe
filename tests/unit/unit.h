/* Shared by the unit test files: suite registration and a session driver. */
#ifndef LB_UNIT_H
#define LB_UNIT_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/server.h"
#include "common/session.h"

/* One per test file; each adds its suite and returns 0, or -1 on a CUnit error. */
int suite_http(void);
int suite_echo(void);
int suite_opts(void);
int suite_work(void);
int suite_idle(void);
int suite_timerheap(void);
int suite_workq(void);
int suite_stats(void);
int suite_net(void);
int suite_slots(void);
int suite_doneq(void);
int suite_regress(void);	/* test_regress.c: inputs the fuzzers and fault tests found */
int suite_db(void);		/* test_db.c: /db and /queries without a database */
int suite_dbclients(void);	/* test_dbclients.c: dbpool and dbloop on $LOOPBENCH_DB */

/* A name plus a test function, for the add_tests helper. */
struct unit_test {
	const char *name;
	CU_TestFunc fn;
};
int add_suite(const char *name, const struct unit_test *tests);

/* A server struct as server_init would leave it, without signals or sockets. */
void test_server(struct server *srv, enum proto proto);

/* What a session wrote, as the peer saw it. */
struct capture {
	char *buf;
	size_t len, cap;
	uint64_t total;		/* bytes seen, also when not stored */
	bool store;		/* keep the bytes (false: count only) */
	int works;		/* work items run */
};

void capture_init(struct capture *c, bool store);
void capture_free(struct capture *c);
void capture_bytes(struct capture *c, const char *p, size_t n);

/* Runs work inline and takes all output, until nothing changes: a fast peer. */
void drive(struct session *s, struct capture *c);

/* Feeds data in pieces of at most `piece` bytes (0: as large as the session's
 * buffer allows), driving after each.  Returns the bytes the session accepted;
 * fewer than n only when it stopped wanting input. */
size_t feed(struct session *s, struct capture *c, const char *data, size_t n, size_t piece);

#endif
