"""Claims, checks and verdicts: how measured rows decide a claim.

A *check* is one sentence that a run can find true or false ("epoll's p99 at 1000
connections stays within 3x + 1 ms of its p99 at 10").  It is evaluated on every
repetition separately -- the repetitions of the points it compares are paired by
their number, since the models are interleaved and a repetition's points ran close
together in time -- and it is

  decided true     when it holds in every repetition,
  decided false    when it holds in none,
  not decided      when it holds in some (the statistic's min-max straddles the
                   threshold, whatever its median says), when a value it needs was
                   not measured, or when a point it rests on is invalid (the load
                   generator failed to offer what the point says),
  not testable     when this machine cannot make it (too few cores).

Every number a check compares against is a Threshold with a stated reason (a source,
a physical argument or a measured noise level); docs/methodology.md lists them all.

A verdict combines the decided checks: all hold -> confirmed, none -> refuted, some
-> mixed; no decided check -> not decided; no check that could be made here -> not
testable here.  The report always says how many checks were decided, so agreement
between two runs cannot be bought by deciding fewer.
"""
from dataclasses import dataclass, field

# C8 first: the claim the literature leads with leads the report.
CLAIMS = {
    "C8": ("while a request waits on I/O, an event loop keeps serving others; one thread "
           "holds many waiting requests", ["wait", "db"]),
    "C1": ("an event loop handles many connections at once without slowing down",
           ["concurrency", "latency", "idlefds"]),
    "C2": ("it does so without consuming excessive resources (memory, threads)",
           ["idle", "rtt", "idlefds"]),
    "C3": ("a blocking server serves one request at a time; threads fix that at a cost",
           ["concurrency", "idle", "rtt"]),
    "C4": ("event loops are a poor fit for CPU-intensive work", ["cpu", "hol"]),
    "C5": ("a blocking call inside the loop stalls every client; a worker pool fixes it",
           ["blocking"]),
    "C6": ("it scales by adding loops/processes (horizontally)", ["scale"]),
    "C7": ("an error in one request does not take the server down", ["faults"]),
}

CONFIRMED, REFUTED, MIXED = "confirmed", "refuted", "mixed"
NOT_DECIDED, UNTESTABLE = "not decided", "not testable here"
VERDICTS = (CONFIRMED, REFUTED, MIXED, NOT_DECIDED, UNTESTABLE)

# Why a check is not decided (Check.why); UNTESTABLE_WHY marks a check this machine
# cannot make, which does not count as a check at all.
STRADDLES = "straddles"
INVALID = "invalid"
UNMEASURED = "unmeasured"
UNTESTABLE_WHY = "untestable"

# Fewer repetitions than this per point and a verdict is marked provisional: with
# one or two values there is no spread to judge a threshold against.
MIN_REPS = 3


@dataclass(frozen=True)
class Threshold:
    """A number a check compares against, with the reason it is that number.
    kind: 'source' (a reference says so), 'physical' (follows from how the thing
    works), 'noise' (above the measured spread of repeated measurements)."""
    name: str
    value: float
    unit: str
    kind: str
    reason: str

    def __post_init__(self):
        assert self.kind in ("source", "physical", "noise"), self.kind
        assert self.reason.strip(), self.name


# Thresholds more than one experiment's rule uses.
UNANSWERED_MAX = Threshold(
    "UNANSWERED_MAX", 0, "requests unanswered in the window", "physical",
    "Loopback TCP loses nothing: a request still unanswered after the generator's whole "
    "timeout (2 s in quick mode; 500 ms for every closed-loop point of `concurrency`, so that "
    "it can happen inside the window) was not served, so one such request is a starved client.")
P99_FACTOR = Threshold(
    "P99_FACTOR", 3.0, "x (p99 at the larger x / at the smaller, same fixed rate)", "physical",
    "At the fixed light rates these checks use (5,000 and 1,000 req/s; 100 beside idle "
    "descriptors, where node's request costs 0.5 ms) a request costs an "
    "event loop 10-50 µs, so the loop is busy 5-25 % of the time and a request's latency is "
    "its own service plus a short wait.  Even a per-request cost that doubles (the most "
    "CPU_GROWTH lets pass) at most doubles both; a p99 more than 3x higher is the loop "
    "slowing down with what the check varies (connections, idle connections), not the "
    "cost of the requests.")
P99_SLACK_US = Threshold(
    "P99_SLACK_US", 1000, "µs added to P99_FACTOR x p99", "source",
    "One wake-up behind another runnable task: Linux's scheduler gives the running task "
    "its base slice, 0.7-0.75 ms scaled by log2 of the CPUs (kernel/sched/fair.c, "
    "sysctl_sched_base_slice), before a woken one runs, so a sub-millisecond p99 can move by "
    "about 1 ms without the server doing anything differently.")


DISTURBED = Threshold(
    "DISTURBED", 5.0, "% of the point's CPUs", "noise",
    "Other processes' (or the hypervisor's) share of the point's CPUs over the window "
    "above which the point is flagged.  The share is measured to about 1 % (idle time "
    "per CPU to one 10 ms clock tick, over a window of at least 1 s on two CPUs); 5 % "
    "of the server's or the generator's core is half the 10 % within which two runs' "
    "requests/s are taken to agree, so a point below it cannot have been moved "
    "outside that tolerance by someone else's work.")


@dataclass
class Check:
    text: str                     # the sentence, with the numbers that decided it
    outcome: object = None        # True, False, or None (not decided / not testable)
    why: str = ""                 # "" when decided; else STRADDLES, INVALID, ...
    detail: str = ""              # e.g. "holds in 2 of 3 repetitions"

    @property
    def decided(self):
        return self.outcome is not None

    @property
    def testable(self):
        return self.why != UNTESTABLE_WHY

    def as_list(self):
        return [self.text, self.outcome, self.why, self.detail]

    @classmethod
    def from_list(cls, x):
        x = list(x) + ["", ""]
        return cls(x[0], x[1], x[2] or "", x[3] or "")


def by_rep(*groups):
    """{rep: (row of group 1, row of group 2, ...)} for the repetitions every group
    measured.  Each group is the rows of one point (one row per repetition)."""
    maps = []
    for g in groups:
        m = {}
        for r in g:
            m.setdefault(r.get("rep"), r)
        maps.append(m)
    if not maps:
        return {}
    common = set(maps[0])
    for m in maps[1:]:
        common &= set(m)
    return {rep: tuple(m[rep] for m in maps) for rep in sorted(common, key=lambda x: int(x or 0))}


# The reason (lib/runner.py) of an open-loop point whose generator sent every
# request of its rate, busy well under GEN_BUSY_MAX, but woke late: loop lag p99
# at or above its tolerance.  Its timestamps are in doubt -- a request's latency
# may include the generator's lateness -- not the load it offered.  So a check of
# what the server spent or held under that load (CPU per request, threads,
# memory) still stands on it (check(..., lag_ok=True)); a check of time does not.
GEN_STALL = Threshold(
    "GEN_STALL", 0.01, "of the window (an open-loop generator's longest late wake-up, never busy)",
    "physical",
    "An open-loop generator that is never busy wakes late only when it is not running (the "
    "host or another process held its core).  While it is stalled for S, the requests due "
    "in S go out late and the answers in flight are read late, so up to S of their latency "
    "is the generator's: at a fixed rate, S/window of the window's requests.  Over 1 % the "
    "stall alone can make the p99, so the repetition is run again, once; the first attempt "
    "stays in raw/ (<point>.stalled.*) and points.jsonl says why.  Stalls of 30-50 ms with "
    "the generator 6-10 % busy made single repetitions' p99 jump 10-20x in the pair of "
    "2026-12-01 (844bd0b): by this rule 10 repetitions of one run and 20 of the other.")


LAGGED = "generator lagged"


def invalid_reasons(rows, lag_ok=False):
    """Why any of these rows is invalid (the generator failed to offer the point,
    or, unless lag_ok, its timestamps are in doubt: LAGGED)."""
    out = []
    for r in rows:
        if r.get("valid") == "false":
            why = [w for w in (r.get("invalid") or "invalid").split("; ")
                   if not (lag_ok and w.startswith(LAGGED))]
            if not why:
                continue
            what = "%s %s c=%s rep %s" % (r.get("model"), r.get("variant"), r.get("conns"), r.get("rep"))
            out.append("%s: %s" % (what, "; ".join(why)))
    return out


def check(text, groups, holds, lag_ok=False):
    """A check evaluated per repetition.  groups: the points compared (each a list
    of rows, one per repetition); holds(*rows of one repetition) -> True, False or
    None (a value it needs was not measured).  lag_ok: the check reads what the
    server spent or held, not a time, and stands on LAGGED points."""
    reps = by_rep(*groups)
    if not reps:
        return Check(text, None, UNMEASURED, "not measured")
    bad = invalid_reasons([r for rows in reps.values() for r in rows], lag_ok)
    results = [holds(*rows) for rows in reps.values()]
    n, yes = len(results), sum(1 for x in results if x is True)
    if bad:
        return Check(text, None, INVALID, "rests on an invalid point: " + "; ".join(bad[:3])
                     + (" (and %d more)" % (len(bad) - 3) if len(bad) > 3 else ""))
    if any(x is None for x in results):
        return Check(text, None, UNMEASURED, "a value it needs was not measured")
    detail = "holds in %d of %d repetition%s" % (yes, n, "" if n == 1 else "s")
    if yes == n:
        return Check(text, True, "", detail)
    if yes == 0:
        return Check(text, False, "", detail)
    return Check(text, None, STRADDLES, detail)


def untestable(text, why):
    return Check(text, None, UNTESTABLE_WHY, why)


@dataclass
class Verdict:
    claim: str
    verdict: str
    why: str                      # one paragraph: how the verdict was reached
    experiment: str = ""
    checks: list = field(default_factory=list)   # [text, outcome, why, detail]
    note: str = ""                # context printed after the checks

    def __post_init__(self):
        assert self.verdict in VERDICTS, self.verdict


def counts(checks):
    """(testable, decided, held) over Check objects."""
    t = [c for c in checks if c.testable]
    d = [c for c in t if c.decided]
    return len(t), len(d), sum(1 for c in d if c.outcome)


def rule(checks):
    """The verdict of a list of Checks (the rule in the module docstring)."""
    if not checks:
        return NOT_DECIDED
    t, d, held = counts(checks)
    if t == 0:
        return UNTESTABLE
    if d == 0:
        return NOT_DECIDED
    if held == d:
        return CONFIRMED
    if held == 0:
        return REFUTED
    return MIXED


def summary_line(checks):
    t, d, held = counts(checks)
    if t == 0:
        return "no check can be made here"
    return "%d of %d checks decided, %d of them hold" % (d, t, held)


def from_checks(claim, checks, experiment, why_prefix=""):
    v = rule(checks)
    why = (why_prefix + " " if why_prefix else "") + summary_line(checks)
    if v == UNTESTABLE:
        reasons = sorted({c.detail for c in checks if c.detail})
        why = (why_prefix + " " if why_prefix else "") + "; ".join(reasons)
    return Verdict(claim, v, why, experiment, [c.as_list() for c in checks])


def combine(claim, verdicts, ran_experiments):
    """A claim's verdict from every check of its experiments in this run (the same
    rule as one experiment's).  Returns (verdict or None when no evidence ran,
    explanation)."""
    mine = [v for v in verdicts if v.claim == claim]
    if not mine:
        missing = [e for e in CLAIMS[claim][1] if e not in ran_experiments]
        return None, ("not run in this run (evidence: %s)" % ", ".join(CLAIMS[claim][1])
                      if missing else "no verdict was produced")
    checks = [Check.from_list(c) for v in mine for c in v.checks]
    v = rule(checks)
    if not checks:
        v = UNTESTABLE if all(x.verdict == UNTESTABLE for x in mine) else NOT_DECIDED
    if v in (UNTESTABLE, NOT_DECIDED) and not any(c.testable for c in checks):
        return v, "; ".join("%s: %s" % (x.experiment, x.why) for x in mine)
    parts = []
    for x in mine:
        cs = [Check.from_list(c) for c in x.checks]
        parts.append("%s: %s (%s)" % (x.experiment, x.verdict, summary_line(cs)))
    return v, "; ".join(parts)


def label(verdict, provisional):
    if verdict is None:
        return "not run"
    return verdict + (" (provisional)" if provisional else "")
