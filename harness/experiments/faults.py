"""faults — errors in other requests (C7).

A steady open-loop load (GET /, 2,000 requests/s on 10 connections) runs twice per
model: alone (`baseline`) and while a second client (harness/lib/faultgen.py, 30
faults/s) sends malformed request lines, header blocks over 8 KiB, invalid
Content-Length values, requests cut off by a reset, resets in the middle of an 8 MiB
response, and connect-then-close.  The steady load's errors and p99 are compared.
The iterative model is left out: any second client, faulty or not, waits behind the
first (C3).
"""
import json
import os

from lib import analysis as A
from lib import plots, verdict
from lib.plan import Point, interleave

NAME = "faults"
TITLE = "Faulty clients beside a steady load"
CLAIMS = ["C7"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "epoll", "libev", "libuv", "node"]
RATE, CONNS, FAULT_RATE = 2000, 10, 30.0
ABOUT = __doc__.split("\n", 2)[2].strip()


def plan(ctx):
    pts = []
    for rep, kind, m in interleave(ctx.reps, ["baseline", "faults"], ctx.pick(MODELS)):
        pts.append(Point(experiment=NAME, model=m, variant=kind, conns=CONNS, rate=RATE,
                         faults=(kind == "faults"), fault_rate=FAULT_RATE, rep=rep,
                         duration=ctx.window, warmup=ctx.warmup, timeout_ms=ctx.timeout_ms,
                         server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _rows(d, kind):
    return A.where(d.rows, variant=kind, path="*")


def figures(d):
    bars = []
    for s in sorted({A.series(r) for r in d.rows}, key=A.series_key):
        b = A.agg([A.value(r, "p99_us") for r in _rows(d, "baseline") if A.series(r) == s])
        f = A.agg([A.value(r, "p99_us") for r in _rows(d, "faults") if A.series(r) == s])
        if b or f:
            bars.append((s, plots.model_color(s), list(b[:3] if b else (None,) * 3)
                         + list(f[:3] if f else (None,) * 3)))
    if not bars:
        return []
    return [plots.Figure("faults_p99", "faults_p99.gp",
                         "p99 of a steady %d req/s load alone (solid) and beside a client sending "
                         "%d faults/s (hatched)." % (RATE, FAULT_RATE), plots.bars_data(bars),
                         {"rate": RATE})]


def fault_summary(d):
    """Per series: faults sent and what the faulty client saw (from raw/*.faults.json)."""
    out = {}
    idx = os.path.join(d.raw_dir, "points.jsonl")
    if not os.path.exists(idx):
        return out
    with open(idx) as f:
        for line in f:
            p = json.loads(line)
            if p.get("variant") != "faults":
                continue
            try:
                with open(os.path.join(d.exp_dir, p["base"] + ".faults.json")) as g:
                    out[p["series"]] = json.load(g)
            except (OSError, ValueError):
                pass
    return out


def tables(d):
    body = []
    fs = fault_summary(d)
    for s in sorted({A.series(r) for r in d.rows}, key=A.series_key):
        b = [r for r in _rows(d, "baseline") if A.series(r) == s]
        f = [r for r in _rows(d, "faults") if A.series(r) == s]
        fj = fs.get(s, {})
        seen = {}
        for kinds in (fj.get("faults") or {}).values():
            for k, n in kinds.items():
                seen[k] = seen.get(k, 0) + n
        body.append([s, A.fmt_num(A.median_of(b, "rps")), A.fmt_us(A.median_of(b, "p99_us")),
                     A.fmt_num(A.median_of(b, A.starved)),
                     A.fmt_num(A.median_of(f, "rps")), A.fmt_us(A.median_of(f, "p99_us")),
                     A.fmt_num(A.median_of(f, A.starved)),
                     "%s sent: %s" % (fj.get("sent", "—"), ", ".join("%s %d" % kv for kv in sorted(seen.items())))])
    return [("Steady load alone and beside faults", ["series", "req/s", "p99", "unanswered",
                                                     "req/s with faults", "p99 with faults",
                                                     "unanswered with faults",
                                                     "faulty client's answers"], body)] if body else []


def _server_exits(d):
    """Series whose server had exited before the harness stopped it (a crash)."""
    out = set()
    idx = os.path.join(d.raw_dir, "points.jsonl")
    if os.path.exists(idx):
        with open(idx) as f:
            for line in f:
                p = json.loads(line)
                if any("had exited" in n for n in (p.get("info") or {}).get("notes", [])):
                    out.add(p["series"])
    return out


def verdicts(d):
    # The claim is that the server survives and keeps serving the others: the steady
    # load must be answered (>= 99%) by a server still running at the end.  A p99
    # more than 10x + 10 ms the baseline's counts as a stall the others notice; a
    # smaller rise is reported, not judged (a fault costs the server some work).
    checks = []
    fs = fault_summary(d)
    died = _server_exits(d)
    for s in sorted({A.series(r) for r in _rows(d, "faults")}, key=A.series_key):
        b = [r for r in _rows(d, "baseline") if A.series(r) == s]
        f = [r for r in _rows(d, "faults") if A.series(r) == s]
        lost = A.median_of(f, A.starved)
        ans = A.median_of(f, A.answered)
        pb, pf = A.median_of(b, "p99_us"), A.median_of(f, "p99_us")
        sent = (fs.get(s) or {}).get("sent")
        checks.append(("%s kept running and serving through %s faults: the steady load had %s "
                       "requests unanswered (allowed: 1%%), p99 %s -> %s (allowed: 10x + 10 ms)%s"
                       % (s, sent if sent is not None else "?", A.fmt_num(lost), A.fmt_us(pb),
                          A.fmt_us(pf), "; THE SERVER EXITED" if s in died else ""),
                       None if ans is None or pf is None or pb is None or not sent
                       else (s not in died and ans >= 0.99 and pf <= 10 * pb + 10000)))
    if not checks:
        return [verdict.Verdict("C7", verdict.UNTESTABLE, "no model was measured", NAME)]
    return [verdict.from_checks("C7", checks, NAME)]


def context(d):
    return ["The conformance and fault tests (make test) check each fault's exact answer; "
            "this experiment checks that the other clients do not notice."]
