"""instr — user-space instructions per request (context).

Each C model runs under `valgrind --tool=callgrind` and answers a fixed number of
`GET /` on one keep-alive connection; a second run answers none (start-up and
shutdown only).  Instructions per request = (Ir with requests − Ir without) / requests
the server counted.  Callgrind counts every user-space instruction the process runs
(the model, servers/common, libc, libev/libuv) and none in the kernel: deterministic,
immune to this machine's noise, and a measure of code, not of speed (syscalls and
context switches are in `concurrency`).  Node is left out: a JIT under valgrind
measures valgrind, not node.  prefork is left out: its requests are answered in worker
processes, which callgrind does not follow into.  uring is left out: under valgrind
3.19 it answers, but a SIGTERM never ends its loop's io_uring_enter wait, so the run
cannot finish (the kernel writes the completion ring behind valgrind's back).
"""
import csv
import os

from lib import analysis as A
from lib import models, plots
from lib.plan import Point

NAME = "instr"
TITLE = "User-space instructions per request (callgrind)"
CLAIMS = []
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["iterative", "threads", "pool", "epoll", "libev", "libuv"]
QUICK_MODELS = ["iterative", "threads", "pool", "epoll", "libev", "libuv"]
QUICK_BUDGET_S = 25
THRESHOLDS = []
REQUESTS = {"smoke": 500, "quick": 4000, "full": 20000}
CONNS = {"smoke": [1], "quick": [1], "full": [1, 50]}
ABOUT = __doc__.split("\n", 2)[2].strip()


def plan(ctx):
    ms = [m for m in ctx.models(MODELS, QUICK_MODELS) if models.MODELS.get(m, {}).get("c")]
    sweep = [(c, n) for c in CONNS[ctx.mode] for n in (0, REQUESTS[ctx.mode])]
    pts = []
    for rep, (c, n), m in ctx.interleave(sweep, ms):
        if m == "iterative" and c > 1:
            continue
        pts.append(Point(experiment=NAME, model=m,
                         variant="callgrind" if n else "callgrind-baseline",
                         conns=c, requests=n, warmup=0, rep=rep, capture="callgrind",
                         timeout_ms=30000, server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _pairs(d):
    """{(series, conns, rep): {True: run with requests, False: baseline}}."""
    runs = {}
    for p in d.points:
        ins = (p.get("info") or {}).get("instr")
        if p.get("status") != "ok" or not ins:
            continue
        runs.setdefault((ins["series"], ins["conns"], ins["rep"]), {})[ins["requests_asked"] > 0] = ins
    return runs


def results(d):
    """[(series, conns, rep, requests served, Ir with, Ir without, Ir/request)]."""
    out = []
    for (s, c, rep), pair in sorted(_pairs(d).items(), key=lambda kv: (A.series_key(kv[0][0]), kv[0][1:])):
        if True in pair and False in pair:
            n = (pair[True]["requests_served"] or 0) - (pair[False]["requests_served"] or 0)
            if n > 0:
                out.append((s, c, rep, n, pair[True]["ir_total"], pair[False]["ir_total"],
                            (pair[True]["ir_total"] - pair[False]["ir_total"]) / n))
    return out


# Where the instructions go: each object file's own instructions, grouped.
PARTS = ["model and servers/common", "HTTP parser", "event library", "libc", "other"]


def _part(obj):
    if obj.startswith("srv-"):
        return PARTS[0]
    if obj == "llhttp" or obj.startswith("libhttp_parser"):
        return PARTS[1]
    if obj.startswith(("libev.", "libuv.")):
        return PARTS[2]
    if obj.startswith("libc."):
        return PARTS[3]
    return PARTS[4]


def parts(d):
    """[(series, conns, rep, {part: Ir/request})], from the profiles' per-object
    self costs, start-up and shutdown subtracted as for the total."""
    out = []
    for (s, c, rep), pair in sorted(_pairs(d).items(), key=lambda kv: (A.series_key(kv[0][0]), kv[0][1:])):
        if True not in pair or False not in pair:
            continue
        n = (pair[True]["requests_served"] or 0) - (pair[False]["requests_served"] or 0)
        with_, without = pair[True].get("ir_by_object"), pair[False].get("ir_by_object")
        if n <= 0 or not with_ or not without:
            continue
        per = dict.fromkeys(PARTS, 0.0)
        for obj in set(with_) | set(without):
            per[_part(obj)] += (with_.get(obj, 0) - without.get(obj, 0)) / n
        out.append((s, c, rep, per))
    return out


def derive(d):
    """instr/instr.csv: data.csv has no column for instructions, so they live here;
    instr/instr_parts.csv: the same per request, split by object file."""
    res = results(d)
    with open(os.path.join(d.exp_dir, "instr.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["series", "conns", "rep", "requests", "ir_total", "ir_baseline", "ir_per_req"])
        for r in res:
            w.writerow(list(r[:6]) + ["%.1f" % r[6]])
    with open(os.path.join(d.exp_dir, "instr_parts.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["series", "conns", "rep"] + PARTS)
        for s, c, rep, per in parts(d):
            w.writerow([s, c, rep] + ["%.1f" % per[k] for k in PARTS])


def figures(d):
    res = results(d)
    bars = []
    for c in sorted({r[1] for r in res}):
        for s in sorted({r[0] for r in res if r[1] == c}, key=A.series_key):
            a = A.agg([r[6] for r in res if r[0] == s and r[1] == c])
            lab = s if len({r[1] for r in res}) == 1 else "%s/c%d" % (s, c)
            bars.append((lab, plots.model_color(s), list(a[:3])))
    if not bars:
        return []
    return [plots.Figure("instr", "instr.gp",
                         "User-space instructions per GET / (callgrind, start-up and shutdown "
                         "subtracted), keep-alive connections: %s." % ", ".join(str(c) for c in sorted({r[1] for r in res})),
                         plots.bars_data(bars), {})]


def tables(d):
    res = results(d)
    body = [[s, c, rep, n, A.fmt_num(ir1), A.fmt_num(ir0), "%.0f" % per]
            for s, c, rep, n, ir1, ir0, per in res]
    out = [("Instructions per request", ["series", "connections", "rep", "requests",
                                         "Ir (with requests)", "Ir (start-up only)",
                                         "Ir per request"], body)] if body else []
    split = [[s, c, rep] + ["%.0f" % per[k] for k in PARTS] for s, c, rep, per in parts(d)]
    if split:
        out.append(("Where the instructions per request go (each object file's own, callgrind)",
                    ["series", "connections", "rep"] + PARTS, split))
    return out


def verdicts(d):
    return []


def context(d):
    res = results(d)
    if not res:
        return []
    per = {}
    for s, c, rep, n, ir1, ir0, x in res:
        if c == min(r[1] for r in res):
            per.setdefault(s, []).append(x)
    med = {s: sorted(v)[len(v) // 2] for s, v in per.items()}
    base = med.get("epoll")
    items = []
    for s in sorted(med, key=A.series_key):
        items.append("%s %.0f%s" % (s, med[s], "" if not base or s == "epoll"
                                    else " (%+.0f%% vs epoll)" % (100 * (med[s] / base - 1))))
    lines = ["Instructions per request: " + ", ".join(items) + "."]
    lib = {}
    for s, c, rep, split in parts(d):
        if s.startswith(("libev", "libuv")):
            lib.setdefault(s, []).append(split[PARTS[2]])
    if lib:
        lines.append("Of which in the event library itself: " + ", ".join(
            "%s %.0f" % (s, sorted(v)[len(v) // 2])
            for s, v in sorted(lib.items(), key=lambda kv: A.series_key(kv[0]))) +
            "; the protocol core and the HTTP parser are the same in every model "
            "(table: where the instructions go).")
    return lines
