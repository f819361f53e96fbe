/* delayq: the queue and link model of one direction of a wire (delayq.h). */
#include "delayq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SKIP_MARK UINT32_MAX

static size_t record_size(uint32_t len)
{
	return (sizeof(struct delayq_pkt) + len + 7) & ~(size_t)7;
}

int delayq_init(struct delayq *q, size_t cap_bytes, const struct delayq_link *link,
		uint64_t seed)
{
	memset(q, 0, sizeof *q);
	q->cap = cap_bytes & ~(size_t)7;
	if (q->cap < record_size(DELAYQ_MAX_PACKET))
		return -EINVAL;
	q->ring = malloc(q->cap);
	if (!q->ring)
		return -ENOMEM;
	q->link = *link;
	q->rng = seed ? seed : 1;
	return 0;
}

void delayq_free(struct delayq *q)
{
	free(q->ring);
	q->ring = NULL;
}

void delayq_set_link(struct delayq *q, const struct delayq_link *link)
{
	q->link = *link;
}

/* xorshift64*: a uniform double in [0, 1), reproducible from the seed. */
static double uniform(struct delayq *q)
{
	q->rng ^= q->rng >> 12;
	q->rng ^= q->rng << 25;
	q->rng ^= q->rng >> 27;
	return (double)((q->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Records never wrap: one that would not fit before the end of the ring starts at
 * 0, and the bytes skipped count as used until the head passes them. */
char *delayq_reserve(struct delayq *q, uint32_t max)
{
	size_t need = record_size(max), at = q->tail, skip = 0;

	if (q->count >= q->link.limit)
		return NULL;
	if (at + need > q->cap) {
		skip = q->cap - at;
		at = 0;
	}
	if (q->used + skip + need > q->cap)
		return NULL;
	q->res_at = at;
	q->res_skip = skip;
	return q->ring + at + sizeof(struct delayq_pkt);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

enum delayq_verdict delayq_commit(struct delayq *q, uint32_t len, uint64_t now_ns)
{
	struct delayq_pkt h = { .len = len };
	uint64_t done = now_ns;

	if (q->link.loss > 0 && uniform(q) < q->link.loss) {
		q->lost++;
		return DELAYQ_LOST;
	}
	if (q->link.rate_bps) {
		/* Serialised after the packets before it: bits / (bits per ns). */
		uint64_t tx = (uint64_t)((double)len * 8e9 / (double)q->link.rate_bps);

		done = max_u64(now_ns, q->done_ns) + tx;
		q->done_ns = done;
	}
	h.due_ns = max_u64(done + q->link.delay_ns, q->last_due_ns);
	q->last_due_ns = h.due_ns;
	if (q->res_skip) {
		if (q->res_skip >= sizeof h) {
			struct delayq_pkt mark = { .len = SKIP_MARK };

			memcpy(q->ring + q->tail, &mark, sizeof mark);
		}
		q->used += q->res_skip;
	}
	memcpy(q->ring + q->res_at, &h, sizeof h);
	q->tail = q->res_at + record_size(len);
	q->used += record_size(len);
	q->count++;
	q->queued++;
	if (q->count > q->count_max)
		q->count_max = q->count;
	return DELAYQ_QUEUED;
}

void delayq_overflow(struct delayq *q)
{
	q->overflow++;
}

struct delayq_pkt *delayq_head(struct delayq *q)
{
	if (q->used == 0)
		return NULL;
	if (q->cap - q->head < sizeof(struct delayq_pkt) ||
	    ((struct delayq_pkt *)(void *)(q->ring + q->head))->len == SKIP_MARK) {
		q->used -= q->cap - q->head;
		q->head = 0;
		if (q->used == 0) {
			q->tail = 0;
			return NULL;
		}
	}
	return (struct delayq_pkt *)(void *)(q->ring + q->head);
}

void delayq_pop(struct delayq *q)
{
	struct delayq_pkt *h = delayq_head(q);
	size_t n;

	if (!h)
		return;
	n = record_size(h->len);
	q->head += n;
	q->used -= n;
	q->count--;
	if (q->used == 0)
		q->head = q->tail = 0;
}

void delayq_reset_counters(struct delayq *q)
{
	q->queued = q->lost = q->overflow = 0;
	q->count_max = q->count;
}

unsigned lathist_bucket(uint64_t v)
{
	unsigned e;

	if (v < (2u << LATHIST_SUB_BITS))
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return ((e - LATHIST_SUB_BITS + 1) << LATHIST_SUB_BITS) +
	       (unsigned)((v >> (e - LATHIST_SUB_BITS)) & ((1u << LATHIST_SUB_BITS) - 1));
}

uint64_t lathist_upper(unsigned b)
{
	unsigned e, sub;
	uint64_t lower;

	if (b < (2u << LATHIST_SUB_BITS))
		return b;
	e = (b >> LATHIST_SUB_BITS) + LATHIST_SUB_BITS - 1;
	sub = b & ((1u << LATHIST_SUB_BITS) - 1);
	lower = ((uint64_t)(1u << LATHIST_SUB_BITS) + sub) << (e - LATHIST_SUB_BITS);
	return lower + ((uint64_t)1 << (e - LATHIST_SUB_BITS)) - 1;
}

void lathist_add(struct lathist *h, uint64_t v)
{
	h->n[lathist_bucket(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
}

uint64_t lathist_quantile(const struct lathist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank < 1)
		rank = 1;
	for (unsigned b = 0; b < LATHIST_BUCKETS; b++) {
		seen += h->n[b];
		if (seen >= rank) {
			uint64_t u = lathist_upper(b);

			return u < h->max ? u : h->max;
		}
	}
	return h->max;
}
