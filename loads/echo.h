/* Echo messages.
 *
 * Message k is the `size` bytes starting at pattern + k % ECHO_SHIFTS, inside one
 * buffer of pseudo-random bytes: consecutive messages differ, so a server that
 * loses, repeats or reorders bytes is caught, and nothing is copied to send even a
 * 10 MiB message.
 */
#ifndef LOADS_ECHO_H
#define LOADS_ECHO_H

#include <stddef.h>
#include <stdint.h>

#define ECHO_SHIFTS 251u

struct echo_pattern {
	char *bytes;		/* size + ECHO_SHIFTS bytes */
	size_t size;
};

/* Returns 0 or -ENOMEM. */
int echo_pattern_init(struct echo_pattern *p, size_t size);
void echo_pattern_free(struct echo_pattern *p);

static inline const char *echo_msg(const struct echo_pattern *p, uint64_t k)
{
	return p->bytes + k % ECHO_SHIFTS;
}

#endif
