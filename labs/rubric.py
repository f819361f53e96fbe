"""How a code lab's points are shared: by what its handout promises.

The cases are the conformance suite's, run against the lab's model (the same
suite every model passes, so a student's server is held to the contract, not to
a test written for the lab).  Each case falls in the first category whose
pattern matches its name ("suite: case"); a category's points are shared
equally by its cases, so a suite that gains cases (a new framing rule) changes
no other category's weight.  An instructor may change the weights here; the
patterns are checked by `make test` (each must match a case of the suite).

Cases a server passes without ever running its loop -- the command line's --
earn nothing: they do not exercise a line a student writes (an untouched
starter would otherwise score for them).
"""

# (category, points, patterns): in order; the first match wins.
CATEGORIES = [
	# The server stops reading while its output is not drained: peak memory
	# while 10 MiB go to a slow reader, and a client that never reads stalls.
	("back-pressure", 15, [r"^resources: back-pressure", r"a stalled client resets"]),
	# Nothing to do means no CPU: EPOLLOUT only while output is pending,
	# nothing watched that cannot make progress.
	("no busy loop", 15, [r"^resources: no busy loop"]),
	# Closed after T of no progress; HTTP input does not restart it (slowloris),
	# output progress does.
	("idle timer", 15, [r"--idle-timeout-ms"]),
	# Large transfers: short writes, EAGAIN, cursors, resets mid-response.
	("partial writes", 15, [r"MiB", r"/bytes\?n=", r"mid-response"]),
	# Everything else the contract asks of a server: routes, framing,
	# pipelining, keep-alive, limits, many clients, stats at shutdown.
	("protocol", 40, [r""]),
]

NOT_GRADED = [
	(r"usage errors|unsupported options",
	 "the command line: a server that never runs its loop passes these"),
]

# A lab may have rubric of its own: {lab: CATEGORIES-like list}.
PER_LAB = {}


def categories(lab):
	return PER_LAB.get(lab, CATEGORIES)
