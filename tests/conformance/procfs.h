/* What /proc says of a server under test (child.c starts each as the leader
 * of its own process group). */
#ifndef LB_CONF_PROCFS_H
#define LB_CONF_PROCFS_H

#include <sys/types.h>

#define MAX_GROUP 256

/* The processes of the server's process group: node's cluster workers with
 * --reactors, a prefork server's workers, or the server alone.  Fills
 * pids[], returns the count. */
int server_group_pids(pid_t leader, pid_t *pids, int max);

/* User + system CPU of every thread of every process of the server, in ms
 * (to a clock tick, 10 ms), or -1. */
long server_cpu_ms(pid_t leader);

#endif
