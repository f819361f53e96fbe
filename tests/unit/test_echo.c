/* Echo: every byte back, in order, with back-pressure; EOF and drain. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"

static void test_echo_in_order(void)
{
	struct server srv;
	struct capture c;
	const size_t len = 300000;
	char *data = malloc(len);

	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i % 251);
	test_server(&srv, PROTO_ECHO);
	static const size_t pieces[] = { 1, 7, 1000, 0 };
	for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
		struct session *s = session_new(&srv);
		capture_init(&c, true);
		size_t pre = srv.stats.bytes_in;
		CU_ASSERT_EQUAL(feed(s, &c, data, pieces[k] == 1 ? 5000 : len, pieces[k]),
				pieces[k] == 1 ? 5000 : len);
		size_t want = pieces[k] == 1 ? 5000 : len;
		CU_ASSERT(c.len == want && memcmp(c.buf, data, want) == 0);
		CU_ASSERT_EQUAL(srv.stats.bytes_in - pre, want);
		CU_ASSERT(!session_done(s));
		CU_ASSERT(session_wants_input(s));
		session_free(s);
		capture_free(&c);
	}
	CU_ASSERT_EQUAL(srv.stats.requests, 0);
	free(data);
}

static void test_echo_input_is_activity(void)
{
	struct server srv;

	test_server(&srv, PROTO_ECHO);
	struct session *s = session_new(&srv);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	CU_ASSERT(cap >= 4096);
	buf[0] = 'a';
	CU_ASSERT(session_input(s, 1));
	session_free(s);
}

/* A peer that does not read: input stops above the high-water mark, and the
 * pending output stays bounded by the mark plus one read. */
static void test_echo_backpressure(void)
{
	struct server srv;
	const char *p;

	test_server(&srv, PROTO_ECHO);
	struct session *s = session_new(&srv);
	size_t total = 0;
	int reads = 0;
	while (session_wants_input(s) && reads < 1000) {
		size_t cap;
		char *buf = session_input_buf(s, &cap);
		memset(buf, 'e', cap);
		session_input(s, cap);
		total += cap;
		reads++;
	}
	CU_ASSERT(!session_wants_input(s));
	CU_ASSERT(reads < 1000);
	size_t pending = session_output(s, &p);
	CU_ASSERT_EQUAL(pending, total);
	CU_ASSERT(pending >= 64 * 1024);
	CU_ASSERT(pending <= 2 * 64 * 1024);
	session_output_sent(s, pending - 100);
	CU_ASSERT(session_wants_input(s));
	session_output_sent(s, 100);
	CU_ASSERT_EQUAL(session_output(s, &p), 0);
	CU_ASSERT_EQUAL(srv.stats.bytes_out, total);
	session_free(s);
}

static void test_echo_eof_flushes(void)
{
	struct server srv;
	struct capture c;
	const char *p;

	test_server(&srv, PROTO_ECHO);
	struct session *s = session_new(&srv);
	capture_init(&c, true);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, "hello", 5);
	session_input(s, 5);
	session_input_eof(s);
	CU_ASSERT(!session_done(s));
	CU_ASSERT(!session_wants_input(s));
	size_t n = session_output(s, &p);
	CU_ASSERT(n == 5 && memcmp(p, "hello", 5) == 0);
	session_output_sent(s, 2);
	CU_ASSERT(!session_done(s));
	session_output_sent(s, 3);
	CU_ASSERT(session_done(s));
	session_free(s);
	capture_free(&c);
}

static void test_echo_drain(void)
{
	struct server srv;
	const char *p;

	test_server(&srv, PROTO_ECHO);
	struct session *s = session_new(&srv);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, "abc", 3);
	session_input(s, 3);
	session_drain(s);
	CU_ASSERT(!session_wants_input(s));
	CU_ASSERT(!session_done(s));
	CU_ASSERT_EQUAL(session_output(s, &p), 3);
	session_output_sent(s, 3);
	CU_ASSERT(session_done(s));
	session_free(s);

	s = session_new(&srv);
	session_drain(s);
	CU_ASSERT(session_done(s));
	session_free(s);
}

int suite_echo(void)
{
	static const struct unit_test tests[] = {
		{ "every byte back, in order", test_echo_in_order },
		{ "input counts as activity", test_echo_input_is_activity },
		{ "back-pressure above the high-water mark", test_echo_backpressure },
		{ "EOF: flush, then done", test_echo_eof_flushes },
		{ "drain: flush, then done", test_echo_drain },
		{ NULL, NULL },
	};
	return add_suite("echo", tests);
}
