/* loopbench hand-in: lab 2 */
/* loses: no busy loop */
/* A wrong answer, kept to show what the grade does with it: conn_write never
 * clears c->blocked once the output has drained, so conn_watch leaves EPOLLOUT
 * armed on a socket with room to write, and level-triggered epoll reports it at
 * every epoll_wait: the loop never sleeps (and, serving EPOLLOUT before EPOLLIN,
 * stops reading that connection).  `make test` (test-labs) grades it with the
 * reference's other bodies. */

/* BODY servers/epoll.c conn_write */
	const char *p;
	size_t n;
	ssize_t w;

	while ((n = session_output(c->s, &p)) > 0) {
		do
			w = send(c->fd, p, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			STAT_ADD(&srv.stats, errors, 1);
			conn_close(l, c);
			return -1;
		}
		if (w > 0) {
			session_output_sent(c->s, (size_t)w);
			if (!c->working)
				idle_touch(&l->idle, &c->timer, l->now_ms);
		}
		if (w < (ssize_t)n) {
			c->blocked = true;
			return 0;
		}
	}
	return 1;
/* END BODY */
