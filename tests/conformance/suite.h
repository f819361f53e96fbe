/* What the conformance cases share: the model under test, its server instances,
 * and the checks that compare a response with the contract. */
#ifndef LB_SUITE_H
#define LB_SUITE_H

#include <CUnit/CUnit.h>
#include <stdbool.h>

#include "conf.h"

/* Options a model supports beyond the common ones (docs/contract.md, "One command line"). */
enum {
	SUP_THREADS = 1 << 0,
	SUP_OFFLOAD = 1 << 1,
	SUP_REACTORS = 1 << 2,
	SUP_STACK_KB = 1 << 3,
	SUP_PROCS = 1 << 4,
};

struct conf_cfg {
	const char *server;		/* the binary under test */
	const char *model;		/* "epoll", ... (from srv-<model> unless --model) */
	const char *extra[16];		/* --server-arg ..., NULL-terminated */
	int nextra;
	bool exact;			/* byte-for-byte (the C models) or node's rule */
	bool serializes;		/* one connection at a time (iterative) */
	bool known;			/* supports/serializes come from the model table */
	bool supervised;		/* a dead worker is replaced (prefork; node's cluster) */
	unsigned supports;
	int reactors;			/* from --reactors among the extra args, else 1 */
};

extern struct conf_cfg cfg;

/* K passed to every server, so /cpu checksums are known in advance. */
#define CONF_K 100

/* Generous bounds: a case fails on a wedged server, never on a slow machine. */
#define IO_MS 10000
#define START_MS 20000
#define STOP_MS 20000

/* Starts the model with --proto proto, the extra args, --cpu-iters-per-us K and
 * the given args (NULL-terminated).  0 or -1. */
int start_server(struct child *c, const char *proto, const char *const args[]);

/* Stops it; 0 when it exited 0, else -1 (and says why on stderr). */
int stop_server(struct child *c, const char *what);

/* The N of --offload N among the extra args (the variant), else 0. */
int offload_arg(void);

/* Prints "NOT APPLICABLE to <model>: <case>: <reason>" and counts it. */
void not_applicable(const char *name, const char *reason);

/* Compares a response with the contract.  exact models: the raw bytes must be
 * expect_bytes(...); node: status, Content-Type and body (status alone when
 * malformed_input).  Prints both sides on a mismatch; returns true when equal. */
bool check_resp(const char *what, const struct hresp *r, int status, const char *ctype,
		const char *allow, const char *conn, const void *body, size_t body_len,
		bool malformed_input);

/* The error response (reason phrase + "\n", text/plain). */
bool check_error(const char *what, const struct hresp *r, int status, const char *allow,
		 const char *conn, bool malformed_input);

/* Sends req on h and reads one response into r. */
int xfer(struct hconn *h, const char *req, size_t len, struct hresp *r, bool head);
#define XFER(h, req, r) xfer((h), (req), strlen(req), (r), false)

/* The stats file a server wrote at exit (malloc'd), or NULL; the unsigned
 * number after "key": in that flat JSON object, -1 if absent. */
char *read_stats_file(const char *path);
long long json_num(const char *json, const char *key);

void register_http_suites(void);
void register_http_limit_suites(void);
void register_rfc9112_suites(void);
void register_echo_suites(void);
void register_wait_suites(void);
void register_misc_suites(bool want_http, bool want_echo);
void register_resource_suites(bool want_http, bool want_echo);
void register_db_suites(void);	/* db_cases.c: /db and /queries, on $LOOPBENCH_DB */
void register_fail_suites(void);

#endif
