/* Regressions: each case is an input that the fuzzers (tests/fuzz/) or the
 * fault tests (tests/faults/) once made the server core get wrong, reduced to
 * its essence, with the answer docs/contract.md requires.  Each runs whole, split at
 * every byte, and a byte at a time, then EOF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define HDR_OCTET(len) "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " len "\r\n"
#define E400_CLOSE "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n" \
		   "Connection: close\r\n\r\nBad Request\n"

struct regress {
	const char *name;
	const char *found_by;
	const char *req;
	const char *resp;
	int errors;
};

static const struct regress cases[] = {
	/* A streamed POST /echo (Content-Length) left "response started" set;
	 * a next request that is malformed from its first byte fails before
	 * on_message_begin resets it, so the 400 was dropped and the
	 * connection just closed. */
	{ "malformed request after a streamed echo gets its 400", "fuzz-http",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nX: y\r\n\r\n)))",
	  HDR_OCTET("0") "\r\n" E400_CLOSE, 1 },
	{ "malformed request after an echo with a body gets its 400", "fuzz-http",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi\x01 / HTTP/1.1\r\nHost: t\r\n\r\n",
	  HDR_OCTET("2") "\r\nhi" E400_CLOSE, 1 },
};

#define NCASES (sizeof cases / sizeof cases[0])

/* Feeds req cut at `cut` (0: whole) or a byte at a time, then EOF. */
static void run(const struct regress *c, size_t cut, bool bytewise)
{
	struct server srv;
	struct capture cap;
	size_t len = strlen(c->req);

	test_server(&srv, PROTO_HTTP);
	capture_init(&cap, true);
	struct session *s = session_new(&srv);
	CU_ASSERT_FATAL(s != NULL);
	if (bytewise) {
		feed(s, &cap, c->req, len, 1);
	} else {
		feed(s, &cap, c->req, cut ? cut : len, 0);
		if (cut)
			feed(s, &cap, c->req + cut, len - cut, 0);
	}
	session_input_eof(s);
	drive(s, &cap);

	bool same = cap.len == strlen(c->resp) && memcmp(cap.buf ? cap.buf : "", c->resp, cap.len) == 0;
	if (!same)
		fprintf(stderr, "\n  regression '%s' (found by %s, cut %zu%s): got\n[%.*s]\n  want\n[%s]\n",
			c->name, c->found_by, cut, bytewise ? ", bytewise" : "",
			(int)cap.len, cap.buf ? cap.buf : "", c->resp);
	CU_ASSERT(same);
	CU_ASSERT(session_done(s));
	CU_ASSERT_EQUAL(srv.stats.errors, (uint64_t)c->errors);
	session_free(s);
	capture_free(&cap);
}

static void test_regressions(void)
{
	for (size_t i = 0; i < NCASES; i++) {
		size_t len = strlen(cases[i].req);
		for (size_t cut = 0; cut < len; cut++)
			run(&cases[i], cut, false);
		run(&cases[i], 0, true);
	}
}

int suite_regress(void)
{
	static const struct unit_test tests[] = {
		{ "fuzz and fault regressions, every split", test_regressions },
		{ NULL, NULL },
	};

	return add_suite("regress", tests);
}
