/* libFuzzer target: the echo protocol of servers/common through the session
 * API.  The PRNG (fuzz.h) interleaves reads of any size with partial writes,
 * sometimes reading while the session says it wants no input (libuv's
 * read callback can deliver one more buffer), and EOF at the end.
 *
 * What must hold: the output is always a prefix of the input, byte for byte;
 * after EOF everything comes back and the session is done; pending output
 * stays bounded by the high-water mark plus one read; the stats count every
 * byte; with a drain (SIGTERM) the session closes once what it holds is out. */
#include <stdbool.h>

#include "common/server.h"
#include "common/session.h"
#include "fuzz.h"

#define F_RUDE		0x01	/* one more read after a read that made the session
				   stop wanting input (libuv's read loop can) */
#define F_DRAIN		0x02	/* SIGTERM (session_drain) at a step the PRNG picks */

/* session_impl.h's OUT_HWM plus one 64 KiB read: what back-pressure allows. */
#define PENDING_MAX	(64 * 1024 + 64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server srv;
	struct fuzz_rng rng;

	if (size < FUZZ_HDR)
		return 0;
	uint8_t flags = data[0];
	fuzz_rng_init(&rng, data + 1);
	const uint8_t *in = data + FUZZ_HDR;
	size_t len = size - FUZZ_HDR;

	memset(&srv, 0, sizeof srv);
	srv.opts.proto = PROTO_ECHO;
	srv.opts.host = "127.0.0.1";
	srv.opts.idle_timeout_ms = 10000;
	srv.opts.max_body = 67108864;
	srv.model = "fuzz";
	srv.cpu_iters_per_us = 1;
	srv.shutdown_fd = -1;

	struct session *s = session_new(&srv);
	FUZZ_CHECK(s != NULL, "session_new");
	size_t pos = 0, out = 0;
	bool eof = false, drained = false, just_read = false;
	long steps = 0;

	while (!session_done(s)) {
		FUZZ_CHECK(++steps < 1000000, "no end after %ld steps", steps);
		uint32_t pick = fuzz_rand(&rng);
		const char *p;
		size_t n = session_output(s, &p);

		FUZZ_CHECK(n <= PENDING_MAX, "%zu bytes pending: back-pressure failed", n);
		FUZZ_CHECK(session_work(s) == NULL, "echo asked for work");
		if ((flags & F_DRAIN) && !drained && pick % 37 == 0) {
			session_drain(s);
			drained = true;
			FUZZ_CHECK(!session_wants_input(s), "wants input after a drain");
			continue;
		}
		bool can_read = !eof && !drained &&
				(session_wants_input(s) || ((flags & F_RUDE) && just_read));
		just_read = false;
		if (n > 0 && (pick & 1 || !can_read)) {
			size_t k = fuzz_amount(&rng, n);
			FUZZ_CHECK(out + k <= pos && memcmp(p, in + out, k) == 0,
				   "output at %zu is not the input", out);
			out += k;
			session_output_sent(s, k);
		} else if (can_read && pos < len) {
			size_t cap;
			char *buf = session_input_buf(s, &cap);
			size_t k = fuzz_amount(&rng, cap < len - pos ? cap : len - pos);
			memcpy(buf, in + pos, k);
			/* Echo input is activity for the idle timer. */
			FUZZ_CHECK(session_input(s, k), "echo input is not activity");
			pos += k;
			just_read = true;
		} else if (can_read) {
			session_input_eof(s);
			eof = true;
		} else {
			FUZZ_CHECK(n > 0, "wedged: not done, nothing to write, wants no input "
				   "(read %zu of %zu, wrote %zu, eof %d)", pos, len, out, eof);
		}
	}
	FUZZ_CHECK(out == srv.stats.bytes_out && pos == srv.stats.bytes_in, "stats bytes");
	FUZZ_CHECK(srv.stats.requests == 0 && srv.stats.errors == 0, "echo counted requests or errors");
	if (!drained)
		FUZZ_CHECK(out == len, "EOF after %zu bytes, %zu came back", len, out);
	else
		FUZZ_CHECK(out == pos, "drained: %zu read, %zu came back", pos, out);
	session_free(s);
	return 0;
}
