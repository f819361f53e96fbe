/* loopbench hand-in: lab 5 */
/* loses: back-pressure */
/* A wrong answer, kept to show what the grade does with it: what uv_try_write
 * leaves is copied and queued with a uv_write of its own, so the session's
 * output is free at once, c->blocked is never set, and the connection keeps
 * reading however long libuv's write queue grows -- Node's socket.write() with
 * its return value ignored.  Every byte still comes back; the back-pressure
 * cases fail.  `make test` (test-labs) grades it with the reference's
 * on_readable. */

/* BODY servers/libuv.c conn_write */
	const char *p;
	size_t n;
	uv_buf_t b;
	int w;

	while ((n = session_output(c->s, &p)) > 0) {
		b = uv_buf_init((char *)p, (unsigned)n);
		w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (w == UV_EAGAIN)
			w = 0;
		if (w < 0) {
			STAT_ADD(&srv.stats, errors, 1);
			conn_close(l, c);
			return -1;
		}
		if ((size_t)w < n) {
			size_t rest = n - (size_t)w;
			uv_write_t *req = malloc(sizeof *req + rest);

			if (req == NULL) {
				STAT_ADD(&srv.stats, errors, 1);
				conn_close(l, c);
				return -1;
			}
			memcpy(req + 1, p + w, rest);
			b = uv_buf_init((char *)(req + 1), (unsigned)rest);
			req->data = c;
			if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
				free(req);
				STAT_ADD(&srv.stats, errors, 1);
				conn_close(l, c);
				return -1;
			}
		}
		session_output_sent(c->s, n);
		if (w > 0 && !c->working)
			uv_timer_again(&c->timer);
	}
	return 1;
/* END BODY */

/* BODY servers/libuv.c on_written */
	struct conn *c = req->data;
	struct loop *l = c->loop;

	free(req);
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (status < 0) {
		STAT_ADD(&srv.stats, errors, 1);
		conn_close(l, c);
		return;
	}
	if (!c->working)
		uv_timer_again(&c->timer);
/* END BODY */
