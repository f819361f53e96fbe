/* The target address, and the guard that keeps the generator on loopback. */
#ifndef LOADS_ADDR_H
#define LOADS_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* 1 if sa is a loopback address: 127.0.0.0/8, ::1, or an IPv4-mapped
 * ::ffff:127.x.y.z; 0 for anything else (including the unspecified addresses). */
int addr_is_loopback(const struct sockaddr *sa);

/* Parses HOST:PORT, HOST being a name, a dotted IPv4 address or a bracketed IPv6
 * address ([::1]:8080), and PORT 1..65535.  "localhost" is 127.0.0.1 without asking
 * the resolver (whose order could pick ::1 while the server listens on IPv4 only);
 * other names go through getaddrinfo and the first address is taken.  Returns 0,
 * or -1 with a message in err.  The loopback guard is the caller's job. */
int addr_parse_target(const char *target, struct sockaddr_storage *ss, socklen_t *len,
		      char *err, size_t errlen);

/* "127.0.0.1:8080" or "[::1]:8080" into buf. */
void addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
