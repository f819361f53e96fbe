/* libFuzzer target: the load generator's HTTP response reader
 * (loads/http_resp.c), driven the way loads/conn.c drives it.
 *
 * The payload (fuzz.h) is what a server sends on one connection.  It is read
 * twice: in one piece, and in pieces the PRNG cuts.  What must hold:
 * - the reader never consumes more than it is given, and returns 0 only when a
 *   response completed (conn.c counts anything else as a broken connection);
 * - a completed response has a final status of three digits (1xx other than
 *   101 are skipped; http_resp.c refuses any other status code);
 * - where the bytes are cut changes nothing: the same responses (status and
 *   keep-alive, in order), the same error or not, the same result at EOF --
 *   a split-dependent parser would make latency figures depend on TCP
 *   segmentation. */
#include <stdbool.h>

#include "fuzz.h"
#include "http_resp.h"

#define MAX_SEEN 64

struct outcome {
	int n;			/* responses completed */
	int status[MAX_SEEN];
	int keep_alive[MAX_SEEN];
	bool failed;		/* the reader said the stream is broken */
	bool closed;		/* a response without keep-alive: conn.c closes */
	int eof;		/* http_resp_eof at the end, if reached */
};

/* conn.c's consume_http over one buffer; false once the connection is over. */
static bool consume(struct http_resp *r, const char *buf, size_t n, struct outcome *o)
{
	size_t off = 0;

	while (off < n) {
		long k = http_resp_feed(r, buf + off, n - off);

		FUZZ_CHECK(k <= (long)(n - off), "consumed %ld of %zu", k, n - off);
		if (k < 0 || (k == 0 && !r->complete)) {
			FUZZ_CHECK(k < 0, "returned 0 without a response");
			o->failed = true;
			return false;
		}
		/* Short only when it stopped at the end of a response. */
		FUZZ_CHECK(r->complete || (size_t)k == n - off,
			   "stopped at %ld of %zu without a response", k, n - off);
		off += (size_t)k;
		if (r->complete) {
			FUZZ_CHECK(r->status >= 100 && r->status <= 999, "status %d", r->status);
			FUZZ_CHECK(r->status < 100 || r->status >= 200 || r->status == 101,
				   "1xx %d reported as a response", r->status);
			if (o->n < MAX_SEEN) {
				o->status[o->n] = r->status;
				o->keep_alive[o->n] = r->keep_alive;
			}
			o->n++;
			if (!r->keep_alive) {
				o->closed = true;
				return false;
			}
		}
	}
	return true;
}

static void run(const uint8_t *in, size_t len, struct fuzz_rng *rng, bool split, struct outcome *o)
{
	struct http_resp r;
	size_t pos = 0;
	bool open = true;

	memset(o, 0, sizeof *o);
	http_resp_init(&r);
	while (open && pos < len) {
		size_t k = split ? fuzz_amount(rng, len - pos) : len - pos;

		open = consume(&r, (const char *)in + pos, k, o);
		pos += k;
	}
	if (open)
		o->eof = http_resp_eof(&r);
	FUZZ_CHECK(o->eof >= -1 && o->eof <= 1, "http_resp_eof returned %d", o->eof);
	if (o->eof == 1) {
		FUZZ_CHECK(r.complete, "eof completed a response but complete is unset");
		o->n++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, cut;
	struct fuzz_rng rng;

	if (size < FUZZ_HDR)
		return 0;
	fuzz_rng_init(&rng, data + 1);
	run(data + FUZZ_HDR, size - FUZZ_HDR, &rng, false, &whole);
	run(data + FUZZ_HDR, size - FUZZ_HDR, &rng, true, &cut);

	FUZZ_CHECK(whole.n == cut.n, "%d responses whole, %d cut", whole.n, cut.n);
	for (int i = 0; i < whole.n && i < MAX_SEEN; i++)
		FUZZ_CHECK(whole.status[i] == cut.status[i] && whole.keep_alive[i] == cut.keep_alive[i],
			   "response %d: %d/%d whole, %d/%d cut", i + 1, whole.status[i],
			   whole.keep_alive[i], cut.status[i], cut.keep_alive[i]);
	FUZZ_CHECK(whole.failed == cut.failed && whole.closed == cut.closed && whole.eof == cut.eof,
		   "outcome whole failed=%d closed=%d eof=%d, cut failed=%d closed=%d eof=%d",
		   whole.failed, whole.closed, whole.eof, cut.failed, cut.closed, cut.eof);
	return 0;
}
