/* What the libFuzzer targets share: the layout of an input, a PRNG driven by
 * it, and a server struct as server_init would leave it, without sockets.
 *
 * An input is a header and a payload:
 *
 *   byte 0      flags (each target says what its bits mean)
 *   bytes 1..4  the seed of the PRNG that picks split points, partial
 *               writes and the order of steps
 *   bytes 5..   the payload: the bytes a client sends
 *
 * The payload stays contiguous, so a seed file is a raw request with five
 * bytes in front, and the fuzzer's dictionary splices work on it directly; the
 * fuzzer mutates the seed like any other byte to try other interleavings. */
#ifndef LB_FUZZ_H
#define LB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_HDR 5

/* Every input is run as a fresh connection; a violated invariant aborts, which
 * libFuzzer reports as a crash with the input that caused it. */
#define FUZZ_CHECK(cond, ...) do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", \
				__FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			abort(); \
		} \
	} while (0)

struct fuzz_rng {
	uint32_t x;
};

static inline void fuzz_rng_init(struct fuzz_rng *r, const uint8_t *seed)
{
	r->x = (uint32_t)seed[0] | (uint32_t)seed[1] << 8 |
	       (uint32_t)seed[2] << 16 | (uint32_t)seed[3] << 24;
	if (r->x == 0)
		r->x = 0x9e3779b9u;
}

/* xorshift32: cheap, and the same input always replays the same run. */
static inline uint32_t fuzz_rand(struct fuzz_rng *r)
{
	uint32_t x = r->x;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return r->x = x;
}

/* 1 .. max, skewed towards small amounts (splits inside tokens matter most)
 * but reaching max. */
static inline size_t fuzz_amount(struct fuzz_rng *r, size_t max)
{
	size_t lim;

	if (max <= 1)
		return 1;
	switch (fuzz_rand(r) & 3) {
	case 0: lim = 1; break;
	case 1: lim = 8; break;
	case 2: lim = 512; break;
	default: lim = max; break;
	}
	if (lim > max)
		lim = max;
	return 1 + fuzz_rand(r) % lim;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
