/* Incremental HTTP/1.x response reader on llhttp (8.1.0, strict: mk/llhttp.mk).
 *
 * Feed it a connection's bytes in pieces of any size.  It stops after each complete
 * response, so pipelined responses arriving in one read are seen one at a time.
 * Body bytes are counted, not kept: the parser reads exactly Content-Length bytes,
 * or the chunks of a chunked body, or up to the close for a body with neither.
 * Interim 1xx responses are skipped.  A status code outside 100..999 is malformed
 * (RFC 9112 section 4: three digits).
 */
#ifndef LOADS_HTTP_RESP_H
#define LOADS_HTTP_RESP_H

#include <llhttp.h>
#include <stddef.h>

struct http_resp {
	llhttp_t parser;
	int complete;		/* a response ended at the last feed */
	int status;		/* its status code */
	int keep_alive;		/* the connection may carry another response */
	int in_message;		/* bytes of an unfinished response have been seen */
};

void http_resp_init(struct http_resp *r);

/* Consumes up to len bytes.  Returns the number consumed, or -1 on malformed input
 * (the connection is then unusable).  When r->complete is set on return, a response
 * ended at the last consumed byte; the rest of the buffer belongs to the next one
 * and must be fed again. */
long http_resp_feed(struct http_resp *r, const char *buf, size_t len);

/* The peer closed.  Returns 1 if that completed a response whose body ran to the
 * close (r->complete is set), 0 if no response was in progress, -1 if one was cut
 * short. */
int http_resp_eof(struct http_resp *r);

#endif
