/* The delay line's queue and link model (harness/net/delayq.c) on made-up times:
 * netem's departure times, loss, the packet limit, the byte ring's wrap-around
 * (every byte and the order kept), and the lateness histogram's bounds. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delayq.h"

#define MS 1000000ull
#define US 1000ull

static struct delayq_link link_of(uint64_t delay_ns, uint64_t rate_bps, double loss,
				  uint32_t limit)
{
	return (struct delayq_link){ .delay_ns = delay_ns, .rate_bps = rate_bps,
				     .loss = loss, .limit = limit };
}

/* Queues a packet of len bytes filled with `fill` at time t; returns the verdict
 * (CU fails if the queue was full). */
static enum delayq_verdict push(struct delayq *q, uint32_t len, int fill, uint64_t t)
{
	char *room = delayq_reserve(q, DELAYQ_MAX_PACKET);

	CU_ASSERT_PTR_NOT_NULL_FATAL(room);
	memset(room, fill, len);
	return delayq_commit(q, len, t);
}

static uint64_t pop_due(struct delayq *q, uint32_t *len)
{
	struct delayq_pkt *p = delayq_head(q);
	uint64_t due;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	due = p->due_ns;
	if (len)
		*len = p->len;
	delayq_pop(q);
	return due;
}

static void constant_delay(void)
{
	struct delayq q;
	struct delayq_link l = link_of(10 * MS, 0, 0, 1000);

	CU_ASSERT_EQUAL_FATAL(delayq_init(&q, 1 << 20, &l, 1), 0);
	CU_ASSERT_PTR_NULL(delayq_head(&q));
	push(&q, 100, 'a', 0);
	push(&q, 200, 'b', 1 * MS);
	push(&q, 300, 'c', 2 * MS);
	for (int i = 0; i < 3; i++) {
		struct delayq_pkt *p = delayq_head(&q);

		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		CU_ASSERT_EQUAL(p->due_ns, (uint64_t)(10 + i) * MS);
		CU_ASSERT_EQUAL(p->len, (uint32_t)(100 * (i + 1)));
		CU_ASSERT_EQUAL(((char *)(p + 1))[p->len - 1], 'a' + i);
		delayq_pop(&q);
	}
	CU_ASSERT_PTR_NULL(delayq_head(&q));
	CU_ASSERT_EQUAL(q.queued, 3);
	delayq_free(&q);
}

/* 8 Mbit/s is one byte per microsecond: a burst leaves one packet time apart, and
 * a packet after the link went idle waits only its own serialisation. */
static void rate_serialises(void)
{
	struct delayq q;
	struct delayq_link l = link_of(5 * MS, 8000000, 0, 1000);

	CU_ASSERT_EQUAL_FATAL(delayq_init(&q, 1 << 20, &l, 1), 0);
	for (int i = 0; i < 4; i++)
		push(&q, 1000, 'x', 0);
	push(&q, 500, 'y', 100 * MS);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(pop_due(&q, NULL), (uint64_t)(i + 1) * 1000 * US + 5 * MS);
	CU_ASSERT_EQUAL(pop_due(&q, NULL), 100 * MS + 500 * US + 5 * MS);
	delayq_free(&q);
}

/* netem's time_to_send = max(t + delay, previous due) + size / rate, written out
 * for arrivals that overlap the queue only in part. */
static void rate_matches_netem(void)
{
	struct delayq q;
	struct delayq_link l = link_of(1 * MS, 80000000, 0, 1000);	/* 10 B/µs */
	uint64_t arrive[] = { 0, 50 * US, 60 * US, 3 * MS, 3 * MS + 10 * US };
	uint32_t size[] = { 1500, 1500, 100, 64000, 40 };
	uint64_t prev = 0;

	CU_ASSERT_EQUAL_FATAL(delayq_init(&q, 1 << 20, &l, 1), 0);
	for (int i = 0; i < 5; i++)
		push(&q, size[i], 'n', arrive[i]);
	for (int i = 0; i < 5; i++) {
		uint64_t start = arrive[i] + 1 * MS > prev ? arrive[i] + 1 * MS : prev;
		uint64_t want = start + (uint64_t)size[i] * 100;	/* 0.1 µs per byte */

		CU_ASSERT_EQUAL(pop_due(&q, NULL), want);
		prev = want;
	}
	delayq_free(&q);
}

static void loss_probability(void)
{
	struct delayq q;
	struct delayq_link l = link_of(0, 0, 0.1, 1000);
	int lost = 0;

	CU_ASSERT_EQUAL_FATAL(delayq_init(&q, 1 << 20, &l, 42), 0);
	for (int i = 0; i < 100000; i++) {
		if (push(&q, 60, 'l', (uint64_t)i) == DELAYQ_LOST)
			lost++;
		else
			delayq_pop(&q);
	}
	/* Binomial(100000, 0.1): sd 95; 5 sd either way. */
	CU_ASSERT(lost > 10000 - 475 && lost < 10000 + 475);
	CU_ASSERT_EQUAL(q.lost, (uint64_t)lost);
	l = link_of(0, 0, 0, 1000);
	delayq_set_link(&q, &l);
	for (int i = 0; i < 1000; i++) {
		CU_ASSERT_EQUAL(push(&q, 60, 'l', 0), DELAYQ_QUEUED);
		delayq_pop(&q);
	}
	l = link_of(0, 0, 1.0, 1000);
	delayq_set_link(&q, &l);
	for (int i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(push(&q, 60, 'l', 0), DELAYQ_LOST);
	CU_ASSERT_PTR_NULL(delayq_head(&q));
	delayq_free(&q);
}

static void packet_limit(void)
{
	struct delayq q;
	struct delayq_link l = link_of(MS, 0, 0, 3);

	CU_ASSERT_EQUAL_FATAL(delayq_init(&q, 1 << 20, &l, 1), 0);
	for (int i = 0; i < 3; i++)
		push(&q, 10, 'p', 0);
	CU_ASSERT_PTR_NULL(delayq_reserve(&q, DELAYQ_MAX_PACKET));
	delayq_overflow(&q);
	CU_ASSERT_EQUAL(q.overflow, 1);
	CU_ASSERT_EQUAL(q.count_max, 3);
	pop_due(&q, NULL);
	CU_ASSERT_PTR_NOT_NULL(delayq_reserve(&q, DELAYQ_MAX_PACKET));
	delayq_free(&q);
}

/* A smaller delay set while packets are queued: no packet overtakes one ahead. */
static void no_overtaking(void)
{
	struct delayq q;
	struct delayq_link l = link_of(50 * MS, 0, 0, 1000);

	CU_ASSERT_EQUAL_FATAL(delayq_init(&q, 1 << 20, &l, 1), 0);
	push(&q, 10, 'o', 0);
	l = link_of(1 * MS, 0, 0, 1000);
	delayq_set_link(&q, &l);
	push(&q, 10, 'o', 1 * MS);
	CU_ASSERT_EQUAL(pop_due(&q, NULL), 50 * MS);
	CU_ASSERT_EQUAL(pop_due(&q, NULL), 50 * MS);
	push(&q, 10, 'o', 60 * MS);
	CU_ASSERT_EQUAL(pop_due(&q, NULL), 61 * MS);
	delayq_free(&q);
}

/* The byte ring, small enough to wrap hundreds of times: random sizes pushed and
 * popped against a model FIFO, every byte checked; and a full ring refuses. */
static void ring_wraps(void)
{
	struct delayq q;
	struct delayq_link l = link_of(0, 0, 0, 100000);
	size_t cap = 3 * (DELAYQ_MAX_PACKET + 64);
	uint32_t lens[64];
	unsigned seq_in = 0, seq_out = 0, queued = 0;

	CU_ASSERT_EQUAL_FATAL(delayq_init(&q, cap, &l, 1), 0);
	srand(7);
	for (int step = 0; step < 20000; step++) {
		if (queued < 64 && rand() % 3) {
			uint32_t len = 1 + (uint32_t)(rand() % (rand() % 4 ? 200 : 60000));
			char *room = delayq_reserve(&q, len);

			if (!room)
				goto pop;
			for (uint32_t i = 0; i < len; i++)
				room[i] = (char)(seq_in + i);
			CU_ASSERT_EQUAL(delayq_commit(&q, len, (uint64_t)step), DELAYQ_QUEUED);
			lens[seq_in % 64] = len;
			seq_in++;
			queued++;
			continue;
		}
pop:
		if (queued) {
			struct delayq_pkt *p = delayq_head(&q);
			bool same = true;

			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			CU_ASSERT_EQUAL_FATAL(p->len, lens[seq_out % 64]);
			for (uint32_t i = 0; i < p->len; i++)
				same &= ((char *)(p + 1))[i] == (char)(seq_out + i);
			CU_ASSERT(same);
			delayq_pop(&q);
			seq_out++;
			queued--;
		}
	}
	CU_ASSERT(seq_in > 1000);
	while (queued--)
		delayq_pop(&q), seq_out++;
	CU_ASSERT_PTR_NULL(delayq_head(&q));
	CU_ASSERT_EQUAL(q.used, 0);
	/* Full in bytes: three 60 kB packets fit in cap, a fourth does not. */
	for (int i = 0; i < 3; i++) {
		char *room = delayq_reserve(&q, 60000);

		CU_ASSERT_PTR_NOT_NULL_FATAL(room);
		delayq_commit(&q, 60000, 0);
	}
	CU_ASSERT_PTR_NULL(delayq_reserve(&q, 60000));
	delayq_free(&q);
}

static void histogram_bounds(void)
{
	struct lathist *h = calloc(1, sizeof *h);
	uint64_t v = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	/* Every value lies in its bucket, whose width is at most 1/16 of it. */
	for (int i = 0; i < 200000; i++) {
		unsigned b = lathist_bucket(v);
		uint64_t up = lathist_upper(b);

		CU_ASSERT_FATAL(b < LATHIST_BUCKETS);
		CU_ASSERT_FATAL(up >= v);
		CU_ASSERT_FATAL(b == 0 || lathist_upper(b - 1) < v);
		CU_ASSERT_FATAL((double)(up - v) <= (double)v / 16.0 + 1e-9);
		v = v < 100 ? v + 1 : v + v / 97 + 1;
		if (v > (UINT64_MAX >> 2))
			break;
	}
	CU_ASSERT_EQUAL(lathist_upper(LATHIST_BUCKETS - 1), UINT64_MAX);
	CU_ASSERT_EQUAL(lathist_bucket(UINT64_MAX), LATHIST_BUCKETS - 1);
	/* 1..1000 µs, one each: p50 500 µs and p99 990 µs, within a bucket above. */
	CU_ASSERT_EQUAL(lathist_quantile(h, 0.5), 0);
	for (uint64_t us = 1; us <= 1000; us++)
		lathist_add(h, us * 1000);
	CU_ASSERT(lathist_quantile(h, 0.5) >= 500000 && lathist_quantile(h, 0.5) <= 532000);
	CU_ASSERT(lathist_quantile(h, 0.99) >= 990000 && lathist_quantile(h, 0.99) <= 1000000);
	CU_ASSERT_EQUAL(lathist_quantile(h, 1.0), 1000000);
	CU_ASSERT_EQUAL(h->max, 1000000);
	free(h);
}

int main(void)
{
	static const struct { const char *name; CU_TestFunc fn; } tests[] = {
		{ "constant delay, FIFO, bytes kept", constant_delay },
		{ "rate: a burst leaves one packet time apart", rate_serialises },
		{ "rate: netem's time_to_send", rate_matches_netem },
		{ "loss: its probability, 0 and 1", loss_probability },
		{ "limit: packets queued at most", packet_limit },
		{ "a smaller delay never overtakes", no_overtaking },
		{ "the byte ring wraps, every byte kept", ring_wraps },
		{ "lateness histogram: buckets and quantiles", histogram_bounds },
	};
	CU_pSuite s;
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("delayq", NULL, NULL);
	for (size_t i = 0; s && i < sizeof tests / sizeof tests[0]; i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed ? 1 : 0;
}
