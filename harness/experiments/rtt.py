"""rtt — a real round-trip time: what holding a throughput costs (C2, C3).

On loopback the wire has no delay; real clients are milliseconds away.  With a round
trip R, holding a throughput X needs X·R requests in flight (Little's law): at 2,000
requests/s and 50 ms, 100 at once, and a keep-alive connection carries one request at
a time, so at least 100 connections are busy.  Every model serves the same open-loop
load of 2,000 requests/s at a round trip of 0, 1, 10 and 50 ms, added on the wire
between the server's network namespace and the load generator's (tc netem where the
kernel has it, else build/delayline, pinned away from the server); the generator opens
10 + 2·X·R connections, so that each is busy about half of the time.  Measured:
requests in flight (X·W, W the generator's mean latency), connections and threads the
server held, its memory, p50 and p99.  The prediction: a thread per connection pays a
thread (and its stacks) for every connection the round trip adds; an event loop holds
them all in its one thread, and adds nothing to W but the wire.  A light load at each
round trip (epoll, 200 requests/s) measures the round trip the wire really added.
"""
import math

from lib import analysis as A
from lib import models, plots, verdict
from lib.csvio import num
from lib.exp import event_models
from lib.plan import Point
from lib.verdict import Threshold

from experiments.idle import MEM_FACTOR, THREADS_ADDED, per_conn_cost

NAME = "rtt"
TITLE = "A real round-trip time: requests in flight, and what holding them costs"
CLAIMS = ["C2", "C3"]
SERVER_CPUS, GEN_CPUS = "0", "1"
# The points set the round trip on the client links themselves (lib/placement.py),
# in namespaces of the run or of their own (harness/run makes them).
WIRE = True
# Without a wire (no root, ssh hosts) every point is skipped, and the verdict says
# why: the rule runs on no rows.
VERDICT_WITHOUT_ROWS = True
MODELS = list(models.ALL)
# threads pays per connection, epoll does not: the two sides of the prediction.
QUICK_MODELS = ["threads", "epoll"]
QUICK_BUDGET_S = 90
RTTS = {"smoke": [0, 10], "quick": [0, 1, 10, 50], "full": [0, 1, 10, 50]}
# Light enough that the wire (30-45 µs of CPU per packet here, about 2.5 packets per
# request) and the generator share a core without either falling behind; the
# prediction's scale is X·R whatever X is.
RATE = 2000
CONN_BASE, HEADROOM = 10, 2
LIGHT = "light"
LIGHT_MODEL = "epoll"
LIGHT_RATE = 200
LIGHT_WINDOW = {"smoke": 0.5, "quick": 0.5, "full": 2.0}
ABOUT = __doc__.split("\n", 2)[2].strip()

LITTLE_TOL = Threshold(
    "LITTLE_TOL", 0.1, "of X·(R + W0), either way (requests in flight at the largest RTT)",
    "physical",
    "Little's law L = X·W holds for any stable system; what a server changes is W.  With "
    "the wire adding R to every request, a server that adds no wait of its own has W = R + "
    "W0 (W0: its mean latency at RTT 0 in the same repetition, the wire's own cost "
    "included), known to within the wire's accuracy (make test holds a 20 ms round trip to "
    "10 %, and the delay line's median lateness is tens of µs) and the drift of a mean over "
    "one window (a 60 ms stall of the server, among the 2,500 requests of a window, moves "
    "it 1.4 ms; one request timed out, counted at the 2 s timeout, 0.8 ms).  10 % (5 ms at 50 ms) lies beyond "
    "both, and far below what a server that falls behind adds: once its queue grows, or a "
    "connection waits for a free worker, W grows toward the timeout (1 % of the requests "
    "timed out adds 20 ms).  Below the prediction by as much, the wire did not add the "
    "round trip it was set to.")
THRESHOLDS = [LITTLE_TOL, THREADS_ADDED, MEM_FACTOR]


def conns_for(rtt_ms, rate=RATE, base=CONN_BASE):
    """The generator's connections at a round trip: Little's law's X·R, twice over
    (each connection idle half the time, so a request seldom finds its connection
    busy), plus a few for the server's own time."""
    return base + int(math.ceil(HEADROOM * rate * rtt_ms / 1000.0))


def plan(ctx):
    ms = ctx.models(MODELS, QUICK_MODELS)
    light = LIGHT_MODEL if LIGHT_MODEL in ms else (ms[0] if ms else None)
    series = ms + ([LIGHT] if light else [])
    pts = []
    for rep, rtt, s in ctx.interleave(RTTS[ctx.mode], series):
        if s == LIGHT:
            pts.append(Point(experiment=NAME, model=light, variant=LIGHT,
                             conns=conns_for(rtt, LIGHT_RATE, 2),
                             rate=LIGHT_RATE, rtt_ms=rtt, rep=rep, duration=LIGHT_WINDOW[ctx.mode],
                             warmup=0.2, timeout_ms=ctx.timeout_ms,
                             server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
        else:
            pts.append(Point(experiment=NAME, model=s, variant="open", conns=conns_for(rtt),
                             rate=RATE, rtt_ms=rtt, rep=rep, duration=ctx.window,
                             warmup=ctx.warmup, timeout_ms=ctx.timeout_ms,
                             server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


# ---- what the rows say -----------------------------------------------------------

def _rows(d, variant="open"):
    return A.where(d.rows, variant=variant, path="*")


def rtt_of(r):
    return num(r, "rtt_ms")


def mean_all_us(r):
    """The mean latency of the window's requests (from when each fell due), each
    one the server never answered -- timed out, or abandoned at the end of the
    drain -- counted as the generator's timeout, a lower bound of its latency.
    Requests the generator never sent (`unsent`) are left out: loadgen counts as
    unsent the ones due in the last instant of the window when its loop wakes
    after the window's end (an artefact of the edge, up to a few per window at
    thousands of requests/s), and a connection the server stalls is counted by the
    request it is stuck on."""
    w, n, t = num(r, "mean_us"), num(r, "requests"), num(r, "timeout_ms")
    lost = (num(r, "timeouts") or 0) + (num(r, "abandoned") or 0)
    if w is None or n is None or t is None or n + lost <= 0:
        return None
    return (w * n + t * 1000.0 * lost) / (n + lost)


def in_flight(r):
    """Requests in flight, by Little's law from what was measured: the offered
    rate (an open loop: requests arrive at it whatever the server does) times the
    mean latency of every request."""
    x, w = num(r, "rate"), mean_all_us(r)
    return None if x is None or w is None else x * w / 1e6


def predicted(r, w0_us):
    """Little's law's requests in flight at the row's round trip: the offered rate
    times the round trip plus the model's own latency at RTT 0."""
    x, rtt = num(r, "rate"), rtt_of(r)
    return None if x is None or rtt is None or w0_us is None else x * (rtt / 1000.0 + w0_us / 1e6)


def _at(rows, series, rtt):
    return [r for r in rows if A.series(r) == series and rtt_of(r) == rtt]


def _ends(rows, s):
    """The smallest and largest round trip a series was measured at (None if one)."""
    rs = sorted({rtt_of(r) for r in rows if A.series(r) == s and rtt_of(r) is not None})
    return (rs[0], rs[-1]) if len(rs) >= 2 and rs[0] == 0 else (None, None)


# ---- figures and tables ----------------------------------------------------------

def _positions(rows):
    return sorted({rtt_of(r) for r in rows if rtt_of(r) is not None})


def figures(d):
    rows = _rows(d)
    xs = _positions(rows)
    if not xs:
        return []
    pos = lambda r: xs.index(rtt_of(r)) if rtt_of(r) in xs else None
    per = [A.by_series(rows, pos, in_flight), A.by_series(rows, pos, "threads"),
           A.by_series(rows, pos, "rss_kb"), A.by_series(rows, pos, "p99_us")]
    labels, data = plots.multi_lines_data(per)
    if not labels:
        return []
    data += "\n\n# Little's law: X x R\n" + "\n".join(
        "%d %g" % (i, RATE * x / 1000.0) for i, x in enumerate(xs) if x > 0) + "\n"
    v = plots.series_vars(labels)
    v.update({"w": 1100, "h": 820, "rate": str(RATE), "rtts": " ".join("%g" % x for x in xs),
              "nrtt": len(xs)})
    return [plots.Figure("rtt_inflight", "rtt_inflight.gp",
                         "The same load, %d requests/s in open loop, at each round-trip time "
                         "added on the wire: requests in flight (the offered rate times the "
                         "mean latency, requests timed out counted at the timeout; dashed, "
                         "Little's law X·R), the server's threads, its resident memory, and "
                         "p99 (unanswered requests counted as the timeout). The generator "
                         "opens 10 + 2·X·R connections."
                         % RATE, data, v)]


def _wire_points(d):
    """{round trip: [the wire's counters of each point]} from raw/points.jsonl."""
    out = {}
    for p in d.points:
        w = (p.get("info") or {}).get("wire") or {}
        for link in (w.get("links") or {}).values():
            rtt = (w.get("shaping") or {}).get("rtt_ms")
            out.setdefault(rtt, []).append((p, link))
    return out


def wire_summary(d):
    """Per round trip: the mechanism, the CPU per packet and the lateness of the
    wire over the experiment's points, and the round trip the light load measured."""
    light = _rows(d, LIGHT)
    base = A.median_of([r for r in light if rtt_of(r) == 0], "p50_us")
    out = []
    for rtt, pts in sorted(_wire_points(d).items(), key=lambda x: x[0] or 0):
        links = [l for _, l in pts]
        cpu = A.agg([l.get("cpu_ns_per_packet") for l in links])
        late = [dd.get("late_us") or {} for l in links for dd in (l.get("directions") or {}).values()]
        share = A.agg([100.0 * l["cpu_s"] / l["wall_s"] for l in links
                       if l.get("cpu_s") is not None and l.get("wall_s")])
        lr = [r for r in light if rtt_of(r) == rtt]
        lp = A.median_of(lr, "p50_us")
        out.append({"rtt_ms": rtt, "mechanism": links[0].get("mechanism"),
                     "cpu_ns_per_packet": cpu[0] if cpu else None,
                     "late_p50_us": A.agg([x.get("p50") for x in late]),
                     "late_p99_us": A.agg([x.get("p99") for x in late]),
                     "late_max_us": max([x.get("max") for x in late if x.get("max") is not None],
                                        default=None),
                     "cpu_share_pct": share[0] if share else None,
                     "light_p50_us": lp,
                     "light_valid": "%d of %d" % (sum(1 for r in lr if A.is_valid(r)), len(lr)),
                     "added_ms": None if lp is None or base is None else (lp - base) / 1000.0,
                     "cpus": sorted({"CPU " + ",".join(map(str, p["info"]["wire"].get("cpus") or []))
                                     for p, _ in pts})})
    return out


def tables(d):
    rows = _rows(d)
    out = []
    body = []
    for s in sorted({A.series(r) for r in rows}, key=A.series_key):
        w0 = A.median_of(_at(rows, s, 0), mean_all_us)
        for rtt in _positions([r for r in rows if A.series(r) == s]):
            rs = _at(rows, s, rtt)
            lf = A.median_of(rs, in_flight)
            body.append([s, "%g" % rtt, A.fmt_num(A.median_of(rs, "conns")),
                         A.fmt_num(A.median_of(rs, "conns_server")),
                         A.fmt_num(lf), A.fmt_num(A.median_of(rs, lambda r: predicted(r, w0))),
                         A.fmt_num(math.ceil(lf)) if lf is not None else "—",
                         A.fmt_num(A.median_of(rs, "threads")),
                         A.fmt_num(A.median_of(rs, "rss_kb")),
                         A.fmt_us(A.median_of(rs, "p50_us")), A.fmt_us(A.median_of(rs, "p99_us")),
                         A.fmt_num(A.median_of(rs, "rps")), A.fmt_num(A.median_of(rs, A.unanswered))])
    if body:
        out.append(("Holding %d requests/s at each round trip (medians of the repetitions)" % RATE,
                    ["series", "RTT ms", "connections opened", "server sockets", "in flight (X·W)",
                     "Little's law X·(R+W0)", "connections needed", "threads", "RSS kB", "p50",
                     "p99", "req/s", "unanswered"], body))
    ws = wire_summary(d)
    if ws:
        f = lambda a: A.fmt_num(a[0]) if a else "—"
        out.append(("The wire: its cost and accuracy (per round trip, over every point; lateness "
                     "is how long after its due time a packet left, the CPU includes the "
                     "receiving kernel's work for each packet it delivers)",
                     ["RTT ms", "mechanism", "measured at %d req/s (p50)" % LIGHT_RATE,
                      "added over RTT 0", "light points valid", "CPU µs/packet",
                      "share of its CPU", "late p50 µs", "late p99 µs", "late max µs",
                      "pinned to"],
                     [["%g" % (w["rtt_ms"] or 0), w["mechanism"] or "—", A.fmt_us(w["light_p50_us"]),
                       "—" if w["added_ms"] is None else "%.2f ms" % w["added_ms"], w["light_valid"],
                       "—" if w["cpu_ns_per_packet"] is None else "%.1f" % (w["cpu_ns_per_packet"] / 1000),
                       "—" if w["cpu_share_pct"] is None else "%.1f%%" % w["cpu_share_pct"],
                       f(w["late_p50_us"]), f(w["late_p99_us"]), A.fmt_num(w["late_max_us"]),
                       "; ".join(w["cpus"])] for w in ws]))
    return out


# ---- the rule ----------------------------------------------------------------------

def _little(r0, r1):
    """Whether row r1's requests in flight are Little's law's prediction from r0's
    latency at RTT 0, within LITTLE_TOL."""
    lf, pr = in_flight(r1), predicted(r1, mean_all_us(r0))
    if lf is None or pr is None or pr <= 0:
        return None
    return abs(lf - pr) <= LITTLE_TOL.value * pr


def little_check(rows, s, lo, hi):
    r0, r1 = _at(rows, s, lo), _at(rows, s, hi)
    w0 = A.median_of(r0, mean_all_us)
    return verdict.check(
        "%s holds %d req/s at RTT %g ms with Little's law's requests in flight, X·(R + W0) "
        "within %d%% (%s measured, requests timed out or abandoned counted at the timeout: %s; "
        "%s predicted)"
        % (s, RATE, hi, round(100 * LITTLE_TOL.value), A.fmt_num(A.median_of(r1, in_flight)),
           A.fmt_num(A.median_of(r1, _lost)), A.fmt_num(A.median_of(r1, lambda r: predicted(r, w0)))),
        [r0, r1], _little)


def _lost(r):
    return (num(r, "timeouts") or 0) + (num(r, "abandoned") or 0)


def _added(col):
    def f(a, b):
        x, y = num(a, col), num(b, col)
        return None if x is None or y is None else y - x
    return f


def verdicts(d):
    rows = _rows(d)
    skipped = [p.get("why", "") for p in d.points if p.get("status") == "skipped"]
    if not rows and skipped:
        why = sorted(set(w.replace("not testable here: ", "") for w in skipped))
        return [verdict.Verdict(c, verdict.UNTESTABLE, "; ".join(why), NAME) for c in CLAIMS]
    ks = d.fact("kernel_stack_kb_per_thread", 16)
    series = sorted({A.series(r) for r in rows}, key=A.series_key)
    evs = event_models(series)
    out = []
    checks = []
    for s in evs:
        lo, hi = _ends(rows, s)
        if hi is None:
            continue
        r0, r1 = _at(rows, s, lo), _at(rows, s, hi)
        checks.append(verdict.check(
            "%s holds the %s requests in flight of RTT %g ms without a thread each: at most %d "
            "threads added from RTT 0 (%s -> %s, %s connections opened)"
            % (s, A.fmt_num(RATE * hi / 1000.0), hi, THREADS_ADDED.value,
               A.fmt_num(A.median_of(r0, "threads")), A.fmt_num(A.median_of(r1, "threads")),
               A.fmt_num(A.median_of(r1, "conns"))),
            [r0, r1], lambda a, b: None if _added("threads")(a, b) is None
            else _added("threads")(a, b) <= THREADS_ADDED.value))
        checks.append(little_check(rows, s, lo, hi))
    if checks:
        out.append(verdict.from_checks("C2", checks, NAME))
    else:
        out.append(verdict.Verdict("C2", verdict.NOT_DECIDED,
                                   "no event model was measured at RTT 0 and a larger one", NAME))
    checks = []
    lo, hi = _ends(rows, "threads")
    if hi is not None:
        t0, t1 = _at(rows, "threads", lo), _at(rows, "threads", hi)
        need = RATE * (hi - lo) / 1000.0
        checks.append(verdict.check(
            "threads pays a thread per connection: from RTT 0 to %g ms it adds at least the "
            "%s requests in flight the round trip adds (Little's law, X·R), one thread each "
            "(%s -> %s threads)" % (hi, A.fmt_num(need), A.fmt_num(A.median_of(t0, "threads")),
                                    A.fmt_num(A.median_of(t1, "threads"))),
            [t0, t1], lambda a, b, n=need: None if _added("threads")(a, b) is None
            else _added("threads")(a, b) >= n))
        checks.append(little_check(rows, "threads", lo, hi))
        for m in evs:
            if _ends(rows, m) != (lo, hi):
                continue
            e0, e1 = _at(rows, m, lo), _at(rows, m, hi)

            def costs(a, b, c, e):
                n1, n2 = num(b, "conns") - num(a, "conns"), num(e, "conns") - num(c, "conns")
                t, v = per_conn_cost(a, b, n1, ks), per_conn_cost(c, e, n2, ks)
                return None if t is None or v is None else t >= MEM_FACTOR.value * max(v, 0.0)
            med = lambda a_rows, b_rows: A.agg([
                per_conn_cost(a, b, num(b, "conns") - num(a, "conns"), ks)
                for a, b in verdict.by_rep(a_rows, b_rows).values()])
            tc, ec = med(t0, t1), med(e0, e1)
            checks.append(verdict.check(
                "threads: the connections RTT %g ms adds cost at least %gx the memory they cost "
                "%s (%s vs %s kB each: resident memory plus %d kB of kernel stack per added "
                "thread)" % (hi, MEM_FACTOR.value, m, A.fmt_num(tc[0] if tc else None),
                             A.fmt_num(ec[0] if ec else None), ks), [t0, t1, e0, e1], costs))
    if checks:
        out.append(verdict.from_checks("C3", checks, NAME))
    else:
        out.append(verdict.Verdict("C3", verdict.NOT_DECIDED,
                                   "needs the threads model at RTT 0 and a larger one", NAME))
    return out


def context(d):
    out = []
    rows = _rows(d)
    for w in wire_summary(d):
        if w["rtt_ms"] and w["added_ms"] is not None:
            out.append("The wire set to %g ms added %.2f ms at %d req/s (%s; the light load's p50 "
                       "over its p50 at RTT 0; %s light points valid, the others' generator "
                       "woke late and adds its lateness)." % (w["rtt_ms"], w["added_ms"],
                                                              LIGHT_RATE, w["mechanism"],
                                                              w["light_valid"]))
    for s in sorted({A.series(r) for r in rows}, key=A.series_key):
        if s in ("threads",) or models.is_event(s.split("+")[0]):
            continue
        lo, hi = _ends(rows, s)
        if hi is None:
            continue
        r1 = _at(rows, s, hi)
        out.append("%s at RTT %g ms: %s req/s of %d offered, %s unanswered, %s threads: a model "
                   "that ties a thread to a connection and bounds the threads cannot hold the "
                   "connections Little's law asks for." % (
                       s, hi, A.fmt_num(A.median_of(r1, "rps")), RATE,
                       A.fmt_num(A.median_of(r1, A.unanswered)), A.fmt_num(A.median_of(r1, "threads"))))
    return out
