"""hol — head-of-line blocking behind CPU work (C4).

A mix of cheap `GET /` (99%) and `GET /cpu?us=20000` (1%), open loop at about half of
each model's capacity (measured first with a short closed-loop probe of the same mix),
on one server core.  The p99 of the *cheap* requests shows whether they wait behind
the expensive ones: on a plain event loop every cheap request that arrives during a
20 ms computation waits for it; with `--offload 4` the computation runs on worker
threads and the loop keeps answering.
"""
from lib import analysis as A
from lib import plots, verdict
from lib.exp import event_models, with_offload
from lib.plan import Point

NAME = "hol"
TITLE = "Head-of-line blocking: cheap requests behind CPU-heavy ones"
CLAIMS = ["C4"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "epoll", "libev", "libuv", "node"]
OFFLOAD = 4
HEAVY_US = 20000
MIX = "/:99,/cpu?us=%d:1" % HEAVY_US
LOAD = 0.5
PROBE_CONNS, CONNS = 16, 64
QUICK_SKIP = ["libev", "pool"]
ABOUT = __doc__.split("\n", 2)[2].strip()
RATE_RELATIVE = True   # rates follow each run's measured capacity


def series(ctx):
    return with_offload(ctx, MODELS, QUICK_SKIP, OFFLOAD)


def plan(ctx):
    pts = []
    ser = series(ctx)
    for rep in range(1, ctx.reps + 1):
        rot = (rep - 1) % max(1, len(ser))
        order = ser[rot:] + ser[:rot]
        for m, off in order:
            key = "hol:%s:%s:%d" % (m, off, rep)
            pts.append(Point(experiment=NAME, model=m, offload=off, variant="probe",
                             conns=PROBE_CONNS, mix=MIX, work_path="mix", work_us=HEAVY_US,
                             rep=rep, duration=min(ctx.window, 1.5), warmup=ctx.warmup,
                             timeout_ms=max(ctx.timeout_ms, 5000), probe_key=key,
                             server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
        for m, off in order:
            key = "hol:%s:%s:%d" % (m, off, rep)
            pts.append(Point(experiment=NAME, model=m, offload=off, variant="open",
                             conns=CONNS, mix=MIX, work_path="mix", work_us=HEAVY_US,
                             rate_of=(key, LOAD), rep=rep, duration=ctx.window,
                             warmup=ctx.warmup, timeout_ms=max(ctx.timeout_ms, 5000),
                             server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _cheap(d):
    return A.where(d.rows, variant="open", path="/")


def _heavy(d):
    return [r for r in A.where(d.rows, variant="open") if r["path"].startswith("/cpu")]


def figures(d):
    cheap, heavy = _cheap(d), _heavy(d)
    bars = []
    for s in sorted({A.series(r) for r in cheap}, key=A.series_key):
        c = A.agg([A.value(r, "p99_us") for r in cheap if A.series(r) == s])
        h = A.agg([A.value(r, "p99_us") for r in heavy if A.series(r) == s])
        if c:
            bars.append((s, plots.model_color(s), list(c[:3]) + list(h[:3] if h else (None,) * 3)))
    if not bars:
        return []
    return [plots.Figure("hol_p99", "hol_p99.gp",
                         "p99 latency of the cheap GET / requests in a mix with 1%% GET /cpu?us=%d, "
                         "open loop at %d%% of each model's measured capacity, server on one core. "
                         "Hatched: the same model with --offload %d. Grey dots: the heavy "
                         "requests' own p99." % (HEAVY_US, 100 * LOAD, OFFLOAD),
                         plots.bars_data(bars), {"heavy": HEAVY_US})]


def tables(d):
    body = []
    cheap, heavy = _cheap(d), _heavy(d)
    tot = A.where(d.rows, variant="open", path="*")
    for s in sorted({A.series(r) for r in tot}, key=A.series_key):
        mine = lambda rows: [r for r in rows if A.series(r) == s]
        body.append([s, A.fmt_num(A.median_of(mine(tot), "rate")),
                     A.fmt_num(A.median_of(mine(tot), "rps")),
                     A.fmt_us(A.median_of(mine(cheap), "p50_us")),
                     A.fmt_us(A.median_of(mine(cheap), "p99_us")),
                     A.fmt_us(A.median_of(mine(cheap), "p999_us")),
                     A.fmt_us(A.median_of(mine(heavy), "p99_us")),
                     A.fmt_num(A.median_of(mine(tot), A.starved))])
    if not body:
        return []
    return [("Cheap requests behind heavy ones (open loop, %d%% of capacity)" % (100 * LOAD),
             ["series", "offered req/s", "achieved req/s", "cheap p50", "cheap p99", "cheap p99.9",
              "heavy p99", "unanswered"], body)]


def verdicts(d):
    cheap = _cheap(d)
    p99 = lambda s: A.median_of([r for r in cheap if A.series(r) == s], "p99_us")
    checks = []
    ms = sorted({r["model"] for r in cheap}, key=A.series_key)
    for m in event_models(ms):
        plain, off = p99(m), p99("%s+off%d" % (m, OFFLOAD))
        ref = off if off is not None else p99("threads")
        if plain is None or ref is None:
            continue
        checks.append(("%s: cheap p99 on the plain loop is at least 4x that with the work moved "
                       "off it (%s vs %s)" % (m, A.fmt_us(plain), A.fmt_us(ref)),
                       plain >= 4 * ref))
    if not checks:
        return [verdict.Verdict("C4", verdict.UNTESTABLE, "no event model measured with and "
                                "without --offload", NAME)]
    return [verdict.from_checks("C4", checks, NAME)]


def context(d):
    cheap = _cheap(d)
    t = A.median_of([r for r in cheap if A.series(r) == "threads"], "p99_us")
    if t is None:
        return []
    return ["threads (the kernel preempts the 20 ms computation to run a cheap request): cheap p99 %s."
            % A.fmt_us(t)]
