/* The work behind /cpu and /block (docs/contract.md, "Work unit"). */
#include <errno.h>
#include <time.h>

#include "clock.h"
#include "dbpool.h"
#include "work.h"

uint32_t work_fnv_units(uint64_t units)
{
	uint32_t h = 2166136261u;

	for (uint64_t i = 0; i < units; i++)
		h = (h ^ (uint32_t)(i & 0xff)) * 16777619u;
	return h;
}

void work_block_us(uint64_t us)
{
	struct timespec ts = {
		.tv_sec = (time_t)(us / 1000000),
		.tv_nsec = (long)(us % 1000000) * 1000,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Written so the compiler cannot drop the loops being timed. */
static volatile uint32_t calibrate_sink;

/* Doubles a trial run until it takes 5 ms, then times one run sized for about
 * 50 ms: long enough to swamp clock and frequency-ramp noise, short enough for
 * start-up. */
uint64_t work_calibrate(void)
{
	uint64_t units = 1 << 14, t;

	for (;;) {
		t = clock_ns();
		calibrate_sink = work_fnv_units(units);
		t = clock_ns() - t;
		if (t >= 5000000 || units >= (1ULL << 40))
			break;
		units *= 2;
	}
	units = units * 50000000 / (t ? t : 1);
	t = clock_ns();
	calibrate_sink = work_fnv_units(units);
	t = clock_ns() - t;

	uint64_t k = units * 1000 / (t ? t : 1);
	return k ? k : 1;
}

void work_run(struct work *w)
{
	switch (w->kind) {
	case WORK_CPU:
		w->checksum = work_fnv_units(w->units);
		break;
	case WORK_BLOCK:
		work_block_us(w->us);
		break;
	case WORK_SLEEP:
		/* A blocking model waits the way it does everything: its thread
		 * sleeps, and nobody else is held up but this connection. */
		work_block_us(w->ms * 1000);
		break;
	case WORK_DB:
		dbpool_run(w->db);
		break;
	}
}
