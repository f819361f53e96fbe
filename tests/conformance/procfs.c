/* What /proc says of a server under test: the processes of its process group
 * and the CPU they have used.  The resource cases measure with it, and the
 * /cpu case waits on it for the work to have started. */
#include "procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads /proc/<pid>/stat into buf and returns its fields from the third (the
 * state) on: what follows the ")" that ends the command name, which may itself
 * hold spaces and parentheses.  NULL when the process is gone. */
static const char *stat_fields(const char *path, char *buf, size_t size)
{
	ssize_t len;
	char *p;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	len = read(fd, buf, size - 1);
	close(fd);
	if (len <= 0)
		return NULL;
	buf[len] = '\0';
	return (p = strrchr(buf, ')')) != NULL ? p + 1 : NULL;
}

/* The processes of the server's process group (child.c starts each server as
 * the leader of its own): node's cluster workers with --reactors, a prefork
 * server's workers, or the server alone.  Fills pids[], returns the count. */
int server_group_pids(pid_t leader, pid_t *pids, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < max) {
		char path[300], buf[512];
		const char *p;
		int pgrp;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		/* Field 5. */
		if ((p = stat_fields(path, buf, sizeof(buf))) != NULL &&
		    sscanf(p, " %*c %*d %d", &pgrp) == 1 && pgrp == leader)
			pids[n++] = (pid_t)atoi(e->d_name);
	}
	closedir(d);
	return n;
}

/* User + system CPU of every thread of every process of the server, in ms,
 * or -1. */
long server_cpu_ms(pid_t leader)
{
	pid_t pids[MAX_GROUP];
	int n = server_group_pids(leader, pids, MAX_GROUP);
	long tick = sysconf(_SC_CLK_TCK), sum = -1;

	for (int i = 0; i < n && tick > 0; i++) {
		char path[64], buf[1024];
		unsigned long utime, stime;
		const char *p;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
		/* Fields 14 and 15: utime and stime, in clock ticks. */
		if ((p = stat_fields(path, buf, sizeof(buf))) != NULL &&
		    sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			   &utime, &stime) == 2)
			sum = (sum < 0 ? 0 : sum) + (long)((utime + stime) * 1000 / (unsigned long)tick);
	}
	return sum;
}
