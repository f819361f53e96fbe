"""latency — latency against offered load (context for C1).

Each model's capacity is measured first (closed loop, 100 connections); then open-loop
points offer 10% to 120% of it on the same 100 connections, latency measured from when
each request was due (no coordinated omission).  Every server, event-driven or not, is
a queue: latency stays flat while there is idle time and climbs steeply near capacity
(the "hockey stick").  C1's "without slowing down" holds only below that knee.
"""
from lib import analysis as A
from lib import plots
from lib.csvio import num
from lib.plan import Point
from lib.verdict import Threshold

NAME = "latency"
TITLE = "Latency against offered load (the hockey stick)"
CLAIMS = []
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "prefork", "epoll", "libev", "libuv", "uring", "node"]
QUICK_MODELS = ["threads", "epoll", "node"]
QUICK_BUDGET_S = 75
FRACTIONS = {"smoke": [0.5], "quick": [0.3, 0.8, 1.0],
             "full": [0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 1.2]}
CONNS = 100
PROBE = "probe"
ABOUT = __doc__.split("\n", 2)[2].strip()
RATE_RELATIVE = True   # rates follow each run's measured capacity

KNEE_FACTOR = Threshold(
    "KNEE_FACTOR", 5.0, "x (p99 over the lightest load's p99)", "physical",
    "Where the hockey stick bends: an M/M/1 queue's waiting time grows as 1/(1 - load), "
    "so it is within 5x of light load up to 80 % of capacity and grows without bound "
    "beyond; 5x marks the load past which queueing, not service, sets the latency.  "
    "Context only: no verdict rests on it.")
THRESHOLDS = [KNEE_FACTOR]


def plan(ctx):
    ms = ctx.models(MODELS, QUICK_MODELS)
    pts = []
    # The probe of a model and repetition measures the capacity the open-loop points
    # of that repetition offer fractions of: it runs first in every repetition.
    for rep, f, m in ctx.interleave([PROBE] + FRACTIONS[ctx.mode], ms, first=[PROBE]):
        key = "lat:%s:%d" % (m, rep)
        if f == PROBE:
            pts.append(Point(experiment=NAME, model=m, variant="probe", conns=CONNS, rep=rep,
                             duration=ctx.window, warmup=ctx.warmup,
                             timeout_ms=ctx.timeout_ms, probe_key=key,
                             server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
        else:
            pts.append(Point(experiment=NAME, model=m, variant="open", conns=CONNS, rep=rep,
                             rate_of=(key, f), duration=ctx.window,
                             warmup=ctx.warmup, timeout_ms=ctx.timeout_ms,
                             server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _load(r, d):
    """Offered load as a fraction of the same model's probe in the same repetition."""
    cap = A.median_of([x for x in d.rows if x["variant"] == "probe" and x["model"] == r["model"]
                       and x["rep"] == r["rep"] and x["path"] == "*"], "rps")
    rate = num(r, "rate")
    return None if not cap or rate is None else round(100.0 * rate / cap)


def figures(d):
    rows = A.where(d.rows, variant="open", path="*")
    labels, data = plots.multi_lines_data([A.by_series(rows, lambda r: _load(r, d), "p50_us"),
                                           A.by_series(rows, lambda r: _load(r, d), "p99_us")])
    if not labels:
        return []
    v = plots.series_vars(labels)
    return [plots.Figure("latency_load", "latency_load.gp",
                         "Latency against offered load, as a percentage of each model's own "
                         "measured capacity (open loop, %d connections). Solid: p99; thin: p50."
                         % CONNS, data, v)]


def tables(d):
    rows = A.where(d.rows, variant="open", path="*")
    out = []
    h, b = A.pivot(rows, lambda r: _load(r, d), "p99_us", fmt=A.fmt_us, col_fmt=lambda c: "%d%%" % c)
    if b:
        out.append(("p99 latency by offered load (% of capacity)", h, b))
    probes = A.where(d.rows, variant="probe", path="*")
    body = [[s, A.fmt_num(A.median_of([r for r in probes if A.series(r) == s], "rps"))]
            for s in sorted({A.series(r) for r in probes}, key=A.series_key)]
    if body:
        out.append(("Capacity (closed loop, %d connections)" % CONNS, ["series", "req/s"], body))
    return out


def verdicts(d):
    return []


def knee(d, s):
    """The highest load (% of capacity) at which p99 is within KNEE_FACTOR of the
    lightest load's."""
    rows = [r for r in A.where(d.rows, variant="open", path="*") if A.series(r) == s]
    pts = sorted((_load(r, d), num(r, "p99_us")) for r in rows if _load(r, d) is not None
                 and num(r, "p99_us") is not None)
    if len(pts) < 2:
        return None, None
    base = pts[0][1]
    ok = [x for x, p in pts if p <= KNEE_FACTOR.value * base]
    return (max(ok) if ok else None), base


def context(d):
    out = []
    for s in sorted({A.series(r) for r in A.where(d.rows, variant="open")}, key=A.series_key):
        k, base = knee(d, s)
        if k is not None:
            out.append("%s: p99 stays within %gx of its light-load value (%s) up to %d%% of its "
                       "capacity." % (s, KNEE_FACTOR.value, A.fmt_us(base), k))
    return out
