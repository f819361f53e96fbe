/* Server child processes for the conformance suite: start on --port 0, read the
 * "listening on" line, stop with SIGTERM and a deadline, never leave one behind. */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 16

static struct child *running[MAX_CHILDREN];
static char tmp_dir[128];
static int stats_seq;

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void child_tmp_remove(void)
{
	char cmd[256];

	if (tmp_dir[0] == '\0')
		return;
	/* Only files this process created live there: stats-*.json. */
	for (int i = 1; i <= stats_seq; i++) {
		snprintf(cmd, sizeof(cmd), "%s/stats-%d.json", tmp_dir, i);
		unlink(cmd);
	}
	rmdir(tmp_dir);
	tmp_dir[0] = '\0';
}

static const char *get_tmp_dir(void)
{
	if (tmp_dir[0] == '\0') {
		const char *base = getenv("TMPDIR");

		snprintf(tmp_dir, sizeof(tmp_dir), "%s/lb-conformance-XXXXXX",
			 base && base[0] ? base : "/tmp");
		if (mkdtemp(tmp_dir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
		atexit(child_tmp_remove);
	}
	return tmp_dir;
}

static void track(struct child *c, bool on)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (on && running[i] == NULL) {
			running[i] = c;
			return;
		}
		if (!on && running[i] == c)
			running[i] = NULL;
	}
}

static pid_t spawn(const char *bin, const char *const argv[], int out_fd, int err_fd)
{
	const char *args[64];
	int n = 0;
	pid_t pid;

	args[n++] = bin;
	for (int i = 0; argv[i] != NULL && n < 63; i++)
		args[n++] = argv[i];
	args[n] = NULL;

	pid = fork();
	if (pid != 0)
		return pid;
	/* The child: its own process group (so a SIGKILL fallback reaches node's
	 * cluster workers too), killed if the suite dies. */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (out_fd >= 0)
		dup2(out_fd, 1);
	if (err_fd >= 0)
		dup2(err_fd, 2);
	execv(bin, (char *const *)args);
	fprintf(stderr, "conformance: exec %s: %s\n", bin, strerror(errno));
	_exit(127);
}

/* Waits for pid up to timeout_ms; the wait(2) status, or -1 on timeout. */
static int wait_deadline(pid_t pid, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= end)
			return -1;
		sleep_ms(5);
	}
}

static int exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int child_start(struct child *c, const char *bin, const char *const argv[], int timeout_ms)
{
	const char *args[64];
	int n = 0, p[2];
	char line[256];
	size_t len = 0;
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	memset(c, 0, sizeof(*c));
	c->out_fd = -1;
	for (int i = 0; argv[i] != NULL && n < 56; i++)
		args[n++] = argv[i];
	snprintf(c->stats_path, sizeof(c->stats_path), "%s/stats-%d.json",
		 get_tmp_dir(), ++stats_seq);
	unlink(c->stats_path);
	args[n++] = "--port";
	args[n++] = "0";
	args[n++] = "--quiet";
	args[n++] = "--stats-file";
	args[n++] = c->stats_path;
	args[n] = NULL;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	c->pid = spawn(bin, args, p[1], -1);
	close(p[1]);
	if (c->pid < 0) {
		close(p[0]);
		c->pid = 0;
		return -1;
	}
	c->out_fd = p[0];
	track(c, true);

	/* The first line on stdout, flushed: "listening on 127.0.0.1:PORT". */
	while (memchr(line, '\n', len) == NULL) {
		struct pollfd pfd = { c->out_fd, POLLIN, 0 };
		int left = (int)(end - now_ms());
		ssize_t r;

		if ((int64_t)(end - now_ms()) <= 0 || len == sizeof(line) - 1) {
			fprintf(stderr, "conformance: %s printed no 'listening on' line within %d ms\n",
				bin, timeout_ms);
			child_stop(c, 2000);
			return -1;
		}
		if (poll(&pfd, 1, left) <= 0)
			continue;
		r = read(c->out_fd, line + len, sizeof(line) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "conformance: %s exited before listening\n", bin);
			child_stop(c, 2000);
			return -1;
		}
		len += (size_t)r;
	}
	line[len] = '\0';
	{
		const char *colon = strrchr(strtok(line, "\n"), ':');

		if (strncmp(line, "listening on ", 13) != 0 || colon == NULL ||
		    (c->port = atoi(colon + 1)) <= 0) {
			fprintf(stderr, "conformance: %s: first line is not 'listening on HOST:PORT': '%s'\n",
				bin, line);
			child_stop(c, 2000);
			return -1;
		}
	}
	return 0;
}

int child_wait(struct child *c, int timeout_ms)
{
	int st, code;

	if (c->pid <= 0)
		return -1;
	st = wait_deadline(c->pid, timeout_ms);
	if (st == -1) {
		fprintf(stderr, "conformance: server %d did not exit within %d ms: killed\n",
			(int)c->pid, timeout_ms);
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &st, 0);
		code = -1;
	} else {
		code = exit_code(st);
		/* Whatever is left in its group (node's cluster workers) goes too. */
		kill(-c->pid, SIGKILL);
	}
	if (c->out_fd >= 0)
		close(c->out_fd);
	c->out_fd = -1;
	c->pid = 0;
	track(c, false);
	return code;
}

int child_stop(struct child *c, int timeout_ms)
{
	if (c->pid <= 0)
		return -1;
	kill(c->pid, SIGTERM);
	return child_wait(c, timeout_ms);
}

void child_stop_all(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (running[i] != NULL && running[i]->pid > 0) {
			kill(-running[i]->pid, SIGKILL);
			kill(running[i]->pid, SIGKILL);
			waitpid(running[i]->pid, NULL, 0);
			running[i]->pid = 0;
		}
		running[i] = NULL;
	}
}

/* Reads what is available from fd into buf (keeping room for a NUL). */
static void slurp(int fd, char *buf, size_t cap, size_t *len, bool *open)
{
	char sink[4096];
	ssize_t r;

	if (*len + 1 < cap)
		r = read(fd, buf + *len, cap - 1 - *len);
	else
		r = read(fd, sink, sizeof(sink));
	if (r < 0 && errno == EINTR)
		return;
	if (r <= 0) {
		*open = false;
		return;
	}
	if (*len + 1 < cap)
		*len += (size_t)r;
}

int child_run(const char *bin, const char *const argv[], int timeout_ms,
	      char *out, size_t outlen, char *err, size_t errlen)
{
	int po[2], pe[2], st;
	size_t ol = 0, el = 0;
	bool oo = true, eo = true;
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	pid = spawn(bin, argv, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	while ((oo || eo) && (int64_t)(end - now_ms()) > 0) {
		struct pollfd pfd[2] = { { oo ? po[0] : -1, POLLIN, 0 }, { eo ? pe[0] : -1, POLLIN, 0 } };

		if (poll(pfd, 2, (int)(end - now_ms())) <= 0)
			continue;
		if (pfd[0].revents)
			slurp(po[0], out, outlen, &ol, &oo);
		if (pfd[1].revents)
			slurp(pe[0], err, errlen, &el, &eo);
	}
	close(po[0]);
	close(pe[0]);
	if (outlen)
		out[ol] = '\0';
	if (errlen)
		err[el] = '\0';
	if (pid < 0)
		return -1;
	st = wait_deadline(pid, (int)((int64_t)(end - now_ms()) > 0 ? end - now_ms() : 0) + 100);
	if (st == -1) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -1;
	}
	kill(-pid, SIGKILL);
	return exit_code(st);
}

void child_on_fatal(int sig)
{
	child_stop_all();
	child_tmp_remove();
	signal(sig, SIG_DFL);
	raise(sig);
}
