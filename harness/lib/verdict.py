"""Claims, verdicts, and how an experiment's verdicts combine into a claim's."""
from dataclasses import dataclass, field

CLAIMS = {
    "C1": ("an event loop handles many connections at once without slowing down",
           ["concurrency", "latency"]),
    "C2": ("it does so without consuming excessive resources (memory, threads)", ["idle"]),
    "C3": ("a blocking server serves one request at a time; threads fix that at a cost",
           ["concurrency", "idle"]),
    "C4": ("event loops are a poor fit for CPU-intensive work", ["cpu", "hol"]),
    "C5": ("a blocking call inside the loop stalls every client; a worker pool fixes it",
           ["blocking"]),
    "C6": ("it scales by adding loops/processes (horizontally)", ["scale"]),
    "C7": ("an error in one request does not take the server down", ["faults"]),
}

CONFIRMED, REFUTED, MIXED, UNTESTABLE = "confirmed", "refuted", "mixed", "not testable here"
VERDICTS = (CONFIRMED, REFUTED, MIXED, UNTESTABLE)


@dataclass
class Verdict:
    claim: str
    verdict: str
    why: str                      # one paragraph with the numbers that decided it
    experiment: str = ""
    checks: list = field(default_factory=list)   # (description, passed or None)
    note: str = ""                # context printed after the checks

    def __post_init__(self):
        assert self.verdict in VERDICTS, self.verdict


def from_checks(claim, checks, experiment, why_prefix=""):
    """The usual rule: every check that could be made passed -> confirmed, none
    passed -> refuted, some -> mixed, none could be made -> not testable here."""
    made = [c for c in checks if c[1] is not None]
    lines = "; ".join("%s: %s" % (d, "yes" if ok else ("no" if ok is False else "not measured"))
                      for d, ok in checks)
    why = (why_prefix + " " if why_prefix else "") + lines
    if not made:
        v = UNTESTABLE
    elif all(ok for _, ok in made):
        v = CONFIRMED
    elif not any(ok for _, ok in made):
        v = REFUTED
    else:
        v = MIXED
    return Verdict(claim, v, why, experiment, checks)


def combine(claim, verdicts, ran_experiments):
    """A claim's verdict from its experiments' verdicts in this run.  Returns
    (verdict or None when no evidence ran, explanation)."""
    mine = [v for v in verdicts if v.claim == claim]
    if not mine:
        missing = [e for e in CLAIMS[claim][1] if e not in ran_experiments]
        return None, "not run in this run (evidence: %s)" % ", ".join(CLAIMS[claim][1]) \
            if missing else "no verdict was produced"
    testable = [v for v in mine if v.verdict != UNTESTABLE]
    if not testable:
        return UNTESTABLE, "; ".join("%s: %s" % (v.experiment, v.why) for v in mine)
    kinds = {v.verdict for v in testable}
    if len(kinds) == 1:
        v = kinds.pop()
    else:
        v = MIXED
    def summary(x):
        made = [c for c in x.checks if c[1] is not None]
        if not made:
            return "%s: %s" % (x.experiment, x.verdict)
        return "%s: %s (%d of %d checks hold)" % (x.experiment, x.verdict,
                                                  sum(1 for c in made if c[1]), len(made))
    return v, "; ".join(summary(x) for x in mine)


def label(verdict, provisional):
    if verdict is None:
        return "not run"
    return verdict + (" (provisional)" if provisional else "")
