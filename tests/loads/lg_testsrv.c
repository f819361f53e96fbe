/* A tiny test-only server for the load generator's integration tests.  It shares
 * nothing with servers/ and is deliberately simple: single-threaded, level-triggered
 * epoll, one input and one output buffer per connection.
 *
 *   lg-testsrv MODE [--port N]
 *     ok            HTTP: every request gets 200 "Hello, World!" (keep-alive,
 *                   pipelining, "Connection: close" honoured)
 *     500           HTTP: every request gets 500
 *     503           HTTP: every request gets 503 (Service Unavailable)
 *     close         HTTP: read one whole request, then close without answering
 *     echo          echo every byte
 *     echo-corrupt  echo, but flip the byte at stream offset 100 of every connection
 *
 * First stdout line: "listening on 127.0.0.1:PORT".  On SIGTERM/SIGINT it handles
 * what is already readable, then prints one JSON line of counters on stdout:
 * {"accepted":..,"requests":..,"responses":..,"unanswered":..,"corrupted":..}
 * where requests are whole requests read, responses those fully written, and
 * unanswered the connections closed on a request (mode close).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum mode { M_OK, M_500, M_503, M_CLOSE, M_ECHO, M_ECHO_CORRUPT };

struct tconn {
	int fd;
	char in[2048];		/* a GET is ~50 bytes; bigger is refused */
	size_t inlen;
	char *out;
	size_t outlen, outoff, outcap;
	uint64_t stream_off;	/* echo: bytes received so far */
	int close_after;
	int out_armed;		/* registered for EPOLLOUT instead of EPOLLIN */
	unsigned pending;	/* responses queued but not yet fully written */
};

static volatile sig_atomic_t stop;
static enum mode mode;
static int ep;
static uint64_t n_accepted, n_requests, n_responses, n_unanswered, n_corrupted;

static const char resp_ok[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
static const char resp_ok_close[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
	"Connection: close\r\n\r\nHello, World!";
static const char resp_500[] =
	"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
	"Content-Length: 22\r\n\r\nInternal Server Error\n";
static const char resp_503[] =
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
	"Content-Length: 20\r\n\r\nService Unavailable\n";

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void append(struct tconn *c, const char *b, size_t n)
{
	if (c->outlen + n > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		while (cap < c->outlen + n)
			cap *= 2;
		c->out = realloc(c->out, cap);
		if (!c->out) {
			perror("realloc");
			exit(1);
		}
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, b, n);
	c->outlen += n;
}

static void conn_free(struct tconn *c)
{
	close(c->fd);
	free(c->out);
	free(c);
}

static void set_events(struct tconn *c)
{
	struct epoll_event ev = { .data.ptr = c };
	int want_out = c->outoff < c->outlen;

	/* Back-pressure: no reading while output is pending. */
	if (want_out == c->out_armed)
		return;
	ev.events = want_out ? EPOLLOUT : EPOLLIN;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->out_armed = want_out;
}

/* Returns -1 when the connection is gone. */
static int flush(struct tconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_free(c);
			return -1;
		}
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen) {
		c->outoff = c->outlen = 0;
		n_responses += c->pending;
		c->pending = 0;
		if (c->close_after) {
			shutdown(c->fd, SHUT_WR);
			conn_free(c);
			return -1;
		}
	}
	set_events(c);
	return 0;
}

static int handle_http(struct tconn *c)
{
	char *end;

	while ((end = memmem(c->in, c->inlen, "\r\n\r\n", 4))) {
		size_t len = (size_t)(end + 4 - c->in);
		int wants_close = memmem(c->in, len, "Connection: close", 17) != NULL;

		n_requests++;
		memmove(c->in, c->in + len, c->inlen - len);
		c->inlen -= len;
		if (mode == M_CLOSE) {
			n_unanswered++;
			conn_free(c);
			return -1;
		}
		if (mode == M_500)
			append(c, resp_500, sizeof(resp_500) - 1);
		else if (mode == M_503)
			append(c, resp_503, sizeof(resp_503) - 1);
		else
			append(c, wants_close ? resp_ok_close : resp_ok,
			       wants_close ? sizeof(resp_ok_close) - 1 : sizeof(resp_ok) - 1);
		c->pending++;
		if (wants_close) {
			c->close_after = 1;
			break;
		}
	}
	if (c->inlen == sizeof(c->in)) {	/* a request we cannot hold */
		conn_free(c);
		return -1;
	}
	return flush(c);
}

static void on_readable(struct tconn *c)
{
	ssize_t n;

	if (mode == M_ECHO || mode == M_ECHO_CORRUPT) {
		char buf[65536];

		do
			n = recv(c->fd, buf, sizeof(buf), 0);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_free(c);
			return;
		}
		if (mode == M_ECHO_CORRUPT && c->stream_off <= 100 && c->stream_off + (uint64_t)n > 100) {
			buf[100 - c->stream_off] ^= 1;
			n_corrupted++;
		}
		c->stream_off += (uint64_t)n;
		append(c, buf, (size_t)n);
		flush(c);
		return;
	}
	do
		n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	c->inlen += (size_t)n;
	handle_http(c);
}

static void on_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct tconn *c;

		if (fd < 0)
			return;	/* EAGAIN, or out of descriptors: try again on the next event */
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		n_accepted++;
	}
}

static void run_events(int lfd, int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(ep, evs, 256, timeout_ms);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == NULL) {
			on_accept(lfd);
			continue;
		}
		struct tconn *c = evs[i].data.ptr;
		if (evs[i].events & EPOLLOUT)
			flush(c);
		else
			on_readable(c);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct sigaction sact = { .sa_handler = on_signal };
	struct rlimit rl;
	int lfd, one = 1, port = 0;

	if (argc < 2)
		goto usage;
	if (!strcmp(argv[1], "ok"))
		mode = M_OK;
	else if (!strcmp(argv[1], "500"))
		mode = M_500;
	else if (!strcmp(argv[1], "503"))
		mode = M_503;
	else if (!strcmp(argv[1], "close"))
		mode = M_CLOSE;
	else if (!strcmp(argv[1], "echo"))
		mode = M_ECHO;
	else if (!strcmp(argv[1], "echo-corrupt"))
		mode = M_ECHO_CORRUPT;
	else
		goto usage;
	if (argc == 4 && !strcmp(argv[2], "--port"))
		port = atoi(argv[3]);
	else if (argc != 2)
		goto usage;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sact, NULL);	/* no SA_RESTART: epoll_wait returns EINTR */
	sigaction(SIGINT, &sact, NULL);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		perror("lg-testsrv: listen");
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	ep = epoll_create1(EPOLL_CLOEXEC);
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (!stop)
		run_events(lfd, -1);
	/* Handle what the clients already sent, so the counters are complete. */
	for (int i = 0; i < 20; i++)
		run_events(lfd, 10);
	printf("{\"accepted\":%llu,\"requests\":%llu,\"responses\":%llu,\"unanswered\":%llu,"
	       "\"corrupted\":%llu}\n", (unsigned long long)n_accepted,
	       (unsigned long long)n_requests, (unsigned long long)n_responses,
	       (unsigned long long)n_unanswered, (unsigned long long)n_corrupted);
	return 0;
usage:
	fprintf(stderr, "usage: lg-testsrv ok|500|503|close|echo|echo-corrupt [--port N]\n");
	return 2;
}
