"""Cheap requests behind a few long ones: what `hol` (long = CPU work) and `blocking`
(long = a blocking sleep) share.

Both run one open-loop mix at one fixed rate on every model -- 99 % cheap `GET /`,
1 % a long request of L µs -- on one server core, each event model with the long
request on its loop and again with `--offload`.  The cheap requests' p99 is the
observation: on a loop that runs the long request itself, a cheap request that
arrives meanwhile waits for the rest of it.  With the loop busy on long requests a
share f = rate x 1 % x L of the time (0.2 here), a cheap request waits with
probability f, for a uniform part of L, so the cheap p99 is L x (1 - 0.01 / f) =
0.95 L.  A loop that hands the long request to a worker keeps answering: its cheap
p99 is loopback latency plus at most a scheduler slice.  Half of L separates the two
with a wide margin either way (the experiments' STALL thresholds).
"""
from . import analysis as A
from . import plots, verdict
from .csvio import num
from .exp import event_models, with_offload
from .plan import Point

RATE, CONNS, SHARE_PCT = 1000, 64, 1


def mix(long_path):
    return "/:%d,%s:%d" % (100 - SHARE_PCT, long_path, SHARE_PCT)


def plan(ctx, mod, long_path, work_path, long_us, offload):
    ms = ctx.models(mod.MODELS, mod.QUICK_MODELS)
    pts = []
    for rep, _, (m, off) in ctx.interleave([RATE], with_offload(ms, offload)):
        pts.append(Point(experiment=mod.NAME, model=m, offload=off, variant="open",
                         conns=CONNS, mix=mix(long_path), work_path=work_path, work_us=long_us,
                         rate=RATE, rep=rep, duration=ctx.window, warmup=ctx.warmup,
                         timeout_ms=max(ctx.timeout_ms, 5000),
                         server_cpus=mod.SERVER_CPUS, gen_cpus=mod.GEN_CPUS))
    return pts


def cheap(d):
    return A.where(d.rows, variant="open", path="/")


def long_rows(d):
    return [r for r in A.where(d.rows, variant="open") if r["path"] not in ("*", "/")]


def totals(d):
    return A.where(d.rows, variant="open", path="*")


def _of(rows, s):
    return [r for r in rows if A.series(r) == s]


def figure(d, name, title, longname, long_us):
    c_rows, l_rows = cheap(d), long_rows(d)
    bars = []
    for s in sorted({A.series(r) for r in c_rows}, key=A.series_key):
        c = A.agg_rows(_of(c_rows, s), "p99_us")
        h = A.agg_rows(_of(l_rows, s), "p99_us")
        if c:
            bars.append((s, plots.model_color(s), list(c[:3]) + list(h[:3] if h else (None,) * 3)))
    if not bars:
        return []
    return [plots.Figure(name, "mix_p99.gp",
                         "p99 latency of the cheap GET / requests in a mix with %d%% %s, open loop "
                         "at %d requests/s on %d connections, every server on one core. Hatched: "
                         "the same model with the long requests handed to --offload workers. Grey "
                         "dots: the long requests' own p99; dashed: half the long request, the "
                         "rule's threshold." % (SHARE_PCT, longname, RATE, CONNS),
                         plots.bars_data(bars),
                         {"title": title, "longname": longname, "long": long_us,
                          "half": long_us / 2.0})]


def table(d, longname):
    body = []
    c_rows, l_rows, tot = cheap(d), long_rows(d), totals(d)
    for s in sorted({A.series(r) for r in tot}, key=A.series_key):
        body.append([s, A.fmt_num(A.median_of(_of(tot, s), "rps")),
                     A.fmt_us(A.median_of(_of(c_rows, s), "p50_us")),
                     A.fmt_us(A.median_of(_of(c_rows, s), "p99_us")),
                     A.fmt_us(A.median_of(_of(c_rows, s), "p999_us")),
                     A.fmt_us(A.median_of(_of(l_rows, s), "p99_us")),
                     A.fmt_num(A.median_of(_of(tot, s), A.unanswered))])
    if not body:
        return []
    return [("Cheap requests beside %d%% %s (open loop, %d req/s)" % (SHARE_PCT, longname, RATE),
             ["series", "achieved req/s", "cheap p50", "cheap p99", "cheap p99.9",
              "long p99", "unanswered"], body)]


def checks(d, offload, stall, what, fix_what):
    """Per event model: (a) on the plain loop the cheap p99 reaches stall.value of the
    long request's time (stall observed); (b) with --offload it stays under it and
    nothing goes unanswered (the stall is the loop's, and a worker pool removes it)."""
    c_rows, tot = cheap(d), totals(d)
    out = []
    long_us = next((num(r, "work_us") for r in tot if num(r, "work_us")), None)
    if not long_us:
        return out
    limit = stall.value * long_us
    for m in event_models(sorted({r["model"] for r in c_rows}, key=A.series_key)):
        plain = _of(c_rows, m)
        if plain:
            out.append(verdict.check(
                "%s: cheap requests wait behind %s on the loop: their p99 reaches half the "
                "long request's %s (%s)" % (m, what, A.fmt_us(long_us),
                                            A.fmt_us(A.median_of(plain, "p99_us"))),
                [plain], lambda r: None if num(r, "p99_us") is None else num(r, "p99_us") >= limit))
        s = "%s+off%d" % (m, offload)
        off, off_tot = _of(c_rows, s), _of(tot, s)
        if off:
            out.append(verdict.check(
                "%s with --offload %d: %s: the cheap p99 stays under half the long request "
                "and nothing goes unanswered (%s, %s unanswered)"
                % (m, offload, fix_what, A.fmt_us(A.median_of(off, "p99_us")),
                   A.fmt_num(A.median_of(off_tot, A.unanswered))),
                [off, off_tot],
                lambda r, t: None if num(r, "p99_us") is None or A.unanswered(t) is None
                else num(r, "p99_us") < limit and A.unanswered(t) <= verdict.UNANSWERED_MAX.value))
    return out


def threads_context(d, what):
    t = A.median_of(_of(cheap(d), "threads"), "p99_us")
    if t is None:
        return []
    return ["threads (the kernel runs another connection's thread while one is %s): cheap "
            "p99 %s." % (what, A.fmt_us(t))]
