"""scale — more loops (C6).

Each event model with `--reactors 1` and `--reactors 2` (two loops, each with its own
SO_REUSEPORT listener; node uses `cluster`), closed loop at saturation (100
connections) and open loop at a fixed rate (CPU per request).  Horizontal scaling
needs a core per loop *plus* cores for the load generator.  On a machine with 4 or
more cores the server gets cores 0-1 and the generator 2-3; on this project's 2-core
reference machine the server gets both cores and shares one with the generator, so
the second loop competes with the load it serves: the numbers are shown, and the
verdict is `not testable here`.  With the load generators on hosts of their own
(`--client-hosts`, docs/hosts.md) the server's host needs only the two cores.
prefork is left out: its processes are `--procs`, a worker per connection, not loops
that each serve many.
"""
import os

from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.plan import Point
from lib.verdict import Threshold

NAME = "scale"
TITLE = "Horizontal scaling: one loop against two"
CLAIMS = ["C6"]
# The CPU sets are chosen for the machine that plans the run and recorded in its
# meta.json; the verdict reads the cores from there, never from the machine that
# renders the report.
CORES = os.cpu_count() or 1
SERVER_CPUS, GEN_CPUS = ("0,1", "2,3") if CORES >= 4 else ("0,1", "1")
MODELS = ["epoll", "libev", "libuv", "uring", "node"]
QUICK_MODELS = ["epoll", "node"]
QUICK_BUDGET_S = 27
CONNS = 100
RATE = 5000
MIN_CORES = 4              # on one machine: two loops, and two cores for the generator
MIN_CORES_APART = 2        # the generators on other machines: a core per loop
ABOUT = __doc__.split("\n", 2)[2].strip()

SCALE_GAIN = Threshold(
    "SCALE_GAIN", 1.5, "x (saturation req/s, two loops / one)", "physical",
    "Two loops on two cores can at most double one loop's throughput; 'scales by adding "
    "loops' means the second loop adds at least half of what the first does.  Below 1.5x "
    "the second core goes mostly to contention (the shared accept queue, cache lines, the "
    "generator) rather than to serving.")
THRESHOLDS = [SCALE_GAIN]


def plan(ctx):
    ms = ctx.models(MODELS, QUICK_MODELS)
    ser = [(m, r) for m in ms for r in (1, 2)]
    pts = []
    # Quick mode measures saturation only (the claim's figure); full mode adds the
    # fixed-rate points for CPU per request.
    kinds = ["closed", "open"] if ctx.mode == "full" else ["closed"]
    for rep, kind, (m, r) in ctx.interleave(kinds, ser):
        pts.append(Point(experiment=NAME, model=m, reactors=r, variant=kind, conns=CONNS,
                         rate=RATE if kind == "open" else None, rep=rep, duration=ctx.window,
                         warmup=ctx.warmup, timeout_ms=ctx.timeout_ms,
                         server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _by(d, variant):
    return A.where(d.rows, variant=variant, path="*")


def figures(d):
    bars = []
    for s in sorted({A.series(r) for r in _by(d, "closed")}, key=A.series_key):
        a = A.agg([num(r, "rps") for r in _by(d, "closed") if A.series(r) == s])
        c = A.agg([num(r, "cpu_us_per_req") for r in (_by(d, "open") or _by(d, "closed"))
                   if A.series(r) == s])
        if a:
            bars.append((s, plots.model_color(s), list(a[:3]) + list(c[:3] if c else (None,) * 3)))
    if not bars:
        return []
    return [plots.Figure("scale_reactors", "scale_reactors.gp",
                         "One loop against two (+r2): saturation throughput (closed loop, %d "
                         "connections) and server CPU per request (at %d req/s in full mode; at "
                         "saturation in quick mode). Server on cores %s, generator on %s."
                         % (CONNS, RATE, SERVER_CPUS, GEN_CPUS),
                         plots.bars_data(bars), {"w": 1100, "h": 500, "rate": RATE})]


def tables(d):
    body = []
    for s in sorted({A.series(r) for r in d.rows}, key=A.series_key):
        cl = [r for r in _by(d, "closed") if A.series(r) == s]
        op = [r for r in _by(d, "open") if A.series(r) == s]
        body.append([s, A.fmt_num(A.median_of(cl, "rps")), A.fmt_us(A.median_of(cl, "p99_us")),
                     A.fmt_num(A.median_of(op, "cpu_us_per_req")), A.fmt_us(A.median_of(op, "p99_us")),
                     A.fmt_num(A.median_of(cl, "gen_cpu_us_per_req")),
                     "yes" if any(r["gen_bound"] == "true" for r in cl) else "no"])
    return [("Reactors", ["series", "saturation req/s", "saturation p99", "CPU µs/req at %d/s" % RATE,
                          "p99 at %d/s" % RATE, "generator CPU µs/req", "generator-bound"], body)] if body else []


def verdicts(d):
    cl = _by(d, "closed")
    cores = d.cores()
    apart = d.fact("generators_apart", False)
    need = MIN_CORES_APART if apart else MIN_CORES
    e = d.meta.get("experiments", {}).get(NAME, {})
    checks = []
    for m in sorted({r["model"] for r in cl}, key=A.series_key):
        one = [r for r in cl if A.series(r) == m]
        two = [r for r in cl if A.series(r) == m + "+r2"]
        if not one or not two:
            continue
        a, b = A.median_of(one, "rps"), A.median_of(two, "rps")
        text = ("%s: two loops give >= %gx one loop's saturation throughput (%s -> %s req/s, x%s)"
                % (m, SCALE_GAIN.value, A.fmt_num(a), A.fmt_num(b),
                   "%.2f" % (b / a) if a and b else "—"))
        if cores is None or cores < need:
            if apart:
                why = ("the server's host has %s cores (meta.json): two loops need two"
                       % cores)
            else:
                why = ("the run's machine has %s cores (meta.json): two loops and a load "
                       "generator need at least 3, %d to keep the generator off the server's "
                       "cores (here server %s, generator %s), or the generators on hosts of "
                       "their own (--client-hosts)" % (cores, MIN_CORES,
                                                       e.get("server_cpus", SERVER_CPUS),
                                                       e.get("gen_cpus", GEN_CPUS)))
            checks.append(verdict.untestable(text, why))
        else:
            checks.append(verdict.check(text, [one, two], lambda x, y: None
                                        if not num(x, "rps") or num(y, "rps") is None
                                        else num(y, "rps") >= SCALE_GAIN.value * num(x, "rps")))
    if not checks:
        return [verdict.Verdict("C6", verdict.NOT_DECIDED, "no model measured with 1 and 2 loops",
                                NAME)]
    return [verdict.from_checks("C6", checks, NAME)]


def context(d):
    return []
