/* Socket helpers on loopback, ephemeral ports only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/net.h"
#include "unit.h"

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_listen_accept(void)
{
	int lfd = net_listen("127.0.0.1", 0, 16, false, true);

	CU_ASSERT_FATAL(lfd >= 0);
	int port = net_local_port(lfd);
	CU_ASSERT(port > 0);
	CU_ASSERT_EQUAL(net_accept(lfd, true), -EAGAIN);

	int c = connect_to(port);
	CU_ASSERT_FATAL(c >= 0);
	int fd = net_accept(lfd, false);
	CU_ASSERT_FATAL(fd >= 0);
	int one = 0;
	socklen_t len = sizeof one;
	getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len);
	CU_ASSERT(one != 0);

	/* Lingering close: our data arrives, then EOF, even with unread input. */
	CU_ASSERT_EQUAL(write(c, "unread", 6), 6);
	CU_ASSERT_EQUAL(send(fd, "bye", 3, MSG_NOSIGNAL), 3);
	CU_ASSERT_EQUAL(shutdown(c, SHUT_WR), 0);
	net_linger_close(fd, NET_LINGER_MS);
	char buf[8];
	CU_ASSERT_EQUAL(read(c, buf, sizeof buf), 3);
	CU_ASSERT_EQUAL(read(c, buf, sizeof buf), 0);
	close(c);
	close(lfd);
}

static void test_reuseport_pair(void)
{
	int a = net_listen("127.0.0.1", 0, 16, true, true);
	CU_ASSERT_FATAL(a >= 0);
	int port = net_local_port(a);
	int b = net_listen("127.0.0.1", port, 16, true, true);
	CU_ASSERT(b >= 0);
	int c = net_listen("127.0.0.1", port, 16, false, true);
	CU_ASSERT_EQUAL(c, -EADDRINUSE);
	CU_ASSERT_EQUAL(net_listen("no-such-host", 0, 16, false, true), -EINVAL);
	close(a);
	if (b >= 0)
		close(b);
}

int suite_net(void)
{
	static const struct unit_test tests[] = {
		{ "listen, accept, TCP_NODELAY, lingering close", test_listen_accept },
		{ "SO_REUSEPORT pair on one ephemeral port", test_reuseport_pair },
		{ NULL, NULL },
	};
	return add_suite("net", tests);
}
