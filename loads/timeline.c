#include "timeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int timeline_init(struct timeline *t)
{
	memset(t, 0, sizeof(*t));
	t->cur = hist_new();
	return t->cur ? 0 : -ENOMEM;
}

void timeline_free(struct timeline *t)
{
	free(t->cur);
	free(t->rows);
	free(t->entries);
	memset(t, 0, sizeof(*t));
}

static int push_row(struct timeline *t)
{
	struct tl_row *row;

	if (t->nrows == t->rows_cap) {
		size_t cap = t->rows_cap ? 2 * t->rows_cap : 64;
		struct tl_row *r = realloc(t->rows, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		t->rows = r;
		t->rows_cap = cap;
	}
	row = &t->rows[t->nrows++];
	row->requests = t->cur_requests;
	row->errors = t->cur_errors;
	row->first = t->nentries;
	row->n = 0;
	if (t->cur->total) {
		for (size_t i = 0; i < HIST_LEN; i++) {
			if (!t->cur->counts[i])
				continue;
			if (t->nentries == t->entries_cap) {
				size_t cap = t->entries_cap ? 2 * t->entries_cap : 1024;
				struct tl_entry *e = realloc(t->entries, cap * sizeof(*e));
				if (!e)
					return -ENOMEM;
				t->entries = e;
				t->entries_cap = cap;
			}
			t->entries[t->nentries].idx = (uint32_t)i;
			t->entries[t->nentries].count = (uint32_t)t->cur->counts[i];
			t->nentries++;
			row->n++;
		}
		hist_reset(t->cur);
	}
	t->cur_requests = 0;
	t->cur_errors = 0;
	return 0;
}

static int advance(struct timeline *t, uint64_t sec)
{
	while (t->sec < sec) {
		if (push_row(t))
			return -ENOMEM;
		t->sec++;
	}
	return 0;
}

int timeline_request(struct timeline *t, uint64_t sec, uint64_t us)
{
	if (sec > t->sec && advance(t, sec))
		return -ENOMEM;
	hist_record(t->cur, us);
	t->cur_requests++;
	return 0;
}

int timeline_errors(struct timeline *t, uint64_t sec, uint64_t n)
{
	if (sec > t->sec && advance(t, sec))
		return -ENOMEM;
	t->cur_errors += n;
	return 0;
}

int timeline_finish(struct timeline *t)
{
	if (push_row(t))
		return -ENOMEM;
	t->sec++;
	return 0;
}

int timeline_write_csv(FILE *f, struct timeline *const *tls, size_t n)
{
	struct hist *h = hist_new();
	size_t rows = 0;

	if (!h)
		return -ENOMEM;
	for (size_t j = 0; j < n; j++)
		if (tls[j]->nrows > rows)
			rows = tls[j]->nrows;
	fprintf(f, "t_s,requests,errors,p50_us,p99_us\n");
	for (size_t r = 0; r < rows; r++) {
		uint64_t req = 0, err = 0;

		hist_reset(h);
		for (size_t j = 0; j < n; j++) {
			const struct timeline *t = tls[j];
			if (r >= t->nrows)
				continue;
			req += t->rows[r].requests;
			err += t->rows[r].errors;
			for (size_t e = 0; e < t->rows[r].n; e++) {
				const struct tl_entry *en = &t->entries[t->rows[r].first + e];
				uint64_t v = hist_highest(en->idx);
				h->counts[en->idx] += en->count;
				h->total += en->count;
				if (v > h->max)
					h->max = v;
			}
		}
		if (h->total)
			fprintf(f, "%zu,%llu,%llu,%llu,%llu\n", r, (unsigned long long)req,
				(unsigned long long)err,
				(unsigned long long)hist_percentile(h, 50.0),
				(unsigned long long)hist_percentile(h, 99.0));
		else
			fprintf(f, "%zu,%llu,%llu,,\n", r, (unsigned long long)req,
				(unsigned long long)err);
	}
	free(h);
	return ferror(f) ? -EIO : 0;
}
