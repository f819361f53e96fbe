/* The conformance suite's plumbing: server child processes and client sockets
 * whose every operation is bounded by a deadline, so a wedged server fails a case
 * instead of hanging the suite. */
#ifndef LB_CONF_H
#define LB_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- server child processes (child.c) --- */

struct child {
	pid_t pid;		/* 0: not running */
	int out_fd;		/* the read end of its stdout */
	int port;
	char stats_path[256];	/* its --stats-file */
};

/* Starts `bin` with argv[] (NULL-terminated, without argv[0]) plus
 * "--port 0 --quiet --stats-file <tmp>", in its own process group, killed if this
 * process dies, and waits up to timeout_ms for "listening on HOST:PORT".  Returns
 * 0, or -1 with the reason on stderr (the child is then already stopped). */
int child_start(struct child *c, const char *bin, const char *const argv[], int timeout_ms);

/* SIGTERM, then waits up to timeout_ms for it to exit; SIGKILL to its process
 * group after that.  Returns its exit status (0..255), 128+signal when killed by
 * a signal, or -1 when it had to be killed.  Safe to call twice. */
int child_stop(struct child *c, int timeout_ms);

/* Waits up to timeout_ms for it to exit by itself (after a signal the caller
 * sent), SIGKILL after that; returns as child_stop does. */
int child_wait(struct child *c, int timeout_ms);

/* Runs bin with argv (no server: usage checks) and waits up to timeout_ms.
 * Returns its exit status as child_stop does; stdout/stderr are captured into
 * out/err (NUL-terminated, truncated to their size). */
int child_run(const char *bin, const char *const argv[], int timeout_ms,
	      char *out, size_t outlen, char *err, size_t errlen);

/* Stops every child still running (atexit and fatal signals). */
void child_stop_all(void);

/* Removes the temporary directory of the stats files (atexit; fatal signals). */
void child_tmp_remove(void);

/* A fatal-signal handler for a suite's main(): stops the children, removes the
 * stats directory, then dies of the same signal. */
void child_on_fatal(int sig);

/* CU_ASSERT that ends the test (goto out, where it releases what it holds)
 * instead of longjmp-ing past its cleanup: a leaked connection would block a
 * serializing server for every later case.  (Needs <CUnit/CUnit.h>.) */
#define REQUIRE(cond) do { \
		bool ok_ = (cond); \
		CU_assertImplementation(ok_, __LINE__, #cond, __FILE__, "", CU_FALSE); \
		if (!ok_) \
			goto out; \
	} while (0)

/* --- time --- */

uint64_t now_ms(void);
void sleep_ms(int ms);

/* --- client sockets (client.c); every call returns 0 / a count or -errno --- */

/* A non-blocking TCP connection to 127.0.0.1:port with TCP_NODELAY; rcvbuf > 0
 * sets SO_RCVBUF before connecting.  -ETIMEDOUT if not connected in timeout_ms. */
int cl_connect(int port, int rcvbuf, int timeout_ms);

/* The same, but returns at once with the connection in progress (POLLOUT says
 * when it is done; a failure shows on the first send or recv). */
int cl_connect_start(int port);

/* Writes all len bytes (-ETIMEDOUT past the deadline). */
int cl_send_all(int fd, const void *buf, size_t len, int timeout_ms);

/* Reads what is there, waiting up to timeout_ms: a count, 0 at EOF, -ETIMEDOUT,
 * or -errno (-ECONNRESET). */
ssize_t cl_recv(int fd, void *buf, size_t cap, int timeout_ms);

/* Reads exactly len bytes: 0, -EPIPE on an early EOF, -ETIMEDOUT, or -errno. */
int cl_recv_exact(int fd, void *buf, size_t len, int timeout_ms);

/* Waits for the peer to close: 0 on EOF or reset, -ETIMEDOUT, -EPROTO if data
 * came instead (*extra gets its count when not NULL). */
int cl_wait_close(int fd, int timeout_ms, size_t *extra);

/* Resets the connection (SO_LINGER 0, close). */
void cl_reset(int fd);

/* --- HTTP responses --- */

/* A connection with a read buffer: responses are parsed out of it, so pipelined
 * responses that arrive in one read are not lost. */
struct hconn {
	int fd;
	char *buf;
	size_t len, cap;
};

struct hresp {
	char *raw;		/* the whole response, head and body (malloc'd) */
	size_t raw_len;
	int status;
	char ctype[128];	/* Content-Type, "" if absent */
	char connection[64];	/* Connection, "" if absent */
	char allow[64];		/* Allow, "" if absent */
	long long clen;		/* Content-Length, -1 if absent */
	const char *body;	/* into raw */
	size_t body_len;
};

int hconn_open(struct hconn *h, int port, int timeout_ms);
void hconn_close(struct hconn *h);

/* Reads one response (head and Content-Length body; no body for a HEAD request
 * or a 100).  0, -EPIPE (EOF first), -ETIMEDOUT, -EPROTO (unparsable), -errno. */
int hconn_read(struct hconn *h, struct hresp *r, bool head_request, int timeout_ms);
void hresp_free(struct hresp *r);

/* Bytes received but not consumed by hconn_read. */
size_t hconn_pending(const struct hconn *h);

/* Waits for close like cl_wait_close, counting buffered bytes as extra data. */
int hconn_wait_close(struct hconn *h, int timeout_ms);

/* The response the C models send, byte for byte (docs/contract.md), into buf:
 * conn is NULL, "close" or "keep-alive"; allow NULL or the methods.  Returns the
 * length (body included). */
size_t expect_bytes(char *buf, size_t cap, int status, const char *ctype,
		    const char *allow, const char *conn, const void *body, size_t body_len);

/* The standard reason phrase used by the contract. */
const char *reason_phrase(int status);

/* n clients connect at once, each sends req and expects exactly resp back (or,
 * http_loose: a 200 response ending in resp, node's HTTP), then closes.  Returns
 * how many got their answer, or -1. */
int many_clients(int port, int n, const char *req, size_t reqlen, const char *resp, size_t resplen,
		 bool http_loose, int timeout_ms);

/* n bytes of a position-dependent pattern (so reordering shows), malloc'd. */
char *test_pattern(size_t n, unsigned seed);

/* Prints a byte string escaped (\r\n shown), at most max bytes, to stderr. */
void show_bytes(const char *label, const void *p, size_t len, size_t max);

/* FNV-1a work units (docs/contract.md, "Work unit"): the expected /cpu checksum. */
uint32_t fnv_units(uint64_t units);

#endif
