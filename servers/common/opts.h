/* Command line shared by every server (docs/contract.md, "Servers"). */
#ifndef LB_OPTS_H
#define LB_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum proto { PROTO_ECHO, PROTO_HTTP };

/* Options a model may support beyond the common ones.  A model passes the set it
 * supports; any other of these on its command line is a usage error. */
enum {
	OPT_THREADS  = 1 << 0,	/* --threads N   (pool) */
	OPT_OFFLOAD  = 1 << 1,	/* --offload N   (event models) */
	OPT_REACTORS = 1 << 2,	/* --reactors N  (event models) */
	OPT_STACK_KB = 1 << 3,	/* --stack-kb K  (threads, pool) */
	OPT_PROCS    = 1 << 4,	/* --procs N     (prefork) */
};

struct srv_opts {
	enum proto proto;		/* required */
	const char *host;		/* "127.0.0.1" */
	int port;			/* 8080; 0 = ephemeral */
	int backlog;			/* 4096 */
	int threads;			/* 64 */
	int procs;			/* 64 */
	int offload;			/* 0 = work runs on the loop */
	int reactors;			/* 1 */
	int stack_kb;			/* 0 = the system's default */
	int idle_timeout_ms;		/* 10000; 0 = off */
	int drain_timeout_ms;		/* 15000: SIGTERM's drain, then exit anyway */
	int max_conns;			/* 0 = no limit */
	uint64_t max_body;		/* 67108864 */
	uint64_t cpu_iters_per_us;	/* 0 = calibrate at start-up */
	const char *stats_file;		/* NULL = stderr */
	const char *db;			/* --db URI; NULL: /db and /queries answer 503 */
	int db_conns;			/* 4: database connections per process */
	bool quiet;
	bool enable_fail;		/* GET /fail answers (else 404) */
};

/* Fills *o from argv.  Returns 0 on success, 1 when --help was asked for, or
 * -EINVAL with a one-line reason in err (unknown or malformed option, a value out
 * of range, an option outside `supported`, --proto missing, a --db that libpq
 * cannot parse).  Never prints. */
int opts_parse(struct srv_opts *o, int argc, char **argv, unsigned supported,
	       char *err, size_t errlen);

/* Writes the usage message for a model supporting `supported` to f. */
void opts_usage(FILE *f, const char *prog, unsigned supported);

#endif
