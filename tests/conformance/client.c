/* Client sockets for the conformance suite: non-blocking, every wait a poll() with
 * a deadline, results as 0 / a count / -errno. */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits for events on fd until the deadline: 1 when ready, -ETIMEDOUT. */
static int wait_fd(int fd, short events, uint64_t end)
{
	for (;;) {
		struct pollfd p = { fd, events, 0 };
		int64_t left = (int64_t)(end - now_ms());
		int r;

		if (left < 0)
			left = 0;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
	}
}

int cl_connect_start(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, one = 1, err;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS)
		return fd;
	err = -errno;
	close(fd);
	return err;
}

int cl_connect(int port, int rcvbuf, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, one = 1, err = 0, r;
	socklen_t el = sizeof(err);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	r = wait_fd(fd, POLLOUT, now_ms() + (uint64_t)timeout_ms);
	if (r < 0) {
		close(fd);
		return r;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err != 0) {
		close(fd);
		return -err;
	}
	return fd;
}

int cl_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			int r = wait_fd(fd, POLLOUT, end);

			if (r < 0)
				return r;
		} else {
			return -errno;
		}
	}
	return 0;
}

ssize_t cl_recv(int fd, void *buf, size_t cap, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		ssize_t n = recv(fd, buf, cap, 0);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		n = wait_fd(fd, POLLIN, end);
		if (n < 0)
			return n;
	}
}

int cl_recv_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (len > 0) {
		int64_t left = (int64_t)(end - now_ms());
		ssize_t n = cl_recv(fd, p, len, left > 0 ? (int)left : 0);

		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cl_wait_close(int fd, int timeout_ms, size_t *extra)
{
	char buf[4096];
	size_t got = 0;
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		int64_t left = (int64_t)(end - now_ms());
		ssize_t n = cl_recv(fd, buf, sizeof(buf), left > 0 ? (int)left : 0);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (extra)
			*extra = got;
		if (n == -ETIMEDOUT)
			return -ETIMEDOUT;
		if (got > 0)
			return -EPROTO;
		return 0;	/* EOF, or a reset */
	}
}

void cl_reset(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* --- HTTP --- */

int hconn_open(struct hconn *h, int port, int timeout_ms)
{
	memset(h, 0, sizeof(*h));
	h->fd = cl_connect(port, 0, timeout_ms);
	return h->fd < 0 ? h->fd : 0;
}

void hconn_close(struct hconn *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	free(h->buf);
	h->buf = NULL;
	h->len = h->cap = 0;
}

size_t hconn_pending(const struct hconn *h)
{
	return h->len;
}

/* Reads more into h->buf: > 0 bytes, 0 at EOF, or -errno. */
static ssize_t hconn_fill(struct hconn *h, uint64_t end)
{
	int64_t left = (int64_t)(end - now_ms());
	ssize_t n;

	if (h->cap - h->len < 65536) {
		size_t cap = h->cap ? h->cap * 2 : 131072;
		char *p = realloc(h->buf, cap);

		if (p == NULL)
			return -ENOMEM;
		h->buf = p;
		h->cap = cap;
	}
	n = cl_recv(h->fd, h->buf + h->len, h->cap - h->len, left > 0 ? (int)left : 0);
	if (n > 0)
		h->len += (size_t)n;
	return n;
}

/* The value of header `name` in the head [p, end), copied to out. */
static void header_value(const char *p, const char *end, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	out[0] = '\0';
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);

		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t len;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			len = (size_t)(eol - v);
			if (len >= cap)
				len = cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return;
		}
		p = eol + 2;
	}
}

int hconn_read(struct hconn *h, struct hresp *r, bool head_request, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	char *eoh;
	size_t head_len, total;
	char clen[32];

	memset(r, 0, sizeof(*r));
	r->clen = -1;
	while ((eoh = h->len ? memmem(h->buf, h->len, "\r\n\r\n", 4) : NULL) == NULL) {
		ssize_t n;

		if (h->len > 65536)
			return -EPROTO;
		n = hconn_fill(h, end);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return (int)n;
	}
	head_len = (size_t)(eoh - h->buf) + 4;
	if (head_len < 12 || memcmp(h->buf, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)h->buf[9]))
		return -EPROTO;
	r->status = atoi(h->buf + 9);
	header_value(h->buf, eoh, "Content-Type", r->ctype, sizeof(r->ctype));
	header_value(h->buf, eoh, "Connection", r->connection, sizeof(r->connection));
	header_value(h->buf, eoh, "Allow", r->allow, sizeof(r->allow));
	header_value(h->buf, eoh, "Content-Length", clen, sizeof(clen));
	if (clen[0] != '\0')
		r->clen = strtoll(clen, NULL, 10);
	total = head_len;
	if (!head_request && r->status != 100 && r->clen > 0)
		total += (size_t)r->clen;
	while (h->len < total) {
		ssize_t n = hconn_fill(h, end);

		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return (int)n;
	}
	r->raw = malloc(total + 1);
	if (r->raw == NULL)
		return -ENOMEM;
	memcpy(r->raw, h->buf, total);
	r->raw[total] = '\0';
	r->raw_len = total;
	r->body = r->raw + head_len;
	r->body_len = total - head_len;
	memmove(h->buf, h->buf + total, h->len - total);
	h->len -= total;
	return 0;
}

void hresp_free(struct hresp *r)
{
	free(r->raw);
	r->raw = NULL;
}

int hconn_wait_close(struct hconn *h, int timeout_ms)
{
	size_t extra = 0;
	int r = cl_wait_close(h->fd, timeout_ms, &extra);

	if (h->len > 0)
		return -EPROTO;
	return r;
}

const char *reason_phrase(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "?";
	}
}

size_t expect_bytes(char *buf, size_t cap, int status, const char *ctype,
		    const char *allow, const char *conn, const void *body, size_t body_len)
{
	int n = snprintf(buf, cap, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s%s%s\r\n",
			 status, reason_phrase(status), ctype, body_len,
			 allow ? "Allow: " : "", allow ? allow : "", allow ? "\r\n" : "",
			 conn ? "Connection: " : "", conn ? conn : "", conn ? "\r\n" : "");
	size_t len = (size_t)n;

	if (len + body_len <= cap) {
		memcpy(buf + len, body, body_len);
		len += body_len;
	}
	return len;
}

void show_bytes(const char *label, const void *p, size_t len, size_t max)
{
	const unsigned char *s = p;

	fprintf(stderr, "      %s (%zu bytes): \"", label, len);
	for (size_t i = 0; i < len && i < max; i++) {
		if (s[i] == '\r')
			fputs("\\r", stderr);
		else if (s[i] == '\n')
			fputs("\\n", stderr);
		else if (s[i] == '"' || s[i] == '\\')
			fprintf(stderr, "\\%c", s[i]);
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			fprintf(stderr, "\\x%02x", s[i]);
		else
			fputc(s[i], stderr);
	}
	fprintf(stderr, "\"%s\n", len > max ? "..." : "");
}

char *test_pattern(size_t n, unsigned seed)
{
	char *p = malloc(n);

	if (p != NULL)
		for (size_t i = 0; i < n; i++)
			p[i] = (char)((i * 7 + (i >> 11) + seed) & 0xff);
	return p;
}

int many_clients(int port, int n, const char *req, size_t reqlen, const char *resp, size_t resplen,
		 bool http_loose, int timeout_ms)
{
	struct mc {
		int fd;
		size_t sent, got;
		char buf[1024];
		bool done;
	} *m = calloc((size_t)n, sizeof(*m));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int ok = 0, open = 0;

	if (m == NULL || p == NULL) {
		free(m);
		free(p);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		m[i].fd = cl_connect_start(port);	/* POLLOUT says when it is done */
		if (m[i].fd < 0)
			m[i].done = true;
		else
			open++;
	}
	while (open > 0 && (int64_t)(end - now_ms()) > 0) {
		int k = 0;

		for (int i = 0; i < n; i++) {
			if (m[i].done)
				continue;
			p[k].fd = m[i].fd;
			p[k].events = (short)(m[i].sent < reqlen ? POLLOUT : POLLIN);
			p[k].revents = 0;
			k++;
		}
		if (poll(p, (nfds_t)k, 100) <= 0)
			continue;
		k = 0;
		for (int i = 0; i < n; i++) {
			struct pollfd *q;

			if (m[i].done)
				continue;
			q = &p[k++];
			if (q->revents == 0)
				continue;
			if (m[i].sent < reqlen) {
				ssize_t w = send(m[i].fd, req + m[i].sent, reqlen - m[i].sent, MSG_NOSIGNAL);

				if (w > 0)
					m[i].sent += (size_t)w;
				else if (w < 0 && errno != EAGAIN && errno != EINTR)
					goto failed;
				continue;
			}
			{
				ssize_t rd = recv(m[i].fd, m[i].buf + m[i].got, sizeof(m[i].buf) - 1 - m[i].got, 0);
				bool complete;

				if (rd < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				if (rd <= 0)
					goto failed;
				m[i].got += (size_t)rd;
				m[i].buf[m[i].got] = '\0';
				if (http_loose) {
					/* Node: status and body (the response ends with it). */
					const char *eoh = strstr(m[i].buf, "\r\n\r\n");

					complete = eoh != NULL && m[i].got >= resplen &&
						   memcmp(m[i].buf + m[i].got - resplen, resp, resplen) == 0;
					if (complete && strncmp(m[i].buf, "HTTP/1.1 200 ", 13) != 0)
						goto failed;
				} else {
					if (m[i].got > resplen ||
					    memcmp(m[i].buf, resp, m[i].got) != 0)
						goto failed;
					complete = m[i].got == resplen;
				}
				if (!complete && m[i].got < sizeof(m[i].buf) - 1)
					continue;
				if (complete)
					ok++;
				else
					goto failed;
				close(m[i].fd);
				m[i].done = true;
				open--;
				continue;
			}
failed:
			close(m[i].fd);
			m[i].done = true;
			open--;
		}
	}
	for (int i = 0; i < n; i++)
		if (!m[i].done)
			close(m[i].fd);
	free(m);
	free(p);
	return ok;
}

uint32_t fnv_units(uint64_t units)
{
	uint32_t h = 2166136261u;

	for (uint64_t i = 0; i < units; i++)
		h = (h ^ (uint32_t)(i & 0xff)) * 16777619u;
	return h;
}
