#include "http_resp.h"

static int on_message_begin(http_parser *p)
{
	struct http_resp *r = p->data;

	r->in_message = 1;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_resp *r = p->data;

	r->in_message = 0;
	/* 100 Continue and friends precede the real response: not a completion. */
	if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101)
		return 0;
	r->complete = 1;
	r->status = (int)p->status_code;
	r->keep_alive = http_should_keep_alive(p);
	/* Stop here so the caller handles one response at a time; the parser returns
	 * the bytes consumed up to and including this response's last byte. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_message_complete = on_message_complete,
};

void http_resp_init(struct http_resp *r)
{
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
	r->complete = 0;
	r->status = 0;
	r->keep_alive = 0;
	r->in_message = 0;
}

long http_resp_feed(struct http_resp *r, const char *buf, size_t len)
{
	size_t n;

	if (r->complete) {
		r->complete = 0;
		http_parser_pause(&r->parser, 0);
	}
	if (!len)
		return 0;
	n = http_parser_execute(&r->parser, &settings, buf, len);
	if (HTTP_PARSER_ERRNO(&r->parser) == HPE_PAUSED)
		return (long)n;
	if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK || r->parser.upgrade)
		return -1;
	return (long)n;
}

int http_resp_eof(struct http_resp *r)
{
	if (r->complete) {
		r->complete = 0;
		http_parser_pause(&r->parser, 0);
	}
	if (!r->in_message)
		return 0;
	http_parser_execute(&r->parser, &settings, NULL, 0);
	if (r->complete)
		return 1;
	return -1;
}
