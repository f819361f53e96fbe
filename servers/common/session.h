/* One connection's protocol state, sans-I/O: bytes in, bytes out, work to do.
 *
 * A model owns only how it waits.  For each connection it creates a session and
 * loops over these steps, in whatever order its way of waiting suggests:
 *
 *   read    while session_wants_input(): read into session_input_buf(), then
 *           session_input(n); on EOF session_input_eof().
 *   work    when session_work() is not NULL: run it (work_run, inline or on a
 *           pool) and call session_work_done() back on the connection's thread.
 *           An event model first checks work_is_wait(): a wait is not run but
 *           waited for on its own loop (a timer for WORK_SLEEP, the loop's
 *           database client for WORK_DB), and
 *           session_work_done() is called when the wait is over.
 *   write   while session_output() has bytes: write them, session_output_sent(n).
 *   close   when session_done(): lingering close (shut down the write side,
 *           drain input briefly, close), then session_free().
 *
 * Any call may produce output, work or a close decision, so a model re-checks all
 * four after each.  Nothing here blocks, sleeps, allocates per request on the hot
 * path, or touches a socket.
 *
 * Idle timer (docs/contract.md, --idle-timeout-ms): the model (re)starts it at accept,
 * whenever session_output_sent() is called with n > 0 (from the clock, not from a
 * time the loop read when its wait returned: it may have been busy since), and whenever
 * session_input() returns true (echo: any byte received); it stops it while work
 * is running off the connection's thread and while a wait is pending (a /sleep
 * of 60 s is a request in progress, not an idle client).  Those rules give both
 * halves of the contract: an incomplete HTTP request never restarts the timer,
 * and output that makes no progress for T lets it fire.  On expiry the model closes the
 * connection and counts a timeout.
 */
#ifndef LB_SESSION_H
#define LB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "work.h"

struct server;
struct session;

/* A new session for srv->opts.proto.  NULL when out of memory. */
struct session *session_new(struct server *srv);
void session_free(struct session *s);

/* Where to read into: *len > 0 bytes, valid until the next call on s.  The
 * buffer belongs to the calling thread, shared by its sessions: call
 * session_input() (or nothing) on s before asking another session on the same
 * thread for its buffer. */
char *session_input_buf(struct session *s, size_t *len);

/* n > 0 bytes were read into that buffer.  Returns true when the input counts as
 * activity for the idle timer (echo), false otherwise (HTTP). */
bool session_input(struct session *s, size_t n);

/* The peer will send no more (read returned 0). */
void session_input_eof(struct session *s);

/* False while reading would only add to what cannot be handled yet: output above
 * its high-water mark, work in progress, or the session is closing. */
bool session_wants_input(const struct session *s);

/* While the current request waits (session_work() handed out a wait), may the
 * model go on reading?  Reading is how libev and libuv see a client that resets
 * meanwhile: neither reports a socket's errors unless it is being read (epoll
 * does, with no interest at all).  True until READ_AHEAD_MAX bytes have been
 * read ahead; they are kept, unparsed, for the requests that follow, so a
 * client that pipelines while it waits gets back-pressure, not unbounded
 * memory. */
bool session_reads_ahead(const struct session *s);

/* The next bytes to write: returns their count (0: nothing pending) and sets *p. */
size_t session_output(struct session *s, const char **p);

/* n bytes of session_output() were handed to the kernel.  Counts bytes and
 * completed responses in the server's stats; may resume input already buffered
 * (pipelined requests), producing more output or work. */
void session_output_sent(struct session *s, size_t n);

/* The work the current request waits for, or NULL.  Each item is handed out
 * once: after that, NULL until session_work_done(). */
struct work *session_work(struct session *s);

/* The work returned by session_work() has been run: the response is queued. */
void session_work_done(struct session *s);

/* SIGINT/SIGTERM: finish the request in progress (its response says
 * Connection: close), accept no other. */
void session_drain(struct session *s);

/* True when the connection should be closed now: nothing more will be read or
 * written, and no work is running. */
bool session_done(const struct session *s);

#endif
