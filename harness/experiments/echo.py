"""echo — the echo protocol (context).

Closed loop over the echo protocol: each connection sends a message of `size` bytes
and waits for all of it to come back before sending the next.  Message sizes from
64 B to 64 KiB on 10 connections, and 10 to 1,000 connections with 64 B messages.
Small messages measure the per-message cost (a wake-up, a read and a write); large
ones the cost of copying bytes through loopback TCP.
"""
from lib import analysis as A
from lib import plots
from lib.csvio import num
from lib.plan import Point

NAME = "echo"
TITLE = "Echo: messages/s and MB/s against message size and connections"
CLAIMS = []
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "prefork", "epoll", "libev", "libuv", "uring", "node"]
QUICK_MODELS = ["threads", "epoll", "node"]
QUICK_BUDGET_S = 57
THRESHOLDS = []
SIZES = {"smoke": [64], "quick": [64, 65536], "full": [64, 512, 4096, 16384, 65536]}
SIZE_CONNS = 10
CONNS = {"smoke": [], "quick": [1000], "full": [100, 1000]}
SMALL = 64
ABOUT = __doc__.split("\n", 2)[2].strip()


def plan(ctx):
    ms = ctx.models(MODELS, QUICK_MODELS)
    sweep = [(s, SIZE_CONNS) for s in SIZES[ctx.mode]] + [(SMALL, c) for c in CONNS[ctx.mode]]
    pts = []
    for rep, (size, c), m in ctx.interleave(sweep, ms):
        pts.append(Point(experiment=NAME, model=m, proto="echo", size=size, conns=c,
                         work_path="echo", rep=rep, duration=ctx.window, warmup=ctx.warmup,
                         timeout_ms=ctx.timeout_ms, server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _rows(d):
    return A.where(d.rows, variant="closed", path="*", proto="echo")


def figures(d):
    rows = _rows(d)
    by_size = [r for r in rows if num(r, "conns") == SIZE_CONNS]
    by_conn = [r for r in rows if num(r, "size") == SMALL]
    labels, data = plots.multi_lines_data([A.by_series(by_size, "size", "mbps"),
                                           A.by_series(by_size, "size", "rps")])
    figs = []
    if labels:
        v = plots.series_vars(labels)
        v.update({"w": 1150, "h": 500, "conns": SIZE_CONNS})
        figs.append(plots.Figure("echo_size", "echo_size.gp",
                                 "Echo throughput against message size on %d connections: "
                                 "MB/s (10^6 bytes/s returned to the client) and messages/s."
                                 % SIZE_CONNS, data, v))
    per = A.by_series(by_conn, "conns", "rps")
    if per and any(len(p) > 1 for p in per.values()):
        v = plots.series_vars(list(per))
        v["size"] = SMALL
        figs.append(plots.Figure("echo_conns", "echo_conns.gp",
                                 "Echo messages/s (%d B) against connections." % SMALL,
                                 plots.lines_data(per), v))
    return figs


def tables(d):
    rows = _rows(d)
    out = []
    h, b = A.pivot([r for r in rows if num(r, "conns") == SIZE_CONNS], "size", "mbps",
                   col_fmt=lambda c: "%d B" % c)
    if b:
        out.append(("MB/s by message size (%d connections)" % SIZE_CONNS, h, b))
    h, b = A.pivot([r for r in rows if num(r, "size") == SMALL], "conns", "rps",
                   col_fmt=lambda c: "c=%d" % c)
    if b:
        out.append(("Messages/s by connections (%d B)" % SMALL, h, b))
    return out


def verdicts(d):
    return []


def context(d):
    rows = [r for r in _rows(d) if num(r, "conns") == SIZE_CONNS]
    sizes = sorted({num(r, "size") for r in rows})
    if len(sizes) < 2:
        return []
    lo, hi = sizes[0], sizes[-1]
    out = []
    for s in sorted({A.series(r) for r in rows}, key=A.series_key):
        a = A.median_of([r for r in rows if A.series(r) == s and num(r, "size") == lo], "rps")
        b = A.median_of([r for r in rows if A.series(r) == s and num(r, "size") == hi], "mbps")
        if a is not None and b is not None:
            out.append("%s: %s messages/s at %d B, %s MB/s at %d B." % (s, A.fmt_num(a), lo,
                                                                      A.fmt_num(b), hi))
    return out
