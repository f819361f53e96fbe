/* Small helpers for the load generator: the clock, fatal errors, allocation. */
#ifndef LOADS_UTIL_H
#define LOADS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

/* CLOCK_MONOTONIC in nanoseconds.  glibc answers it from the vDSO, so it costs
 * no system call: the generator reads it once per read and per loop turn. */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds to whole microseconds, rounded to nearest. */
static inline uint64_t ns_to_us(uint64_t ns)
{
	return (ns + 500) / NS_PER_US;
}

/* Start-up and main paths only: print "loadgen: <message>" and exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* calloc/realloc that die on failure: the generator cannot measure without memory. */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);

#endif
