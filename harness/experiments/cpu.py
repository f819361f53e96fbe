"""cpu — CPU-bound requests (C4).

Closed loop `GET /cpu?us=W` on 16 connections for W = 0 … 5000 µs of work (the same
number of work units in every model: the harness passes one calibrated K).  Here the
server may use both cores (taskset -c 0,1) while the generator shares core 1: at
these rates its share is small (its CPU per request is in the table), except at
W = 0 where it competes with the server.  A single event loop can use one core; the
threads and pool models, and the event models with `--offload 4`, can use both.
Node runs the same loop in JavaScript, so its work units take longer.
"""
from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.exp import event_models
from lib.plan import Point, interleave

NAME = "cpu"
TITLE = "CPU-bound requests: one loop's core against threads and a worker pool"
CLAIMS = ["C4"]
SERVER_CPUS, GEN_CPUS = "0,1", "1"
MODELS = ["threads", "pool", "epoll", "libev", "libuv", "node"]
OFFLOAD = 4
WORK = {"smoke": [0, 1000], "quick": [0, 1000, 5000], "full": [0, 50, 200, 1000, 5000]}
QUICK_OFFLOAD = ["epoll", "libuv", "node"]     # quick mode offloads a subset
CONNS = 16
ABOUT = __doc__.split("\n", 2)[2].strip()


def series(ctx):
    out = []
    ms = ctx.pick(MODELS)
    if ctx.mode == "quick":
        ms = [m for m in ms if m != "libev"]
    for m in ms:
        out.append((m, None))
        if m in event_models([m]) and (ctx.mode == "full" or m in QUICK_OFFLOAD):
            out.append((m, OFFLOAD))
    return out


def plan(ctx):
    pts = []
    for rep, w, (m, off) in interleave(ctx.reps, WORK[ctx.mode], series(ctx)):
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
                         "server on both cores). Dashed: the same model with --offload %d. The "
                         "thin lines are one and two cores' worth of work (1e6/W and 2e6/W)."
                         % (CONNS, OFFLOAD), plots.lines_data(per), v)]


def tables(d):
    out = []
    h, b = A.pivot(_rows(d), "work_us", "rps", col_fmt=lambda c: "W=%d µs" % c)
    if b:
        out.append(("Requests/s by CPU work per request", h, b))
    h, b = A.pivot(_rows(d), "work_us", "cpu_us_per_req", col_fmt=lambda c: "W=%d µs" % c)
    if b:
        out.append(("Server CPU µs per request (both cores)", h, b))
    h, b = A.pivot(_rows(d), "work_us", "gen_cpu_us_per_req", col_fmt=lambda c: "W=%d µs" % c)
    if b:
        out.append(("Load generator CPU µs per request (it shares core 1)", h, b))
    return out


def _cores(rows, s, w):
    """Cores the server kept busy: its CPU time over the window's length."""
    return A.median_of([r for r in rows if A.series(r) == s and num(r, "work_us") == w],
                       lambda r: (num(r, "cpu_user_s") + num(r, "cpu_sys_s")) / num(r, "duration_s"))


def _c(x):
    return "—" if x is None else "%.2f" % x


def _at(rows, s, w):
    return A.median_of([r for r in rows if A.series(r) == s and num(r, "work_us") == w], "rps")


def verdicts(d):
    rows = _rows(d)
    ws = sorted({num(r, "work_us") for r in rows if num(r, "work_us") is not None})
    if not ws or ws[-1] < 1000:
        return [verdict.Verdict("C4", verdict.UNTESTABLE, "no point with W >= 1000 µs", NAME)]
    w = ws[-1]
    ref = _at(rows, "threads", w) or _at(rows, "pool", w)
    if ref is None:
        return [verdict.Verdict("C4", verdict.UNTESTABLE, "the threads model was not measured", NAME)]
    ref_cores = _cores(rows, "threads", w) or _cores(rows, "pool", w)
    checks = []
    for m in event_models(sorted({r["model"] for r in rows}, key=A.series_key)):
        plain = _at(rows, m, w)
        if plain is None:
            continue
        cores = _cores(rows, m, w)
        ok = None if ref_cores is None or ref_cores < 1.3 else plain <= 0.8 * ref
        checks.append(("%s (one loop) uses one core and gets at most 80%% of the throughput of the "
                       "threads model, which uses more (W=%d µs: %s vs %s req/s, %.0f%%; %s vs %s "
                       "cores)%s" % (m, w, A.fmt_num(plain), A.fmt_num(ref), 100 * plain / ref,
                                     _c(cores), _c(ref_cores),
                                     "" if ok is not None else
                                     ": not decided, the threads model could not use a second core "
                                     "(the generator or other work took it)"), ok))
    v = verdict.from_checks("C4", checks, NAME)
    fixes = []
    for m in event_models(sorted({r["model"] for r in rows}, key=A.series_key)):
        off = _at(rows, "%s+off%d" % (m, OFFLOAD), w)
        if off is not None:
            fixes.append("%s+off%d %.0f%%" % (m, OFFLOAD, 100 * off / ref))
    if fixes:
        v.note = ("With a worker pool (--offload %d) they reach %s of the threads model's throughput."
                  % (OFFLOAD, ", ".join(fixes)))
    return [v]


def context(d):
    rows = _rows(d)
    g = A.median_of([r for r in rows if num(r, "work_us") == 0], "gen_cpu_us_per_req")
    out = []
    if g is not None:
        out.append("At W=0 the generator spends %s CPU µs per request on core 1, which the server "
                   "shares: the W=0 column is not a fair measure of the server alone." % A.fmt_num(g))
    return out
