/* The result of a run, and its three outputs: the human summary, the JSON of
 * docs/contract.md, and (in timeline.c) the per-second CSV. */
#ifndef LOADS_REPORT_H
#define LOADS_REPORT_H

#include <stdio.h>

#include "hist.h"
#include "opts.h"
#include "types.h"

struct result {
	const struct lg_opts *o;
	char addr[80];			/* the resolved target */
	int open_loop;
	double duration_s;		/* the measured window */
	struct counts cnt[ACC_N];	/* summed over threads */
	uint64_t unsent;		/* open loop: due in the run, never sent */
	uint64_t at_window[CONN_NSTATES];	/* connections by state, all threads */
	const struct hist *lat, *lat_unc, *lag;
	struct hist *const *path_lat;	/* --mix */
	double cpu_user_s, cpu_sys_s;	/* whole process, over the window */
	const double *busy;		/* per thread: CPU / wall over its window */
	unsigned nthreads;
	int generator_bound;
	int ended_early;		/* -n: no progress, or a signal */
	double start_late_ms;		/* --start-at: how late the load began; < 0 without */
	double window_unix[2];		/* the window's edges, CLOCK_REALTIME seconds */
};

void report_summary(FILE *f, const struct result *r);

/* Returns 0 or -EIO. */
int report_json(FILE *f, const struct result *r);

#endif
