/* The one clock of servers/common: CLOCK_MONOTONIC, which no settimeofday or
 * NTP step moves.  Idle deadlines, lingering close, the blocking models' receive
 * timeout and the work calibration all read it.  (clock_gettime is a vDSO call
 * on Linux: no system call, so reading it per request costs nothing measurable.) */
#ifndef LB_CLOCK_H
#define LB_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds since an arbitrary start (boot, on Linux). */
static inline uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The same clock in whole milliseconds (truncated). */
static inline uint64_t clock_ms(void)
{
	return clock_ns() / 1000000;
}

#endif
