/* The requests on a connection: start them (closed loop: keep the pipeline full;
 * open loop: those that have fallen due), write them, match the bytes that come
 * back to them, and account for each answer.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "conn.h"
#include "request.h"
#include "util.h"

#define MAX_IOV 64

static void set_interest(struct conn *c, int want_out)
{
	struct epoll_event ev;

	if (want_out == c->out_armed)
		return;
	ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
	ev.data.u64 = conn_key(c);
	if (epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		conn_fail(c, ERR_WRITE, mono_ns());
		return;
	}
	c->out_armed = (uint8_t)want_out;
}

/* --mix: the paths are dealt like cards from a deck that holds each path
 * `weight` times, shuffled: a random card per request, not put back, and a
 * new deck when it is empty.  So every W1+...+Wn requests of a thread hold
 * each path exactly its weight's number of times, in a random order.  A draw
 * per request with replacement makes the count in a window a matter of luck,
 * and with a generator seeded alike in every run, the same luck every time:
 * hol's and blocking's windows each held 5 of 1,250 requests on the 1 % path,
 * in every run (docs/methodology.md). */
static uint16_t pick_path(struct worker *w)
{
	const struct lg_opts *o = w->o;
	unsigned n = o->npaths, i;
	uint64_t x = w->rng, r;

	if (n == 1)
		return 0;
	if (w->deck_left == 0) {
		for (i = 0; i < n; i++)
			w->deck[i] = o->paths[i].weight;
		w->deck_left = w->run->mix_deck;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	r = (x * 0x2545f4914f6cdd1dull >> 32) % w->deck_left;
	for (i = 0; i < n - 1 && r >= w->deck[i]; i++)
		r -= w->deck[i];
	w->deck[i]--;
	w->deck_left--;
	return (uint16_t)i;
}

static void push_request(struct conn *c, uint64_t due, uint64_t now, int acc)
{
	struct worker *w = c->w;
	struct req *q = &c->ring[c->tail & w->ring_mask];

	q->due = due;
	q->sent = now;
	q->acc = (uint8_t)acc;
	if (w->o->proto == LG_HTTP) {
		q->path = pick_path(w);
		q->bytes = w->run->req[q->path];
		q->len = w->run->req_len[q->path];
	} else {
		q->path = 0;
		q->bytes = echo_msg(&w->run->echo, c->echo_seq++);
		q->len = (uint32_t)w->o->size;
	}
	c->tail++;
	w->outstanding++;
	w->cnt[acc].started++;
}

/* Write what is pending, as one send() or sendmsg() for all of it.  EPOLLOUT is
 * armed only when the socket would not take everything (a partial write), so the
 * common case costs one system call per batch and no epoll_ctl. */
void conn_flush(struct conn *c)
{
	struct worker *w = c->w;

	while (c->wi != c->tail) {
		struct iovec iov[MAX_IOV];
		size_t total = 0, left;
		int n = 0;
		ssize_t r;

		for (uint32_t i = c->wi; i != c->tail && n < MAX_IOV; i++, n++) {
			const struct req *q = &c->ring[i & w->ring_mask];
			size_t off = i == c->wi ? c->woff : 0;

			iov[n].iov_base = (char *)q->bytes + off;
			iov[n].iov_len = q->len - off;
			total += iov[n].iov_len;
		}
		do {
			if (n == 1) {
				r = send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
			} else {
				struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
				r = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
			}
		} while (r < 0 && errno == EINTR);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_fail(c, ERR_WRITE, mono_ns());
			return;
		}
		w->cnt[acc_now(w)].bytes_out += (uint64_t)r;
		for (left = (size_t)r; left;) {
			const struct req *q = &c->ring[c->wi & w->ring_mask];
			size_t rest = q->len - c->woff;

			if (left >= rest) {
				left -= rest;
				c->wi++;
				c->woff = 0;
			} else {
				c->woff += (uint32_t)left;
				left = 0;
			}
		}
		if ((size_t)r < total)
			break;	/* the socket is full: wait for EPOLLOUT */
	}
	set_interest(c, c->wi != c->tail);
}

void conn_fill(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	const struct lg_opts *o = w->o;
	uint32_t room, pushed = 0;

	if (c->state != CONN_OPEN)
		return;
	room = o->pipeline - (c->tail - c->head);
	/* Past the window's end a closed loop starts nothing; an open loop still
	 * sends what fell due before the end (m_due stops there), late. */
	if (!may_start(w) || c->close_after || (!w->run->rate_mrps && now >= w->t_end))
		room = 0;
	if (o->close && c->served + (c->tail - c->head) >= 1)
		room = 0;	/* --close: one request per connection */
	while (room--) {
		uint64_t due;
		int acc;

		if (w->run->rate_mrps) {
			uint64_t m = c->nsent * w->nconns + c->id;

			if (m >= w->m_due)
				break;
			due = sched_due(&w->sched, m);
			acc = m < w->m_warm ? ACC_WARMUP : ACC_WINDOW;
			c->nsent++;
			if (now >= due + NS_PER_MS)
				w->cnt[acc].late++;
		} else {
			acc = now < w->run->t_win ? ACC_WARMUP : ACC_WINDOW;
			if (acc == ACC_WINDOW && w->has_quota) {
				if (w->window_started >= w->quota)
					break;
				w->window_started++;
			}
			/* With --close the request began with its connect, unless that
			 * connect was made during the set-up, before the load began. */
			due = o->close && c->t_connect >= w->run->t_start ? c->t_connect : now;
		}
		push_request(c, due, now, acc);
		pushed++;
	}
	if (pushed)
		conn_flush(c);
	else
		set_interest(c, c->wi != c->tail);
}

/* The oldest request in flight is answered with an HTTP status (echo: 200 when
 * every byte came back): 2xx is a request, 503 an `unavailable` error, anything
 * else a `status` error. */
void req_complete(struct conn *c, int status, uint64_t now)
{
	struct worker *w = c->w;
	const struct req *q = &c->ring[c->head & w->ring_mask];
	int acc = q->acc;

	c->head++;
	w->outstanding--;
	c->served++;
	/* A server may answer before it has read the whole request (an error, then a
	 * close): whatever is left of it will not be written. */
	if ((int32_t)(c->wi - c->head) < 0) {
		c->wi = c->head;
		c->woff = 0;
	}
	if (status < 200 || status > 299) {
		conn_count_errors(w, acc, status == 503 ? ERR_UNAVAILABLE : ERR_STATUS, 1, now);
		return;
	}
	c->fails = 0;
	w->cnt[acc].requests++;
	if (acc == ACC_WINDOW) {
		uint64_t us = ns_to_us(now > q->due ? now - q->due : 0);

		hist_record(w->lat, us);
		if (w->lat_unc)
			hist_record(w->lat_unc, ns_to_us(now > q->sent ? now - q->sent : 0));
		if (w->path_lat)
			hist_record(w->path_lat[q->path], us);
		if (w->tl && timeline_request(w->tl, (now - w->run->t_win) / NS_PER_S, us))
			w->timeline_oom = 1;
	}
}

/* Returns the number of responses completed, or -1 if the connection failed. */
int req_consume_http(struct conn *c, const char *buf, size_t n, uint64_t now)
{
	size_t off = 0;
	int done = 0;

	while (off < n) {
		long r;

		if (c->head == c->tail) {	/* bytes nobody asked for */
			conn_fail(c, ERR_READ, now);
			return -1;
		}
		r = http_resp_feed(&c->resp, buf + off, n - off);
		if (r < 0 || (r == 0 && !c->resp.complete)) {
			conn_fail(c, ERR_READ, now);
			return -1;
		}
		off += (size_t)r;
		if (c->resp.complete) {
			req_complete(c, c->resp.status, now);
			done++;
			if (!c->resp.keep_alive || c->w->o->close) {
				c->close_after = 1;
				break;
			}
		}
	}
	return done;
}

int req_consume_echo(struct conn *c, const char *buf, size_t n, uint64_t now)
{
	struct worker *w = c->w;
	size_t off = 0;
	int done = 0;

	while (off < n) {
		const struct req *q;
		uint64_t written;
		size_t k;

		if (c->head == c->tail) {
			conn_fail(c, ERR_ECHO, now);
			return -1;
		}
		q = &c->ring[c->head & w->ring_mask];
		written = c->head == c->wi ? c->woff : q->len;
		k = q->len - c->roff;
		if (k > n - off)
			k = n - off;
		/* More bytes than were sent, or different ones: the stream is lost. */
		if (c->roff + k > written || memcmp(buf + off, q->bytes + c->roff, k)) {
			conn_fail(c, ERR_ECHO, now);
			return -1;
		}
		c->roff += k;
		off += k;
		if (c->roff == q->len) {
			c->roff = 0;
			req_complete(c, 200, now);
			done++;
			if (w->o->close) {
				c->close_after = 1;
				break;
			}
		}
	}
	return done;
}
