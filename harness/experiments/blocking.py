"""blocking — a blocking call inside the loop (C5).

Open loop `GET /block?us=1000` (a 1 ms blocking sleep, a stand-in for a blocking disk
or database call) on 64 connections, at rates below and above 1,000 requests/s, the
most a loop that sleeps 1 ms per request can answer.  Event models run with the call
on the loop and with `--offload 4` (a pool of 4 worker threads: capacity 4,000/s);
threads and pool block only the connection's own thread.
"""
from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.exp import event_models, with_offload
from lib.plan import Point, interleave

NAME = "blocking"
TITLE = "A blocking call inside the loop, with and without a worker pool"
CLAIMS = ["C5"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "epoll", "libev", "libuv", "node"]
BLOCK_US = 1000
OFFLOAD = 4
RATES = {"smoke": [500], "quick": [500, 2000], "full": [250, 500, 1000, 2000, 3000]}
CONNS = 64
QUICK_SKIP = ["libev", "pool"]
ABOUT = __doc__.split("\n", 2)[2].strip()


def series(ctx):
    return with_offload(ctx, MODELS, QUICK_SKIP, OFFLOAD)


def plan(ctx):
    pts = []
    for rep, rate, (m, off) in interleave(ctx.reps, RATES[ctx.mode], series(ctx)):
        pts.append(Point(experiment=NAME, model=m, offload=off, variant="open", conns=CONNS,
                         rate=rate, path="/block?us=%d" % BLOCK_US, work_path="/block",
                         work_us=BLOCK_US, rep=rep, duration=ctx.window, warmup=ctx.warmup,
                         timeout_ms=ctx.timeout_ms, server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _rows(d):
    return A.where(d.rows, variant="open", path="*")


def figures(d):
    rows = _rows(d)
    labels, data = plots.multi_lines_data([A.by_series(rows, "rate", "p99_us"),
                                           A.by_series(rows, "rate", "rps")])
    if not labels:
        return []
    v = plots.series_vars(labels)
    v.update({"w": 1150, "h": 520, "block": BLOCK_US, "cap": 1e6 / BLOCK_US})
    return [plots.Figure("blocking_p99", "blocking_p99.gp",
                         "A 1 ms blocking call per request, open loop on %d connections: p99 "
                         "latency (measured from when each request was due) and throughput "
                         "against the offered rate. Dashed: --offload %d." % (CONNS, OFFLOAD),
                         data, v)]


def tables(d):
    out = []
    h, b = A.pivot(_rows(d), "rate", "p99_us", fmt=A.fmt_us, col_fmt=lambda c: "%d/s" % c)
    if b:
        out.append(("p99 latency by offered rate", h, b))
    h, b = A.pivot(_rows(d), "rate", "rps", col_fmt=lambda c: "%d/s" % c)
    if b:
        out.append(("Achieved requests/s by offered rate", h, b))
    h, b = A.pivot(_rows(d), "rate", A.starved, fmt=lambda v: "%d" % v, col_fmt=lambda c: "%d/s" % c)
    if b:
        out.append(("Requests never answered (timeouts + abandoned + errors)", h, b))
    return out


def verdicts(d):
    rows = _rows(d)
    rates = sorted({num(r, "rate") for r in rows if num(r, "rate")})
    over = [r for r in rates if r >= 1.5 * 1e6 / BLOCK_US]
    if not over:
        return [verdict.Verdict("C5", verdict.UNTESTABLE, "no point offered more than the "
                                "loop's 1/(block time)", NAME)]
    rate = over[-1]
    at = lambda s, col: A.median_of([r for r in rows if A.series(r) == s and num(r, "rate") == rate], col)
    checks = []
    for m in event_models(sorted({r["model"] for r in rows}, key=A.series_key)):
        plain_p99, plain_rps = at(m, "p99_us"), at(m, "rps")
        off = "%s+off%d" % (m, OFFLOAD)
        off_p99, off_rps = at(off, "p99_us"), at(off, "rps")
        if plain_p99 is not None:
            checks.append(("%s with the call on the loop stalls at %d req/s offered: throughput "
                           "<= 1.1x its 1/(block time) or p99 >= 100 ms (%s req/s, p99 %s)"
                           % (m, rate, A.fmt_num(plain_rps), A.fmt_us(plain_p99)),
                           (plain_rps or 0) <= 1.1 * 1e6 / BLOCK_US or plain_p99 >= 100000))
        if off_p99 is not None:
            checks.append(("%s with --offload %d keeps up: >= 90%% of the offered rate and p99 "
                           "< 20 ms (%s req/s, p99 %s)" % (m, OFFLOAD, A.fmt_num(off_rps),
                                                          A.fmt_us(off_p99)),
                           (off_rps or 0) >= 0.9 * rate and off_p99 < 20000))
    if not checks:
        return [verdict.Verdict("C5", verdict.UNTESTABLE, "no event model was measured", NAME)]
    return [verdict.from_checks("C5", checks, NAME)]


def context(d):
    rows = _rows(d)
    rates = sorted({num(r, "rate") for r in rows if num(r, "rate")})
    if not rates:
        return []
    t = A.median_of([r for r in rows if r["model"] == "threads" and num(r, "rate") == rates[-1]], "p99_us")
    return ["threads (every connection has its own thread to block) at %d req/s: p99 %s."
            % (rates[-1], A.fmt_us(t))] if t is not None else []
