#include "http_resp.h"

static int on_message_begin(llhttp_t *p)
{
	struct http_resp *r = p->data;

	r->in_message = 1;
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	return p->status_code >= 100 && p->status_code <= 999 ? 0 : -1;
}

static int on_message_complete(llhttp_t *p)
{
	struct http_resp *r = p->data;

	r->in_message = 0;
	/* 100 Continue and friends precede the real response: not a completion. */
	if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101)
		return 0;
	r->complete = 1;
	r->status = (int)p->status_code;
	r->keep_alive = llhttp_should_keep_alive(p);
	/* Stop here so the caller handles one response at a time; the parser stops
	 * right after this response's last byte. */
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

void http_resp_init(struct http_resp *r)
{
	llhttp_init(&r->parser, HTTP_RESPONSE, &settings);
	r->parser.data = r;
	r->complete = 0;
	r->status = 0;
	r->keep_alive = 0;
	r->in_message = 0;
}

/* The last response was handed out: parsing goes on after it. */
static void resume(struct http_resp *r)
{
	if (r->complete) {
		r->complete = 0;
		llhttp_resume(&r->parser);
	}
}

long http_resp_feed(struct http_resp *r, const char *buf, size_t len)
{
	llhttp_errno_t e;

	resume(r);
	if (!len)
		return 0;
	e = llhttp_execute(&r->parser, buf, len);
	if (e == HPE_OK)
		return (long)len;
	if (e == HPE_PAUSED)
		return (long)(llhttp_get_error_pos(&r->parser) - buf);
	return -1;		/* malformed, or a 101 (the rest is not HTTP) */
}

int http_resp_eof(struct http_resp *r)
{
	resume(r);
	if (!r->in_message)
		return 0;
	if (llhttp_finish(&r->parser) == HPE_PAUSED && r->complete)
		return 1;	/* a body that ran to the close */
	return -1;
}
