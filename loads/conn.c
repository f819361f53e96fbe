/* A connection's life: connect (behind the ramp), read and hand the bytes to its
 * requests (request.c), fail and back off, close, time out.  One read per
 * readiness; errors are counted per request in flight, by kind.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "request.h"
#include "util.h"

#define READS_PER_EVENT	4
#define BACKOFF_MIN_NS	NS_PER_MS
#define BACKOFF_MAX_SHIFT 8	/* 1 ms doubling up to 256 ms */

void conn_list_push(struct conn_list *l, struct conn *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

void conn_list_remove(struct conn_list *l, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->next = c->prev = NULL;
}

struct conn *conn_list_pop(struct conn_list *l)
{
	struct conn *c = l->head;

	if (c)
		conn_list_remove(l, c);
	return c;
}

void conn_init(struct conn *c, struct worker *w, uint32_t id, struct req *ring)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = CONN_CLOSED;
	c->id = id;
	c->w = w;
	c->ring = ring;
	http_resp_init(&c->resp);
}

static void warn_once(struct worker *w, const char *what)
{
	if (!atomic_exchange(&w->run->warned_nofile, 1))
		fprintf(stderr, "loadgen: %s; counted as connect errors (retrying)\n", what);
}

/* A connect that failed on this side (descriptors, local ports, memory): the
 * generator could not offer the connection, whatever the server does. */
static void count_local(struct worker *w)
{
	w->cnt[acc_now(w)].connect_local++;
}

void conn_count_errors(struct worker *w, int acc, enum err_kind kind, uint64_t n, uint64_t now)
{
	w->cnt[acc].errors[kind] += n;
	if (acc == ACC_WINDOW && w->tl && now >= w->run->t_win &&
	    timeline_errors(w->tl, (now - w->run->t_win) / NS_PER_S, n))
		w->timeline_oom = 1;
}

/* Back to CONN_CLOSED with nothing in flight (the caller has counted it). */
static void conn_close(struct conn *c)
{
	struct worker *w = c->w;

	if (c->state == CONN_CONNECTING)
		w->connecting--;
	else if (c->state == CONN_WAIT)
		conn_list_remove(&w->waitq, c);
	else if (c->state == CONN_BACKOFF)
		conn_list_remove(&w->backoff, c);
	if (c->fd >= 0) {
		close(c->fd);	/* also leaves the epoll set */
		c->fd = -1;
	}
	w->outstanding -= c->tail - c->head;
	c->gen++;
	c->head = c->tail = c->wi = 0;
	c->woff = 0;
	c->roff = 0;
	c->out_armed = 0;
	c->close_after = 0;
	c->served = 0;
	http_resp_init(&c->resp);
	c->state = CONN_CLOSED;
}

static void first_attempt_done(struct conn *c)
{
	if (!c->tried) {
		c->tried = 1;
		c->w->setup_pending--;
	}
}

/* Reconnect later: 1 ms after the first failure, doubling up to 256 ms, so a dead
 * server is probed, not hammered.  Nothing reconnects once the window is over. */
static void schedule_retry(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	unsigned shift = c->fails ? c->fails - 1 : 0;

	if (w->phase >= PH_DRAIN)
		return;
	if (shift > BACKOFF_MAX_SHIFT)
		shift = BACKOFF_MAX_SHIFT;
	c->retry_at = now + (BACKOFF_MIN_NS << shift);
	c->state = CONN_BACKOFF;
	conn_list_push(&w->backoff, c);
	if (!w->backoff.head->next || c->retry_at < w->next_retry)
		w->next_retry = c->retry_at;
}

void conn_fail(struct conn *c, enum err_kind kind, uint64_t now)
{
	struct worker *w = c->w;

	if (c->head == c->tail)
		conn_count_errors(w, acc_now(w), kind, 1, now);
	for (uint32_t i = c->head; i != c->tail; i++)
		conn_count_errors(w, c->ring[i & w->ring_mask].acc, kind, 1, now);
	if (kind == ERR_CONNECT)
		first_attempt_done(c);
	conn_close(c);
	c->fails++;
	schedule_retry(c, now);
}

void conn_retire(struct conn *c)
{
	struct worker *w = c->w;

	for (uint32_t i = c->head; i != c->tail; i++)
		w->cnt[c->ring[i & w->ring_mask].acc].abandoned++;
	conn_close(c);
}

void conn_open(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;

	if (w->connecting >= w->max_connecting) {
		c->state = CONN_WAIT;
		conn_list_push(&w->waitq, c);
		return;
	}
	conn_connect(c, now);
}

static void on_connected(struct conn *c, uint64_t now)
{
	if (c->state == CONN_CONNECTING)
		c->w->connecting--;
	c->state = CONN_OPEN;
	first_attempt_done(c);
	conn_fill(c, now);
}

void conn_connect(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	struct run *run = w->run;
	struct epoll_event ev;
	int fd, one = 1, rc;

	c->t_connect = now;
	fd = socket(run->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			warn_once(w, "out of file descriptors (raise ulimit -n)");
		count_local(w);
		conn_fail(c, ERR_CONNECT, now);
		return;
	}
	c->fd = fd;
	/* Requests are written whole; Nagle would only hold back pipelined ones. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (run->spread_src) {
		/* Thousands of connections: spread the sources over 127.0.0.1-250 so the
		 * ephemeral ports (and TIME_WAIT) of one address are never the limit.
		 * IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(). */
		struct sockaddr_in src = { .sin_family = AF_INET };
		uint32_t n = (c->id * run->o->threads + w->id) % 250;

		src.sin_addr.s_addr = htonl(0x7f000001u + n);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			count_local(w);
			conn_fail(c, ERR_CONNECT, now);
			return;
		}
	}
	rc = connect(fd, (struct sockaddr *)&run->addr, run->addrlen);
	if (rc < 0 && errno != EINPROGRESS && errno != EINTR) {
		if (errno == EADDRNOTAVAIL) {
			warn_once(w, "no free local port (EADDRNOTAVAIL)");
			count_local(w);
		}
		conn_fail(c, ERR_CONNECT, now);
		return;
	}
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u64 = conn_key(c);
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		count_local(w);
		conn_fail(c, ERR_CONNECT, now);
		return;
	}
	c->out_armed = 1;
	if (rc == 0) {
		on_connected(c, now);
		return;
	}
	c->state = CONN_CONNECTING;
	w->connecting++;
}

/* Reopen after an orderly close; a connection the server closed before answering
 * anything waits as after a failure, so an accept-and-close server is not spun on. */
static void reopen(struct conn *c, uint64_t now, int answered)
{
	struct worker *w = c->w;

	if (w->phase >= PH_DRAIN)
		return;
	if (answered) {
		conn_open(c, now);
	} else {
		c->fails++;
		schedule_retry(c, now);
	}
}

/* The response said "Connection: close", or --close: requests pipelined behind it
 * will never be answered. */
static void close_after_response(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	int answered = c->served > 0;

	for (uint32_t i = c->head; i != c->tail; i++)
		conn_count_errors(w, c->ring[i & w->ring_mask].acc, ERR_READ, 1, now);
	w->cnt[acc_now(w)].reconnects++;
	conn_close(c);
	reopen(c, now, answered);
}

static void on_eof(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	int answered;

	if (w->o->proto == LG_HTTP && c->head != c->tail && http_resp_eof(&c->resp) == 1)
		req_complete(c, c->resp.status, now);
	if (c->head != c->tail) {
		conn_fail(c, ERR_READ, now);
		return;
	}
	answered = c->served > 0;
	w->cnt[acc_now(w)].reconnects++;
	conn_close(c);
	reopen(c, now, answered);
}

/* One read per readiness, and another only if the buffer came back full: with
 * level-triggered epoll, whatever is left is reported again, and reading until
 * EAGAIN would cost a failing recv() per response. */
static void on_readable(struct conn *c)
{
	struct worker *w = c->w;
	uint64_t now = 0;
	int completed = 0;

	for (int round = 0; round < READS_PER_EVENT; round++) {
		ssize_t n;
		int r;

		do
			n = recv(c->fd, w->rbuf, w->rbuf_size, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_fail(c, ERR_READ, mono_ns());
			return;
		}
		now = mono_ns();
		if (n == 0) {
			on_eof(c, now);
			return;
		}
		w->cnt[acc_now(w)].bytes_in += (uint64_t)n;
		if (w->o->proto == LG_HTTP)
			r = req_consume_http(c, w->rbuf, (size_t)n, now);
		else
			r = req_consume_echo(c, w->rbuf, (size_t)n, now);
		if (r < 0)
			return;
		completed += r;
		if (c->close_after || (size_t)n < w->rbuf_size)
			break;
	}
	if (c->close_after) {
		close_after_response(c, now);
		return;
	}
	if (!completed)
		return;
	if (w->phase < PH_DRAIN)
		conn_fill(c, now);	/* the next requests go out at once: no think time */
	else if (c->head == c->tail)
		conn_retire(c);	/* drain: nothing left to wait for here */
}

void conn_event(struct conn *c, uint32_t events)
{
	uint32_t gen = c->gen;

	if (c->state == CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err || (events & (EPOLLERR | EPOLLHUP)))
			conn_fail(c, ERR_CONNECT, mono_ns());
		else
			on_connected(c, mono_ns());
		return;
	}
	if (c->state != CONN_OPEN)
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(c);
	if ((events & EPOLLOUT) && c->gen == gen && c->state == CONN_OPEN)
		conn_flush(c);
}

void conn_check_timeout(struct conn *c, uint64_t now)
{
	uint64_t limit = c->w->timeout_ns;

	if (c->state == CONN_CONNECTING) {
		if (now - c->t_connect >= limit)
			conn_fail(c, ERR_CONNECT, now);
	} else if (c->state == CONN_OPEN && c->head != c->tail) {
		if (now - c->ring[c->head & c->w->ring_mask].sent >= limit)
			conn_fail(c, ERR_TIMEOUT, now);
	}
}
