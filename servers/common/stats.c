/* Server counters and their JSON (docs/contract.md, "Servers"). */
#include <errno.h>

#include "stats.h"

void stats_conn_opened(struct srv_stats *st)
{
	STAT_ADD(st, accepted, 1);
	uint_fast64_t now = STAT_ADD(st, conns, 1) + 1;

	uint_fast64_t peak = atomic_load_explicit(&st->peak_conns, memory_order_relaxed);
	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&st->peak_conns, &peak, now,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

void stats_io_error(struct srv_stats *st, int err)
{
	if (err == ECONNRESET || err == EPIPE)
		STAT_ADD(st, resets, 1);
	else
		STAT_ADD(st, errors, 1);
}

void stats_conn_closed(struct srv_stats *st)
{
	atomic_fetch_sub_explicit(&st->conns, 1, memory_order_relaxed);
}

/* model and proto are identifiers chosen by the program, never user input,
 * but a stray quote must still not break the JSON. */
static void put_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

#define LOAD(field) \
	((unsigned long long)atomic_load_explicit(&st->field, memory_order_relaxed))

int stats_write_json(const struct srv_stats *st, FILE *f, const char *model,
		     const char *proto, uint64_t cpu_iters_per_us)
{
	fputs("{\"schema\":1,\"model\":", f);
	put_json_str(f, model);
	fputs(",\"proto\":", f);
	put_json_str(f, proto);
	fprintf(f, ",\"accepted\":%llu,\"requests\":%llu,\"bytes_in\":%llu,"
		"\"bytes_out\":%llu,\"errors\":%llu,\"peak_conns\":%llu,"
		"\"cpu_iters_per_us\":%llu,\"timeouts\":%llu,\"resets\":%llu,"
		"\"waits_cut\":%llu,\"restarts\":%llu}\n",
		LOAD(accepted), LOAD(requests), LOAD(bytes_in), LOAD(bytes_out),
		LOAD(errors), LOAD(peak_conns), (unsigned long long)cpu_iters_per_us,
		LOAD(timeouts), LOAD(resets), LOAD(waiting), LOAD(restarts));
	if (fflush(f) != 0 || ferror(f))
		return -(errno ? errno : EIO);
	return 0;
}
