#include "addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return 0;
}

int addr_parse_target(const char *target, struct sockaddr_storage *ss, socklen_t *len,
		      char *err, size_t errlen)
{
	char host[256];
	const char *port_s, *colon;
	size_t hlen;
	char *end;
	long port;
	struct addrinfo hints, *res = NULL;
	int rc;

	if (target[0] == '[') {
		const char *close = strchr(target, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "target '%s': want [IPv6]:PORT", target);
			return -1;
		}
		hlen = (size_t)(close - target - 1);
		if (hlen == 0 || hlen >= sizeof(host)) {
			snprintf(err, errlen, "target '%s': bad IPv6 address", target);
			return -1;
		}
		memcpy(host, target + 1, hlen);
		port_s = close + 2;
	} else {
		colon = strrchr(target, ':');
		if (!colon || colon == target || memchr(target, ':', (size_t)(colon - target))) {
			snprintf(err, errlen, "target '%s': want HOST:PORT (IPv6 as [::1]:PORT)", target);
			return -1;
		}
		hlen = (size_t)(colon - target);
		if (hlen >= sizeof(host)) {
			snprintf(err, errlen, "target '%s': host name too long", target);
			return -1;
		}
		memcpy(host, target, hlen);
		port_s = colon + 1;
	}
	host[hlen] = '\0';
	port = (*port_s >= '0' && *port_s <= '9') ? strtol(port_s, &end, 10) : -1;
	if (port < 1 || port > 65535 || *end) {
		snprintf(err, errlen, "target '%s': port must be 1..65535", target);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (!strcmp(host, "localhost")) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*in);
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (target[0] == '[' ? AI_NUMERICHOST : 0);
	rc = getaddrinfo(host, port_s, &hints, &res);
	if (rc || !res) {
		snprintf(err, errlen, "target '%s': %s", target, rc ? gai_strerror(rc) : "no address");
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}
