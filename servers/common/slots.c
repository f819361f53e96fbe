/* The --max-conns slots of the event models (see slots.h). */
#include "slots.h"

void slots_init(struct slots *s, int max)
{
	s->max = max;
	atomic_init(&s->open, 0);
	atomic_init(&s->paused, 0);
}

bool slots_take(struct slots *s)
{
	if (s->max == 0)
		return true;
	if (atomic_fetch_add(&s->open, 1) < s->max)
		return true;
	atomic_fetch_sub(&s->open, 1);
	return false;
}

bool slots_release(struct slots *s)
{
	if (s->max == 0)
		return false;
	atomic_fetch_sub(&s->open, 1);
	return atomic_load(&s->paused) > 0;
}

bool slots_free(struct slots *s)
{
	return s->max == 0 || atomic_load(&s->open) < s->max;
}

void slots_pause(struct slots *s, atomic_bool *flag)
{
	atomic_store(flag, true);
	atomic_fetch_add(&s->paused, 1);
}

bool slots_resume(struct slots *s, atomic_bool *flag)
{
	if (!atomic_exchange(flag, false))
		return false;
	atomic_fetch_sub(&s->paused, 1);
	return true;
}
