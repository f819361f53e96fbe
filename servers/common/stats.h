/* Server counters, written as JSON at shutdown (docs/contract.md).  Updated from any
 * thread with relaxed atomics: they are totals, not synchronisation. */
#ifndef LB_STATS_H
#define LB_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

struct srv_stats {
	atomic_uint_fast64_t accepted;
	atomic_uint_fast64_t requests;	/* responses fully handed to the kernel (HTTP) */
	atomic_uint_fast64_t bytes_in;
	atomic_uint_fast64_t bytes_out;
	atomic_uint_fast64_t errors;	/* I/O errors and malformed requests */
	atomic_uint_fast64_t timeouts;	/* connections closed by the idle timeout */
	atomic_uint_fast64_t resets;	/* connections the peer reset (ECONNRESET, EPIPE):
					 * the client's doing, not a server error */
	atomic_uint_fast64_t restarts;	/* workers a supervisor replaced (prefork) */
	atomic_uint_fast64_t conns;	/* open now */
	atomic_uint_fast64_t peak_conns;
	atomic_uint_fast64_t waiting;	/* requests whose wait (/sleep, /db) is pending now;
					 * written as "waits_cut": 0 after a complete
					 * drain, else the waits the exit cut short */
};

#define STAT_ADD(st, field, n) \
	atomic_fetch_add_explicit(&(st)->field, (n), memory_order_relaxed)

/* A read or write on a connection failed with errno err: a reset by the peer
 * (ECONNRESET, EPIPE) counts in resets, anything else in errors. */
void stats_io_error(struct srv_stats *st, int err);

/* A connection opened (accepted++, conns++, peak updated) or closed (conns--). */
void stats_conn_opened(struct srv_stats *st);
void stats_conn_closed(struct srv_stats *st);

/* Writes the schema-1 JSON object and a newline to f.  Returns 0 or -errno. */
int stats_write_json(const struct srv_stats *st, FILE *f, const char *model,
		     const char *proto, uint64_t cpu_iters_per_us);

#endif
