/* prefork: --procs N worker processes, blocking I/O (Apache's prefork MPM).
 *
 * The parent opens the listener, forks N workers (default 64, like pool's
 * threads) and from then on only supervises.  Each worker blocks in accept()
 * on the listener they all share -- the kernel wakes one waiting worker per
 * client -- and serves the client it got with blocking I/O until the
 * connection ends (blocking_serve), then accepts the next: one connection per
 * process at a time.
 *
 * The database (/db, /queries) is waited for in the worker, with blocking
 * libpq as in pool (common/dbpool.c): each process has a pool of its own,
 * opened at its first query (a libpq connection cannot cross a fork), and
 * serving one request at a time it uses one connection of it -- so the
 * workers hold up to --procs database connections between them.
 *
 * Trade-off: processes share nothing but what is shared on purpose, so a fault
 * in one worker -- a crash, a corrupted heap -- ends one connection, and the
 * parent starts a replacement.  The price is a process per connection being
 * served: an address space, a context switch on every wake-up, and an idle
 * keep-alive client holds a whole process.
 *
 * Where it breaks: more connections than processes, as pool with threads.
 * Connection N+1 waits in the listen backlog, unanswered, until a worker is
 * free; --max-conns, counted per process, never binds (a worker holds one
 * connection): --procs is the limit.
 *
 * What is shared: the struct server, mapped shared before the first fork.
 * The workers write only its counters (atomics, as pool's threads update
 * them), the parent only its drain flag.  So a request is counted, for
 * everyone, the moment its response is handed to the kernel, and a worker that
 * dies afterwards takes nothing counted with it; the parent closes the books
 * on the connection it held (each worker says, in shared memory too, whether
 * it holds one).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/blocking.h"
#include "common/server.h"

/* A worker's place: its process, and whether it holds a connection (the
 * worker says so; the parent reads it when the worker dies). */
struct worker {
	atomic_int pid;			/* 0: none */
	atomic_bool serving;
};

static struct server *srv;		/* shared with every worker */
static struct worker *workers;		/* shared too: --procs of them */
static int lfd;
static pid_t parent;

/* A worker's life: accept, serve until the client leaves, again -- until the
 * drain.  It dies with the parent (PR_SET_PDEATHSIG), whatever kills it.
 *
 * It writes its own pid into its place before it looks at `draining` (in
 * blocking_accept_shared): a drain that comes while the parent is still
 * forking -- before the parent's own store of the pid -- then either finds
 * the pid and wakes the worker, or was under way before the worker looked,
 * which the worker sees.  (With only the parent's store, a worker could serve
 * a client and sit in recv() through the whole drain, never woken.) */
static void __attribute__((noreturn)) worker_run(struct worker *me)
{
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)	/* the parent died before prctl */
		_exit(1);
	atomic_store(&me->pid, getpid());
	while ((fd = blocking_accept_shared(srv, lfd)) >= 0) {
		atomic_store(&me->serving, true);
		blocking_serve(srv, fd);
		atomic_store(&me->serving, false);
	}
	_exit(0);
}

static int worker_start(struct worker *w)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		worker_run(w);
	atomic_store(&w->pid, pid);
	return 0;
}

/* The parent's loop: wait for a worker to end.  At the drain a worker exits
 * with status 0; otherwise it died (a crash, a kill): its connection is gone
 * with it, which the counters hear, the death counts as an error, and --
 * unless the server is draining -- a new worker takes its place.
 * A dead worker's pid stays reserved (a zombie) until its place is cleared,
 * so the drain never signals a pid reused by someone else. */
static void supervise(int live)
{
	while (live > 0) {
		siginfo_t info = { 0 };
		struct worker *w = NULL;

		if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			break;		/* ECHILD: none left */
		}
		for (int i = 0; i < srv->opts.procs && !w; i++)
			if (atomic_load(&workers[i].pid) == info.si_pid)
				w = &workers[i];
		if (w)
			atomic_store(&w->pid, 0);
		waitpid(info.si_pid, NULL, 0);
		if (!w)
			continue;
		live--;
		if (atomic_exchange(&w->serving, false))
			stats_conn_closed(&srv->stats);
		if (info.si_code == CLD_EXITED && info.si_status == 0)
			continue;	/* the drain ended it */
		STAT_ADD(&srv->stats, errors, 1);
		note(srv, "worker %d died (%s %d)%s", (int)info.si_pid,
		     info.si_code == CLD_EXITED ? "exit status" : "signal", info.si_status,
		     atomic_load(&srv->draining) ? "" : "; starting another");
		if (atomic_load(&srv->draining))
			continue;
		STAT_ADD(&srv->stats, restarts, 1);
		int r = worker_start(w);
		if (r == 0)
			live++;
		else
			note(srv, "fork: %s; %d workers left", strerror(-r), live);
	}
}

/* SIGINT/SIGTERM, on the signal thread once `draining` is set: the listener is
 * shut down, which ends every worker's accept (and sends what waits in the
 * backlog away, as closing it does in the other models), and each worker is
 * woken from the recv it may be blocked in. */
static void workers_drain(void)
{
	shutdown(lfd, SHUT_RDWR);
	for (int i = 0; i < srv->opts.procs; i++) {
		pid_t pid = atomic_load(&workers[i].pid);

		if (pid > 0)
			blocking_wake_process(pid);
	}
}

int main(int argc, char **argv)
{
	int one = 1;

	srv = mmap(NULL, sizeof *srv, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (srv == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	server_init(srv, argc, argv, "prefork", OPT_PROCS);
	workers = mmap(NULL, (size_t)srv->opts.procs * sizeof *workers, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (workers == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	server_listen(srv, &lfd, 1, false);
	/* Accepted sockets inherit it: small responses leave at once, not after
	 * Nagle's 40 ms. */
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	parent = getpid();
	blocking_wake_setup();		/* inherited by every worker */
	server_on_drain(srv, workers_drain);
	/* A drain that comes during the forks ends them: the workers started so
	 * far are all it has to wait for.  The only other thread, the signal
	 * thread, is parked in sigwait by now (server_init), so no child starts
	 * with a lock some thread held at the fork. */
	int started = 0;
	while (started < srv->opts.procs && !atomic_load(&srv->draining)) {
		int r = worker_start(&workers[started]);
		if (r < 0)
			die("starting worker %d of %d: %s", started + 1, srv->opts.procs,
			    strerror(-r));
		started++;
	}
	supervise(started);

	close(lfd);
	server_finish(srv);
	return 0;
}
