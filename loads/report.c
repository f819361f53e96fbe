#include "report.h"

#include <errno.h>
#include <string.h>

static const char *const err_kind_name[ERR_KINDS] = {
	"connect", "read", "write", "timeout", "status", "echo", "unavailable",
};

static uint64_t total_errors(const struct counts *c)
{
	uint64_t n = 0;

	for (int k = 0; k < ERR_KINDS; k++)
		n += c->errors[k];
	return n;
}

static double per_s(double v, double secs)
{
	return secs > 0 ? v / secs : 0;
}

static double cpu_us_per_request(const struct result *r)
{
	const struct counts *c = &r->cnt[ACC_WINDOW];

	return c->requests ? (r->cpu_user_s + r->cpu_sys_s) * 1e6 / (double)c->requests : 0;
}

static void summary_latency(FILE *f, const char *label, const struct hist *h)
{
	struct hist_summary s;

	hist_summarize(h, &s);
	fprintf(f, "  %-13s p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  p99.99 %llu  max %llu  "
		"mean %.1f  stdev %.1f\n", label,
		(unsigned long long)s.p50, (unsigned long long)s.p90, (unsigned long long)s.p99,
		(unsigned long long)s.p999, (unsigned long long)s.p9999,
		(unsigned long long)s.max, s.mean, s.stdev);
}

void report_summary(FILE *f, const struct result *r)
{
	const struct lg_opts *o = r->o;
	const struct counts *c = &r->cnt[ACC_WINDOW];
	const struct counts *wu = &r->cnt[ACC_WARMUP];
	struct hist_summary lag;

	fprintf(f, "loadgen %s %s (%s): %u connection%s, %u thread%s, ",
		o->proto == LG_HTTP ? "http" : "echo", o->target, r->addr,
		o->conns, o->conns == 1 ? "" : "s", o->threads, o->threads == 1 ? "" : "s");
	if (r->open_loop)
		fprintf(f, "open loop at %g req/s", o->rate);
	else
		fprintf(f, "closed loop");
	if (o->pipeline > 1)
		fprintf(f, ", pipeline %u", o->pipeline);
	if (o->close)
		fprintf(f, ", a connection per request");
	fprintf(f, "\n  window        %.3f s%s\n", r->duration_s,
		r->ended_early ? " (ended early)" : "");
	fprintf(f, "  requests      %llu  (%.1f/s)  warm-up %llu  abandoned %llu  late %llu",
		(unsigned long long)c->requests, per_s((double)c->requests, r->duration_s),
		(unsigned long long)wu->requests, (unsigned long long)(c->abandoned + wu->abandoned),
		(unsigned long long)c->late);
	if (r->open_loop)
		fprintf(f, "  unsent %llu", (unsigned long long)r->unsent);
	fputc('\n', f);
	summary_latency(f, r->open_loop ? "latency us" : "latency us", r->lat);
	if (r->open_loop)
		summary_latency(f, "(uncorrected)", r->lat_unc);
	if (o->mix)
		for (unsigned i = 0; i < o->npaths; i++)
			summary_latency(f, o->paths[i].path, r->path_lat[i]);
	fprintf(f, "  errors        %llu:", (unsigned long long)total_errors(c));
	for (int k = 0; k < ERR_KINDS; k++)
		fprintf(f, " %s %llu", err_kind_name[k], (unsigned long long)c->errors[k]);
	fprintf(f, "  (warm-up %llu)\n", (unsigned long long)total_errors(wu));
	fprintf(f, "  transfer      in %.2f MB/s  out %.2f MB/s\n",
		per_s((double)c->bytes_in, r->duration_s) / 1e6,
		per_s((double)c->bytes_out, r->duration_s) / 1e6);
	hist_summarize(r->lag, &lag);
	fprintf(f, "  generator     cpu user %.3f s  sys %.3f s  %.2f us/request  loop lag p99 %llu us"
		"  max %llu us  generator_bound %s\n",
		r->cpu_user_s, r->cpu_sys_s, cpu_us_per_request(r),
		(unsigned long long)lag.p99, (unsigned long long)lag.max,
		r->generator_bound ? "TRUE (the numbers measure the generator too)" : "false");
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_latency(FILE *f, const struct hist *h)
{
	struct hist_summary s;

	hist_summarize(h, &s);
	fprintf(f, "{\"p50\": %llu, \"p90\": %llu, \"p99\": %llu, \"p999\": %llu, "
		"\"p9999\": %llu, \"min\": %llu, \"max\": %llu, \"mean\": %.3f, \"stdev\": %.3f, "
		"\"count\": %llu}",
		(unsigned long long)s.p50, (unsigned long long)s.p90, (unsigned long long)s.p99,
		(unsigned long long)s.p999, (unsigned long long)s.p9999,
		(unsigned long long)s.min, (unsigned long long)s.max, s.mean, s.stdev,
		(unsigned long long)h->total);
}

/* Non-empty buckets as [highest value, count], ascending. */
static void json_histogram(FILE *f, const struct hist *h)
{
	int first = 1;

	fputc('[', f);
	for (size_t i = 0; i < HIST_LEN; i++) {
		if (!h->counts[i])
			continue;
		fprintf(f, "%s[%llu, %llu]", first ? "" : ", ",
			(unsigned long long)hist_highest(i), (unsigned long long)h->counts[i]);
		first = 0;
	}
	fputc(']', f);
}

static void json_errors(FILE *f, const struct counts *c)
{
	fputc('{', f);
	for (int k = 0; k < ERR_KINDS; k++)
		fprintf(f, "%s\"%s\": %llu", k ? ", " : "", err_kind_name[k],
			(unsigned long long)c->errors[k]);
	fputc('}', f);
}

static void json_config(FILE *f, const struct lg_opts *o)
{
	fprintf(f, "{\"proto\": \"%s\", \"target\": ", o->proto == LG_HTTP ? "http" : "echo");
	json_string(f, o->target);
	fprintf(f, ", \"path\": ");
	if (o->mix)
		fprintf(f, "null");
	else
		json_string(f, o->proto == LG_HTTP ? o->paths[0].path : "");
	fprintf(f, ", \"mix\": ");
	if (o->mix) {
		fputc('[', f);
		for (unsigned i = 0; i < o->npaths; i++) {
			fprintf(f, "%s[", i ? ", " : "");
			json_string(f, o->paths[i].path);
			fprintf(f, ", %u]", o->paths[i].weight);
		}
		fputc(']', f);
	} else {
		fprintf(f, "null");
	}
	fprintf(f, ", \"conns\": %u, \"threads\": %u", o->conns, o->threads);
	if (o->nrequests)
		fprintf(f, ", \"duration_s\": null, \"requests\": %llu",
			(unsigned long long)o->nrequests);
	else
		fprintf(f, ", \"duration_s\": %.6g, \"requests\": null", o->duration_s);
	if (o->rate > 0)
		fprintf(f, ", \"rate\": %.6g", o->rate);
	else
		fprintf(f, ", \"rate\": null");
	fprintf(f, ", \"pipeline\": %u, \"size\": ", o->pipeline);
	if (o->proto == LG_ECHO)
		fprintf(f, "%llu", (unsigned long long)o->size);
	else
		fprintf(f, "null");
	fprintf(f, ", \"close\": %s, \"warmup_s\": %.6g, \"timeout_ms\": %u, \"json\": ",
		o->close ? "true" : "false", o->warmup_s, o->timeout_ms);
	if (o->json)
		json_string(f, o->json);
	else
		fprintf(f, "null");
	fprintf(f, ", \"timeline\": ");
	if (o->timeline)
		json_string(f, o->timeline);
	else
		fprintf(f, "null");
	fprintf(f, ", \"quiet\": %s, \"allow_remote\": %s, \"start_at\": ",
		o->quiet ? "true" : "false", o->allow_remote ? "true" : "false");
	if (o->start_at > 0)
		fprintf(f, "%.6f}", o->start_at);
	else
		fprintf(f, "null}");
}

int report_json(FILE *f, const struct result *r)
{
	const struct lg_opts *o = r->o;
	const struct counts *c = &r->cnt[ACC_WINDOW];
	const struct counts *wu = &r->cnt[ACC_WARMUP];
	struct hist_summary lag;

	fprintf(f, "{\"schema\": 1, \"config\": ");
	json_config(f, o);
	fprintf(f, ",\n \"target_addr\": ");
	json_string(f, r->addr);
	fprintf(f, ", \"mode\": \"%s\", \"duration_s\": %.6f, \"ended_early\": %s,\n",
		r->open_loop ? "open" : "closed", r->duration_s, r->ended_early ? "true" : "false");
	fprintf(f, " \"window_unix\": [%.6f, %.6f], \"start_late_ms\": ", r->window_unix[0],
		r->window_unix[1]);
	if (r->start_late_ms >= 0)
		fprintf(f, "%.3f,\n", r->start_late_ms);
	else
		fprintf(f, "null,\n");
	fprintf(f, " \"requests\": %llu, \"warmup_requests\": %llu, \"abandoned\": %llu, "
		"\"late\": %llu, \"unsent\": %llu, \"started\": %llu, \"warmup_started\": %llu,\n",
		(unsigned long long)c->requests, (unsigned long long)wu->requests,
		(unsigned long long)(c->abandoned + wu->abandoned), (unsigned long long)c->late,
		(unsigned long long)r->unsent, (unsigned long long)c->started,
		(unsigned long long)wu->started);
	fprintf(f, " \"rps\": %.3f, \"bytes_in\": %llu, \"bytes_out\": %llu, \"reconnects\": %llu,\n",
		per_s((double)c->requests, r->duration_s), (unsigned long long)c->bytes_in,
		(unsigned long long)c->bytes_out, (unsigned long long)c->reconnects);
	fprintf(f, " \"conns_at_window\": {\"open\": %llu, \"connecting\": %llu, \"waiting\": %llu, "
		"\"backoff\": %llu, \"closed\": %llu}, \"connect_local_errors\": %llu,\n",
		(unsigned long long)r->at_window[CONN_OPEN],
		(unsigned long long)r->at_window[CONN_CONNECTING],
		(unsigned long long)r->at_window[CONN_WAIT],
		(unsigned long long)r->at_window[CONN_BACKOFF],
		(unsigned long long)r->at_window[CONN_CLOSED],
		(unsigned long long)(c->connect_local + wu->connect_local));
	fprintf(f, " \"errors\": ");
	json_errors(f, c);
	fprintf(f, ",\n \"warmup_errors\": ");
	json_errors(f, wu);
	fprintf(f, ",\n \"latency_us\": ");
	json_latency(f, r->lat);
	if (r->open_loop) {
		fprintf(f, ",\n \"latency_uncorrected_us\": ");
		json_latency(f, r->lat_unc);
	}
	fprintf(f, ",\n \"paths\": {");
	for (unsigned i = 0; o->proto == LG_HTTP && i < o->npaths; i++) {
		const struct hist *h = o->mix ? r->path_lat[i] : r->lat;

		fprintf(f, "%s\n  ", i ? "," : "");
		json_string(f, o->paths[i].path);
		fprintf(f, ": {\"requests\": %llu, \"latency_us\": ", (unsigned long long)h->total);
		json_latency(f, h);
		fprintf(f, ", \"histogram\": ");
		json_histogram(f, h);
		fputc('}', f);
	}
	fprintf(f, "},\n");
	hist_summarize(r->lag, &lag);
	fprintf(f, " \"self\": {\"cpu_user_s\": %.6f, \"cpu_sys_s\": %.6f, ",
		r->cpu_user_s, r->cpu_sys_s);
	if (c->requests)
		fprintf(f, "\"cpu_us_per_request\": %.4f, ", cpu_us_per_request(r));
	else
		fprintf(f, "\"cpu_us_per_request\": null, ");
	fprintf(f, "\"loop_lag_us\": {\"p50\": %llu, \"p99\": %llu, \"max\": %llu}, \"busy\": [",
		(unsigned long long)lag.p50, (unsigned long long)lag.p99,
		(unsigned long long)lag.max);
	for (unsigned i = 0; i < r->nthreads; i++)
		fprintf(f, "%s%.4f", i ? ", " : "", r->busy[i]);
	fprintf(f, "], \"generator_bound\": %s},\n", r->generator_bound ? "true" : "false");
	fprintf(f, " \"histogram\": ");
	json_histogram(f, r->lat);
	if (r->open_loop) {
		fprintf(f, ",\n \"histogram_uncorrected\": ");
		json_histogram(f, r->lat_unc);
	}
	fprintf(f, "}\n");
	return ferror(f) ? -EIO : 0;
}
