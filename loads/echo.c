#include "echo.h"

#include <errno.h>
#include <stdlib.h>

int echo_pattern_init(struct echo_pattern *p, size_t size)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	p->size = size;
	p->bytes = malloc(size + ECHO_SHIFTS);
	if (!p->bytes)
		return -ENOMEM;
	for (size_t i = 0; i < size + ECHO_SHIFTS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p->bytes[i] = (char)(x >> 56);
	}
	return 0;
}

void echo_pattern_free(struct echo_pattern *p)
{
	free(p->bytes);
	p->bytes = NULL;
}
