/* Socket plumbing shared by the models.  Functions return a descriptor, 0, or
 * -errno; EINTR is retried inside; nothing here prints or exits. */
#ifndef LB_NET_H
#define LB_NET_H

#include <stdbool.h>

/* A listening TCP socket on host:port: SO_REUSEADDR, SO_REUSEPORT if reuseport,
 * CLOEXEC, O_NONBLOCK if nonblock. */
int net_listen(const char *host, int port, int backlog, bool reuseport, bool nonblock);

/* The port a socket is bound to, or -errno. */
int net_local_port(int fd);

/* accept4(CLOEXEC, plus NONBLOCK if nonblock) with TCP_NODELAY set on the new
 * socket.  Returns the descriptor, -EAGAIN when nothing is pending (non-blocking
 * listener), -EMFILE after shedding pending connections when out of descriptors
 * (libuv's trick: a reserve descriptor is closed, the pending connection accepted
 * and closed, the reserve reopened, so the listener never stays readable and a
 * loop never spins), -EBUSY when out of descriptors with nothing shed (the
 * reserve is one per process, and another thread accepting at the same moment
 * took the descriptor it freed: the listener stays readable, so the caller must
 * stop watching it for NET_ACCEPT_BACKOFF_MS or spin), or another -errno. */
int net_accept(int lfd, bool nonblock);

/* Clients taken from a listener per wake-up, at most: by an event loop's accept
 * batch, and by net_accept's shedding when out of descriptors.  A connect flood
 * must not starve the connections already open. */
#define NET_ACCEPT_BATCH 64

/* How long a listener is left alone after net_accept returned -EBUSY. */
#define NET_ACCEPT_BACKOFF_MS 100

/* Opens the reserve descriptor net_accept uses; call once at start-up. */
int net_reserve_init(void);

/* Lingering close for a blocking socket: shutdown(SHUT_WR), read and discard
 * until EOF or ms milliseconds, close.  So unread input never turns into a reset
 * that destroys a response already sent. */
void net_linger_close(int fd, int ms);

/* How long a lingering close drains input at most. */
#define NET_LINGER_MS 1000

#endif
