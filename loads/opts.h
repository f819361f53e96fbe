/* The load generator's command line (docs/contract.md, "Load generator"). */
#ifndef LOADS_OPTS_H
#define LOADS_OPTS_H

#include <stddef.h>
#include <stdint.h>

#define LG_MAX_PATHS	64
#define LG_MAX_PIPELINE	1024
#define LG_MAX_THREADS	256
#define LG_MAX_CONNS	1000000

enum lg_proto { LG_HTTP, LG_ECHO };

struct lg_path {
	char *path;
	uint32_t weight;
};

struct lg_opts {
	enum lg_proto proto;
	const char *target;		/* HOST:PORT as given */
	struct lg_path paths[LG_MAX_PATHS];
	unsigned npaths;		/* 1 unless --mix */
	int mix;			/* the paths came from --mix */
	unsigned conns, threads;
	double duration_s;		/* -d; 0 when -n is used */
	uint64_t nrequests;		/* -n; 0 when -d is used */
	double rate;			/* --rate; 0 = closed loop */
	unsigned pipeline;
	uint64_t size;			/* echo message bytes */
	int close;			/* --close: a new connection per request */
	double warmup_s;
	unsigned timeout_ms;
	const char *json, *timeline;
	int quiet, allow_remote;
	double start_at;		/* --start-at, CLOCK_REALTIME seconds; 0 = at once */
	char *storage;			/* owns the strings of --path / --mix */
};

/* Parses argv into o (which it first resets to the defaults).  Returns 0 on success,
 * 1 when --help was asked for, and -1 on a usage error with a one-line message in
 * err.  Release with opts_free. */
int opts_parse(struct lg_opts *o, int argc, char **argv, char *err, size_t errlen);
void opts_free(struct lg_opts *o);

extern const char opts_usage[];

#endif
