/* The fault tests: hostile clients and hostile conditions against one server
 * binary, each case with a server instance of its own.  Server children and
 * client sockets come from the conformance suite's plumbing
 * (tests/conformance/child.c, client.c), so every wait has a deadline. */
#ifndef LB_FAULTS_H
#define LB_FAULTS_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"

struct faults_cfg {
	const char *server;		/* the binary under test */
	const char *model;		/* "epoll", ... */
	const char *loadgen;		/* build/loadgen, for SIGTERM under load */
	const char *pg;			/* harness/pg, to take the database away */
	const char *extra[16];		/* --server-arg ..., NULL-terminated */
	int nextra;
	bool exact;			/* a C model: its stats follow docs/contract.md exactly */
	bool serializes;		/* one connection at a time (iterative) */
	bool event;			/* supports --offload and --reactors */
	bool pooled;			/* serves --threads connections at a time, the rest queue */
	bool fd_setsize;		/* select(2): cannot watch a descriptor >= FD_SETSIZE */
	bool limit_at_start;		/* takes RLIMIT_NOFILE once, at start-up (uring) */
	bool procs;			/* a process per connection: --procs is its limit */
	bool supervised;		/* a worker that dies is replaced (prefork) */
};

extern struct faults_cfg fcfg;

/* Generous bounds: a case fails on a wedged server, never on a slow machine. */
#define F_IO_MS		10000
#define F_START_MS	20000
#define F_STOP_MS	20000

/* Starts the model with --proto proto, --cpu-iters-per-us 100, the extra
 * args, then args (NULL-terminated), and more (NULL-terminated, may be NULL).
 * 0 or -1. */
int f_start(struct child *c, const char *proto, const char *const args[],
	    const char *const more[]);

/* SIGTERM and wait: true when it exited 0 (else says why). */
bool f_stop(struct child *c, const char *what);

/* "NOT APPLICABLE to <model>: <case>: <reason>", counted in the summary. */
void f_not_applicable(const char *name, const char *reason);

/* /proc figures of a process: CPU seconds (user + system, every thread) and
 * open descriptors, its own and its descendants' (a prefork server's
 * workers); threads.  -1 when unreadable. */
double proc_cpu_s(pid_t pid);
int proc_fds(pid_t pid);
int proc_threads(pid_t pid);

/* Waits up to ms for the process's descriptors to come down to at most n;
 * returns the last count seen. */
int wait_fds_at_most(pid_t pid, int n, int ms);

/* The stats file's contents (malloc'd), or NULL; a number from a flat JSON
 * object (-1 if absent); the sum of the numbers in the object under key. */
char *read_text(const char *path);
long long json_num(const char *json, const char *key);
long long json_sum_object(const char *json, const char *key);
/* The number under key in the top-level object obj ("errors" -> "timeout"), or -1. */
long long json_num_in(const char *json, const char *obj, const char *key);

/* Starts argv[0] with argv (NULL-terminated), its stdout and stderr to
 * /dev/null; its pid, or -1. */
pid_t f_spawn(const char *const argv[]);

/* Waits up to ms for pid; its exit status (128+signal if a signal ended it),
 * or -1 after it had to be killed. */
int f_wait_pid(pid_t pid, int ms);

/* GET path on a new connection, expecting status (and closing it).  0 or
 * -errno / -EPROTO. */
int get_status(int port, const char *path, int want_status, int timeout_ms);

/* The server's descriptors once it is fully up: "listening on" comes before
 * a loop has made its epoll set, eventfds and the like, so this serves one
 * request first (GET /, counted by the server) and lets that connection
 * close.  -1 on failure. */
int settled_fds(const struct child *c);

void register_fault_suites(void);
void register_wait_fault_suites(void);
void register_db_fault_suites(void);

#endif
