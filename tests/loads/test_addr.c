/* The loopback guard (on the address-checking function, never by sending
 * traffic) and HOST:PORT parsing. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "tests.h"

static int loopback_str(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		CU_ASSERT_FATAL(inet_pton(AF_INET6, ip, &a->sin6_addr) == 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		CU_ASSERT_FATAL(inet_pton(AF_INET, ip, &a->sin_addr) == 1);
	}
	return addr_is_loopback((struct sockaddr *)&ss);
}

static void test_guard(void)
{
	static const struct { const char *ip; int loop; } t[] = {
		{ "127.0.0.1", 1 }, { "127.0.0.0", 1 }, { "127.255.255.255", 1 }, { "127.1.2.3", 1 },
		{ "126.255.255.255", 0 }, { "128.0.0.1", 0 }, { "0.0.0.0", 0 }, { "10.0.0.1", 0 },
		{ "192.168.1.1", 0 }, { "255.255.255.255", 0 }, { "1.127.0.1", 0 },
		{ "::1", 1 }, { "::", 0 }, { "::2", 0 }, { "fe80::1", 0 }, { "2001:db8::1", 0 },
		{ "::ffff:127.0.0.1", 1 }, { "::ffff:10.0.0.1", 0 }, { "::127.0.0.1", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = loopback_str(t[i].ip);
		if (got != t[i].loop)
			fprintf(stderr, "\n  %s: %d\n", t[i].ip, got);
		CU_ASSERT_EQUAL(got, t[i].loop);
	}
	{
		struct sockaddr sa = { .sa_family = AF_UNIX };
		CU_ASSERT_EQUAL(addr_is_loopback(&sa), 0);
	}
}

static void test_parse(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256], buf[80];

	CU_ASSERT_EQUAL_FATAL(addr_parse_target("127.0.0.1:8080", &ss, &len, err, sizeof(err)), 0);
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "127.0.0.1:8080");

	CU_ASSERT_EQUAL_FATAL(addr_parse_target("localhost:80", &ss, &len, err, sizeof(err)), 0);
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "127.0.0.1:80");	/* IPv4, whatever /etc/hosts says */

	CU_ASSERT_EQUAL_FATAL(addr_parse_target("[::1]:9000", &ss, &len, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ss.ss_family, AF_INET6);
	CU_ASSERT_EQUAL(len, sizeof(struct sockaddr_in6));
	addr_format((struct sockaddr *)&ss, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "[::1]:9000");

	CU_ASSERT_EQUAL_FATAL(addr_parse_target("127.9.8.7:1", &ss, &len, err, sizeof(err)), 0);
	CU_ASSERT(addr_is_loopback((struct sockaddr *)&ss));
	/* Parsing a remote address succeeds; refusing it is the guard's job. */
	CU_ASSERT_EQUAL_FATAL(addr_parse_target("10.1.2.3:80", &ss, &len, err, sizeof(err)), 0);
	CU_ASSERT(!addr_is_loopback((struct sockaddr *)&ss));

	static const char *bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x",
		":80", "::1:80", "[::1]", "[::1]80", "[]:80", "[not-an-ip]:80", "127.0.0.1:-1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(addr_parse_target(bad[i], &ss, &len, err, sizeof(err)), -1);
		CU_ASSERT(err[0] != '\0');
	}
}

void suite_addr(void)
{
	CU_pSuite s = CU_add_suite("addr", NULL, NULL);

	CU_add_test(s, "loopback guard", test_guard);
	CU_add_test(s, "HOST:PORT parsing", test_parse);
}
