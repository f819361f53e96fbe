/* Socket plumbing shared by the models. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "net.h"

int net_listen(const char *host, int port, int backlog, bool reuseport, bool nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd, err;

	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		len = sizeof *a4;
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		len = sizeof *a6;
	} else {
		return -EINVAL;
	}

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, backlog) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

/* libuv's uv__emfile_trick.  Several threads may accept (one listener per
 * reactor, or several acceptors), and the reserve is one descriptor. */
static pthread_mutex_t reserve_lock = PTHREAD_MUTEX_INITIALIZER;
static int reserve_fd = -1;

int net_reserve_init(void)
{
	pthread_mutex_lock(&reserve_lock);
	if (reserve_fd < 0)
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int r = reserve_fd < 0 ? -errno : 0;
	pthread_mutex_unlock(&reserve_lock);
	return r;
}

static bool pending(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Out of descriptors: free the reserve, accept-and-close what is pending (so
 * the listener stops being readable and nobody spins), take the reserve back.
 * At most NET_ACCEPT_BATCH connections per call, so a flood cannot hold us
 * here forever.
 * False when nothing could be shed and a client still waits: another thread
 * took the descriptor the reserve freed, and the reserve is gone until
 * descriptors free up. */
static bool shed_pending(int lfd)
{
	bool shed = false;

	pthread_mutex_lock(&reserve_lock);
	if (reserve_fd < 0)	/* lost last time: descriptors may be free now */
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (reserve_fd >= 0) {
		close(reserve_fd);
		reserve_fd = -1;
		for (int i = 0; i < NET_ACCEPT_BATCH && pending(lfd); i++) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			close(fd);
			shed = true;
		}
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	pthread_mutex_unlock(&reserve_lock);
	return shed || !pending(lfd);
}

int net_accept(int lfd, bool nonblock)
{
	int one = 1, fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
		if (fd >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == EMFILE || errno == ENFILE) {
			int err = errno;
			return shed_pending(lfd) ? -err : -EBUSY;
		}
		return -errno;
	}
	/* Small responses leave at once, not after Nagle's 40 ms. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

void net_linger_close(int fd, int ms)
{
	char buf[2048];
	int64_t end = (int64_t)clock_ms() + ms;

	if (shutdown(fd, SHUT_WR) == 0) {
		for (;;) {
			int64_t left = end - (int64_t)clock_ms();
			if (left <= 0)
				break;
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int r = poll(&p, 1, (int)left);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break;
		}
	}
	close(fd);
}
