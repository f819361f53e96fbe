/* --max-conns across the loops of one event-driven process: the limit is per
 * process, while --reactors spreads connections over several loops.  Here is
 * only the bookkeeping; stopping and restarting a listener, and waking a loop
 * (eventfd, ev_async, uv_async), are the model's (reactor.h ties them together). */
#ifndef LB_SLOTS_H
#define LB_SLOTS_H

#include <stdatomic.h>
#include <stdbool.h>

/* A loop takes a slot before it accepts; when none is left it stops watching
 * its listener and calls slots_pause; a slot given back tells whether a paused
 * loop should be woken to try again.  (A loop pauses before it re-checks for a
 * slot, so no wake-up is lost.) */
struct slots {
	int max;			/* 0: no limit */
	atomic_int open;
	atomic_int paused;		/* loops waiting for a slot */
};

void slots_init(struct slots *s, int max);

/* True when a slot is now the caller's (always, without a limit). */
bool slots_take(struct slots *s);

/* Gives a slot back.  True when some loop is paused and should be woken. */
bool slots_release(struct slots *s);

/* True when a slot is free now (a paused loop's check when woken). */
bool slots_free(struct slots *s);

/* A loop stops (pause) or starts again (resume) watching its listener;
 * `flag` is that loop's own paused flag.  resume returns false when the loop
 * was not paused. */
void slots_pause(struct slots *s, atomic_bool *flag);
bool slots_resume(struct slots *s, atomic_bool *flag);

#endif
