/* One connection served with blocking I/O, start to finish: the body of the
 * iterative, threads and pool models, which differ only in who calls it. */
#ifndef LB_BLOCKING_H
#define LB_BLOCKING_H

struct server;

/* Serves fd until the connection ends, then closes it (lingering close) and
 * updates the stats.  Waits in poll() on the socket and srv->shutdown_fd with the
 * idle deadline as timeout; writes with SO_SNDTIMEO set to the idle timeout;
 * runs /cpu and /block inline.  The caller counts the connection opened
 * (stats_conn_opened, at accept); blocking_serve counts it closed, and counts
 * timeouts and I/O errors. */
void blocking_serve(struct server *srv, int fd);

#endif
