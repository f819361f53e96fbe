/* delayq: one direction of a wire -- the packets in flight, each due at the time
 * netem's link model gives it -- and the histogram of how late they left.
 *
 * No I/O and no clock: the caller passes every time in, so tests drive it with
 * made-up times (tests/net/test_delayq.c) and build/delayline with the real ones.
 *
 * The model (netem's, for a constant delay): a packet that arrives at t is lost
 * with probability `loss`; otherwise the link serialises it after the packets
 * before it, at `rate`, and it then travels for `delay`:
 *
 *     done(k) = max(t(k), done(k-1)) + size(k) / rate     (done(k) = t(k) without a rate)
 *     due(k)  = done(k) + delay
 *
 * which is netem's time_to_send = max(t + delay, due(k-1)) + size / rate.  With one
 * delay for every packet the due times are in arrival order, so the queue is a
 * FIFO: a byte ring of records (header, then the packet), and the head is the next
 * packet to leave.  A queue holds at most `limit` packets (netem's `limit`, 1000 by
 * default) and `cap` bytes; a packet beyond either is dropped (an overflow).
 */
#ifndef LB_DELAYQ_H
#define LB_DELAYQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct delayq_link {
	uint64_t delay_ns;	/* one-way propagation delay */
	uint64_t rate_bps;	/* bits per second; 0: no rate limit */
	double loss;		/* probability of losing a packet, in [0, 1] */
	uint32_t limit;		/* packets queued at most */
};

struct delayq_pkt {		/* a record's header; the packet's bytes follow it */
	uint64_t due_ns;
	uint32_t len;
	uint32_t pad;		/* UINT32_MAX in `len` marks the skipped end of the ring */
};

struct delayq {
	struct delayq_link link;
	char *ring;
	size_t cap, head, tail, used;	/* byte offsets and fill (skipped bytes included) */
	size_t res_at, res_skip;	/* the room handed out by delayq_reserve */
	uint32_t count;			/* packets queued */
	uint64_t done_ns, last_due_ns;	/* the link model's state */
	uint64_t rng;
	uint64_t queued, lost, overflow, count_max;	/* counters (delayq_reset_counters) */
};

enum delayq_verdict { DELAYQ_QUEUED, DELAYQ_LOST };

/* The largest packet a queue takes: a 64 KiB GSO packet plus its virtio-net
 * header, with room to spare. */
#define DELAYQ_MAX_PACKET (65536 + 256)

/* A queue of `cap_bytes` (rounded down to 8) with the given link; `seed` makes its
 * losses reproducible.  Returns 0, or -ENOMEM / -EINVAL (cap too small for one
 * packet of DELAYQ_MAX_PACKET bytes). */
int delayq_init(struct delayq *q, size_t cap_bytes, const struct delayq_link *link,
		uint64_t seed);
void delayq_free(struct delayq *q);

/* Changes what the link does from the next packet on.  Packets already queued keep
 * their due times, and no packet is due before one queued ahead of it. */
void delayq_set_link(struct delayq *q, const struct delayq_link *link);

/* Room for one packet of up to `max` bytes at the tail, or NULL when the queue is
 * full (limit or bytes): the caller then reads the packet elsewhere and calls
 * delayq_overflow.  The room stays reserved until delayq_commit. */
char *delayq_reserve(struct delayq *q, uint32_t max);

/* The packet of `len` bytes just written into the reserved room arrived at
 * `now_ns`: lost (its room is given back) or queued, due under the link model. */
enum delayq_verdict delayq_commit(struct delayq *q, uint32_t len, uint64_t now_ns);

/* Counts a packet dropped because the queue was full. */
void delayq_overflow(struct delayq *q);

/* The packet at the head (the next due), or NULL when the queue is empty; its
 * bytes follow the header. */
struct delayq_pkt *delayq_head(struct delayq *q);

/* Removes the head packet, if any. */
void delayq_pop(struct delayq *q);

void delayq_reset_counters(struct delayq *q);

/* A log-linear histogram of nanoseconds: exact below 32 ns, then 16 buckets per
 * power of two (each at most 1/16 = 6.25 % wide), up to 2^64. */
#define LATHIST_SUB_BITS 4
#define LATHIST_BUCKETS ((64 - LATHIST_SUB_BITS + 1) << LATHIST_SUB_BITS)

struct lathist {
	uint64_t n[LATHIST_BUCKETS];
	uint64_t count, max;
	double sum;
};

void lathist_add(struct lathist *h, uint64_t v);
/* The bucket index of v, and the highest value a bucket holds. */
unsigned lathist_bucket(uint64_t v);
uint64_t lathist_upper(unsigned bucket);
/* The q-quantile (0 < q <= 1): the highest value of the bucket holding the sample
 * of rank ceil(q * count), clamped to the largest value seen -- an upper bound at
 * most 6.25 % above the true value.  0 when empty. */
uint64_t lathist_quantile(const struct lathist *h, double q);

#endif
