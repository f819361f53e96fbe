/* loopbench hand-in: lab 2 */
/* loses: back-pressure */
/* A wrong answer, kept to show what the grade does with it: conn_watch keeps
 * EPOLLIN while the session's output is above its high-water mark, so the
 * server reads whatever a client sends however far behind its reading the
 * client is.  Every byte still comes back; the back-pressure cases fail.
 * `make test` (test-labs) grades it with the reference's other bodies. */

/* BODY servers/epoll.c conn_watch */
	uint32_t want = 0;
	struct epoll_event e;

	if (!c->working && !c->eof)
		want |= EPOLLIN;
	if (c->blocked)
		want |= EPOLLOUT;
	if (want == c->events)
		return;
	e.events = want;
	e.data.ptr = c;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
		return;
	}
	c->events = want;
/* END BODY */
