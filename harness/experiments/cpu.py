"""cpu — CPU-bound requests on equal cores (C4).

Closed loop `GET /cpu?us=W` on 16 connections for W up to 5000 µs of work (the same
number of work units in every model: the harness measures K right before this
experiment and passes it to every model).  Every model gets the same single core
(taskset -c 0) and the generator the other, so the question is the claim's: given
the same CPU, does an event loop get less CPU-bound work done than threads?  (Given
two cores a single loop uses one and threads both: a ratio of about one half that
says nothing about the loop, only about the cores; that is C6's question, `scale`.)
Node runs the same loop in JavaScript, so its work units take longer.
"""
from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.exp import event_models, with_offload
from lib.plan import Point
from lib.verdict import Threshold

NAME = "cpu"
TITLE = "CPU-bound requests on one core: an event loop against threads"
CLAIMS = ["C4"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "prefork", "epoll", "libev", "libuv", "uring", "node"]
QUICK_MODELS = ["threads", "epoll", "libuv", "node"]
QUICK_BUDGET_S = 50
CPU_WORK = True             # its requests run /cpu: K is measured again before it
OFFLOAD = 4
WORK = {"smoke": [0, 1000], "quick": [1000, 5000], "full": [0, 50, 200, 1000, 5000]}
CONNS = 16
ABOUT = __doc__.split("\n", 2)[2].strip()

LOOP_SHARE = Threshold(
    "LOOP_SHARE", 0.9, "of the threads model's throughput, same core, largest W", "noise",
    "The claim holds on one core only if a loop gets measurably less CPU-bound work done "
    "than threads there.  10 % is the tolerance within which two runs' requests/s are "
    "taken to agree (harness/compare); CPU-bound throughput on a dedicated core moves by "
    "far less between repetitions, so a loop within 10 % of threads is not measurably "
    "worse.")
THRESHOLDS = [LOOP_SHARE]


def series(ctx):
    ms = ctx.models(MODELS, QUICK_MODELS)
    if ctx.mode == "full":
        return with_offload(ms, OFFLOAD)
    return [(m, None) for m in ms]


def plan(ctx):
    pts = []
    for rep, w, (m, off) in ctx.interleave(WORK[ctx.mode], series(ctx)):
        pts.append(Point(experiment=NAME, model=m, offload=off, conns=CONNS,
                         path="/cpu?us=%d" % w, work_path="/cpu", work_us=w, rep=rep,
                         duration=ctx.window, warmup=ctx.warmup, timeout_ms=max(ctx.timeout_ms, 5000),
                         server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _rows(d):
    return A.where(d.rows, path="*", variant="closed")


def figures(d):
    per = A.by_series(_rows(d), "work_us", "rps")
    if not per:
        return []
    v = plots.series_vars(list(per))
    return [plots.Figure("cpu_work", "cpu_work.gp",
                         "Throughput against CPU work per request (closed loop, %d connections, "
                         "every server on the same one core). Dashed: the same model with "
                         "--offload %d (full mode). The thin lines are one and two cores' worth "
                         "of work (1e6/W and 2e6/W)." % (CONNS, OFFLOAD), plots.lines_data(per), v)]


def tables(d):
    out = []
    h, b = A.pivot(_rows(d), "work_us", "rps", col_fmt=lambda c: "W=%d µs" % c)
    if b:
        out.append(("Requests/s by CPU work per request (one server core)", h, b))
    h, b = A.pivot(_rows(d), "work_us", "cpu_us_per_req", col_fmt=lambda c: "W=%d µs" % c)
    if b:
        out.append(("Server CPU µs per request", h, b))
    h, b = A.pivot(_rows(d), "work_us", "p99_us", fmt=A.fmt_us, col_fmt=lambda c: "W=%d µs" % c)
    if b:
        out.append(("p99 latency (16 requests share one core)", h, b))
    return out


def _at(rows, s, w):
    return [r for r in rows if A.series(r) == s and num(r, "work_us") == w]


def verdicts(d):
    rows = _rows(d)
    ws = sorted({num(r, "work_us") for r in rows if num(r, "work_us") is not None})
    if not ws:
        return [verdict.Verdict("C4", verdict.NOT_DECIDED, "nothing was measured", NAME)]
    w = ws[-1]
    ref = "threads" if _at(rows, "threads", w) else ("pool" if _at(rows, "pool", w) else None)
    if ref is None:
        return [verdict.Verdict("C4", verdict.NOT_DECIDED,
                                "the threads model was not measured", NAME)]
    rref = _at(rows, ref, w)
    checks = []
    for m in event_models(sorted({r["model"] for r in rows}, key=A.series_key)):
        rm = _at(rows, m, w)
        if not rm:
            continue
        a, b = A.median_of(rm, "rps"), A.median_of(rref, "rps")
        checks.append(verdict.check(
            "%s (one loop) gets less CPU-bound work done than %s on the same core: at most "
            "%d%% of its throughput at W=%d µs (%s vs %s req/s, %s)"
            % (m, ref, round(100 * LOOP_SHARE.value), w, A.fmt_num(a), A.fmt_num(b),
               "%.0f%%" % (100 * a / b) if a and b else "—"),
            [rm, rref], lambda x, y: None if num(x, "rps") is None or not num(y, "rps")
            else num(x, "rps") <= LOOP_SHARE.value * num(y, "rps")))
    return [verdict.from_checks("C4", checks, NAME)]


def context(d):
    rows = _rows(d)
    out = []
    ws = sorted({num(r, "work_us") for r in rows if num(r, "work_us")})
    if ws:
        w = ws[-1]
        lat = ", ".join("%s %s" % (s, A.fmt_us(A.median_of(_at(rows, s, w), "p99_us")))
                        for s in sorted({A.series(r) for r in rows}, key=A.series_key))
        out.append("At W=%d µs, 16 requests share one core whatever the model: p99 %s. The loop "
                   "serves them in turn, threads by time slices; the cost of a CPU-heavy request "
                   "to the *other* requests is `hol`'s question." % (w, lat))
    return out
