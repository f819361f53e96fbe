"""scale — more loops (C6).

Each event model with `--reactors 1` and `--reactors 2` (two loops, each with its own
SO_REUSEPORT listener; node uses `cluster`), closed loop at saturation (100
connections) and open loop at a fixed rate (CPU per request).  Horizontal scaling
needs a core per loop *plus* cores for the load generator.  On a machine with 4 or
more cores the server gets cores 0-1 and the generator 2-3; on this project's 2-core
reference machine the server gets both cores and shares one with the generator, so
the second loop competes with the load it serves: the numbers are shown, and the
verdict is `not testable here`.
"""
import os

from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.plan import Point, interleave

NAME = "scale"
TITLE = "Horizontal scaling: one loop against two"
CLAIMS = ["C6"]
CORES = os.cpu_count() or 1
SERVER_CPUS, GEN_CPUS = ("0,1", "2,3") if CORES >= 4 else ("0,1", "1")
MODELS = ["epoll", "libev", "libuv", "node"]
QUICK_SKIP = ["libev"]
CONNS = 100
RATE = 5000
ABOUT = __doc__.split("\n", 2)[2].strip()


def plan(ctx):
    ms = [m for m in ctx.pick(MODELS) if ctx.mode == "full" or m not in QUICK_SKIP]
    ser = [(m, r) for m in ms for r in (1, 2)]
    pts = []
    for rep, kind, (m, r) in interleave(ctx.reps, ["closed", "open"], ser):
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
        c = A.agg([num(r, "cpu_us_per_req") for r in _by(d, "open") if A.series(r) == s])
        if a:
            bars.append((s, plots.model_color(s), list(a[:3]) + list(c[:3] if c else (None,) * 3)))
    if not bars:
        return []
    return [plots.Figure("scale_reactors", "scale_reactors.gp",
                         "One loop against two (+r2): saturation throughput (closed loop, %d "
                         "connections) and server CPU per request at %d req/s. Server on cores %s, "
                         "generator on %s." % (CONNS, RATE, SERVER_CPUS, GEN_CPUS),
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


def _gain(d):
    out = {}
    cl = _by(d, "closed")
    for m in sorted({r["model"] for r in cl}, key=A.series_key):
        one = A.median_of([r for r in cl if A.series(r) == m], "rps")
        two = A.median_of([r for r in cl if A.series(r) == m + "+r2"], "rps")
        if one and two:
            out[m] = (one, two, two / one)
    return out


def verdicts(d):
    g = _gain(d)
    nums = ", ".join("%s %s -> %s req/s (x%.2f)" % (m, A.fmt_num(a), A.fmt_num(b), x)
                     for m, (a, b, x) in g.items())
    if CORES < 4:
        return [verdict.Verdict(
            "C6", verdict.UNTESTABLE,
            "this machine has %d cores: two loops and a load generator need at least 3 (4 to keep "
            "the generator off the server's cores), so the second loop competes with the generator "
            "for core 1. Measured anyway: %s." % (CORES, nums or "no pair measured"), NAME)]
    if not g:
        return [verdict.Verdict("C6", verdict.UNTESTABLE, "no model measured with 1 and 2 reactors", NAME)]
    checks = [("%s: two loops give >= 1.6x one loop's saturation throughput (x%.2f)" % (m, x), x >= 1.6)
              for m, (_, _, x) in g.items()]
    return [verdict.from_checks("C6", checks, NAME)]


def context(d):
    return []
