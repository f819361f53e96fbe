/* Setting up and tearing down a load thread's state (its loop is in loop.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conn.h"
#include "util.h"
#include "worker.h"

#define MAX_CONNECTING	256	/* connects in flight per process: don't overrun the backlog */

void worker_init(struct worker *w, struct run *run, unsigned id, uint32_t nconns, uint64_t quota)
{
	const struct lg_opts *o = run->o;
	uint32_t ring = 1;
	struct req *rings;

	while (ring < o->pipeline)
		ring <<= 1;
	w->id = id;
	w->run = run;
	w->o = o;
	w->nconns = nconns;
	w->ring_mask = ring - 1;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0)
		die("epoll_create1: %s", strerror(errno));
	w->conns = xcalloc(nconns, sizeof(*w->conns));
	rings = xcalloc((size_t)nconns * ring, sizeof(*rings));
	for (uint32_t i = 0; i < nconns; i++)
		conn_init(&w->conns[i], w, i, rings + (size_t)i * ring);
	w->rbuf_size = o->proto == LG_HTTP ? 64 * 1024 : 256 * 1024;
	w->rbuf = xcalloc(1, w->rbuf_size);
	w->rng = 0x9e3779b97f4a7c15ull * (id + 1);
	w->timeout_ns = (uint64_t)o->timeout_ms * NS_PER_MS;
	w->tick_ns = w->timeout_ns / 20;
	if (w->tick_ns < NS_PER_MS)
		w->tick_ns = NS_PER_MS;
	if (w->tick_ns > 100 * NS_PER_MS)
		w->tick_ns = 100 * NS_PER_MS;
	w->max_connecting = MAX_CONNECTING / o->threads ? MAX_CONNECTING / o->threads : 1;
	w->sched.rate_mrps = run->rate_mrps ? run->rate_mrps : 1;
	w->sched.stride = o->threads;
	w->sched.offset = id;
	w->has_quota = o->nrequests && !run->rate_mrps;
	w->quota = quota;
	if (!(w->lat = hist_new()) || !(w->lag = hist_new()))
		die("out of memory");
	if (run->rate_mrps && !(w->lat_unc = hist_new()))
		die("out of memory");
	if (o->mix) {
		w->deck = xcalloc(o->npaths, sizeof(*w->deck));
		w->path_lat = xcalloc(o->npaths, sizeof(*w->path_lat));
		for (unsigned i = 0; i < o->npaths; i++)
			if (!(w->path_lat[i] = hist_new()))
				die("out of memory");
	}
	if (o->timeline) {
		w->tl = xcalloc(1, sizeof(*w->tl));
		if (timeline_init(w->tl))
			die("out of memory");
	}
}

void worker_free(struct worker *w)
{
	close(w->ep);
	if (w->nconns)
		free(w->conns[0].ring);
	free(w->conns);
	free(w->rbuf);
	free(w->lat);
	free(w->lat_unc);
	free(w->lag);
	for (unsigned i = 0; w->path_lat && i < w->o->npaths; i++)
		free(w->path_lat[i]);
	free(w->path_lat);
	free(w->deck);
	if (w->tl) {
		timeline_free(w->tl);
		free(w->tl);
	}
}
