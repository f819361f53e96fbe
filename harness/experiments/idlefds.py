"""idlefds — what idle descriptors cost a loop while it serves others (C1, C2).

Why epoll exists.  select and poll take the whole interest set on every call and
look at every descriptor in it, ready or not, so their cost per wake-up grows with
the connections a server holds even when almost all of them are idle; epoll keeps
the set in the kernel and returns only what is ready (Banga, Mogul and Druschel,
USENIX 1999: with a few busy connections, select's throughput fell as idle ones
were added and their new interface's did not; libev's ev(3): poll "will slow down
considerably with a lot of inactive fds").  Here: 32 connections send GET / at a
fixed open-loop rate far below every model's capacity, beside N idle keep-alive
connections (each sent one GET / and went silent; the idle timeout is off), N = 0
and 10,000 (0, 100, 1,000, 5,000, 10,000 in full mode); measured per point: the
server's CPU per active request (nanosecond accounting), the active clients' p99,
and system calls per request (perf).  select stops at the most idle connections
its FD_SETSIZE allows beside the active ones; the levels beyond are not applicable
to it, and say so.  The rule: select's and poll's CPU per active request grows with
N by at least what a scan must cost per descriptor (the slope, in µs per 1,000
idle descriptors); every loop on epoll keeps its cost per request within the
factor that tells a cost that does not depend on the connections held from one
that does.  CPU per request is what the server spent on the rate it was offered,
so those checks stand on a point whose generator only woke late (verdict.LAGGED:
at 100 requests/s a window has about 250 loop turns, and one late wake-up of a
VM's idle CPU sets their p99); the p99 checks do not.
"""
from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.plan import Point
from lib.verdict import P99_FACTOR, P99_SLACK_US, Threshold

from experiments.concurrency import CPU_GROWTH

NAME = "idlefds"
TITLE = "Idle descriptors: what a loop pays for the connections it is not serving"
CLAIMS = ["C1", "C2"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["select", "poll", "epoll", "libev", "libuv", "node"]
# libev and libuv wait in epoll_wait as epoll.c does: full mode shows that they
# follow it; quick mode keeps the two ways of waiting and the system the claims
# are about.
QUICK_MODELS = ["select", "poll", "epoll", "node"]
QUICK_BUDGET_S = 90
IDLE = {"smoke": [0, 100], "quick": [0, 10000], "full": [0, 100, 1000, 5000, 10000]}
ACTIVE_CONNS = 32
# poll with 10,000 idle descriptors spends about 3 ms per wake-up on the 2-core
# machine (measured), so at this rate it is busy about 30 % of the time: below its
# capacity at every level, every other model far below.  A request is then one
# wake-up, and CPU per request is what one wake-up costs.
RATE = 100
# The models whose wait looks at every descriptor watched, on every call.
SCANS = ["select", "poll"]
# FD_SETSIZE (1024) less srv-select's own seven descriptors (stdio, the listener,
# the reserve, two eventfds), the 32 active connections, and 5 to spare for a
# connection the generator makes again: beyond this select refuses clients
# (docs/contract.md), which is a result of the descriptor limit, not of the cost
# measured here.
SELECT_MAX_IDLE = 980
ABOUT = __doc__.split("\n", 2)[2].strip()

GROWS_US = Threshold(
    "GROWS_US", 10, "µs of CPU per active request per 1,000 idle descriptors", "physical",
    "What a scan costs at the least.  For every descriptor in its set each poll() or "
    "select() call takes a reference to the file and asks the socket (tcp_poll) whether it "
    "is ready; a call that then sleeps also hangs a wait-queue entry on every socket and "
    "takes them all down when it wakes.  Calls that never sleep (timeout 0) over 1,000 "
    "and 10,000 idle loopback TCP sockets cost 120-340 ns per descriptor on the 2-core "
    "machine this rule was written on, so 120 µs or more per call per 1,000 descriptors; "
    "at the light fixed rate used here a call serves about one request.  10 µs per 1,000 "
    "is ten times less and still calls it growth; a loop that does not scan stays near 0.")
THRESHOLDS = [GROWS_US, CPU_GROWTH, P99_FACTOR, P99_SLACK_US]


def levels(mode, model):
    """The idle levels a model runs at: select's stop at SELECT_MAX_IDLE (the first
    level beyond it runs at SELECT_MAX_IDLE, the rest not at all)."""
    xs = IDLE[mode]
    if model != "select":
        return list(xs)
    out = [x for x in xs if x <= SELECT_MAX_IDLE]
    if any(x > SELECT_MAX_IDLE for x in xs):
        out.append(SELECT_MAX_IDLE)
    return out


def plan(ctx):
    pts = []
    for rep, n, m in ctx.interleave(IDLE[ctx.mode], ctx.models(MODELS, QUICK_MODELS)):
        if m == "select" and n > SELECT_MAX_IDLE:
            first_beyond = min(x for x in IDLE[ctx.mode] if x > SELECT_MAX_IDLE)
            if n != first_beyond:
                continue
            n = SELECT_MAX_IDLE
        pts.append(Point(experiment=NAME, model=m, variant="open", conns=ACTIVE_CONNS,
                         idle_conns=n, rate=RATE, rep=rep, duration=ctx.window,
                         warmup=ctx.warmup, timeout_ms=ctx.timeout_ms, capture="syscalls",
                         server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _rows(d):
    return A.where(d.rows, path="*", variant="open")


def slope(pairs):
    """Least-squares slope of [(idle descriptors, CPU µs per request)] in µs per
    1,000 idle descriptors; None with fewer than two levels or a value missing."""
    if any(x is None or y is None for x, y in pairs) or len({x for x, _ in pairs}) < 2:
        return None
    n = len(pairs)
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    return 1000.0 * sum((x - mx) * (y - my) for x, y in pairs) / sxx


def _slope_of_rows(*rows):
    return slope([(num(r, "idle_conns"), num(r, "cpu_us_per_req")) for r in rows])


def per_series(rows, s):
    """A series' points by idle level: {"ns": [levels], "groups": [rows per level],
    "slopes": [one per repetition]}, or None with fewer than two levels."""
    mine = [r for r in rows if A.series(r) == s]
    ns = sorted({int(num(r, "idle_conns")) for r in mine if num(r, "idle_conns") is not None})
    if len(ns) < 2:
        return None
    groups = [[r for r in mine if int(num(r, "idle_conns")) == n] for n in ns]
    slopes = [_slope_of_rows(*rs) for rs in verdict.by_rep(*groups).values()]
    return {"ns": ns, "groups": groups, "slopes": [x for x in slopes if x is not None],
            "cpu0": A.median_of(groups[0], "cpu_us_per_req"),
            "cpu1": A.median_of(groups[-1], "cpu_us_per_req"),
            "sys0": A.median_of(groups[0], "syscalls_per_req"),
            "sys1": A.median_of(groups[-1], "syscalls_per_req"),
            "p99_0": A.median_of(groups[0], "p99_us"), "p99_1": A.median_of(groups[-1], "p99_us")}


def _series(rows):
    return sorted({A.series(r) for r in rows}, key=A.series_key)


def _scans(s):
    return s.split("+")[0] in SCANS


def figures(d):
    rows = _rows(d)
    per = [A.by_series(rows, "idle_conns", "cpu_us_per_req"),
           A.by_series(rows, "idle_conns", "p99_us"),
           A.by_series(rows, "idle_conns", "syscalls_per_req")]
    labels, data = plots.multi_lines_data(per)
    if not labels:
        return []
    v = plots.series_vars(labels)
    v.update({"w": 1200, "h": 460, "rate": str(RATE), "active": str(ACTIVE_CONNS)})
    return [plots.Figure("idlefds", "idlefds.gp",
                         "Against N idle keep-alive descriptors: the server's CPU per active "
                         "request, the active clients' p99 and the system calls per request, "
                         "%d connections at %d req/s beside them (select ends at %d idle: "
                         "FD_SETSIZE)." % (ACTIVE_CONNS, RATE, SELECT_MAX_IDLE), data, v)]


def _na_beyond_select(headers, body):
    """select's cells at levels beyond its limit say why they are empty."""
    for line in body:
        if line[0].split("+")[0] != "select":
            continue
        for i, h in enumerate(headers[1:], 1):
            if int(h.split("=")[1]) > SELECT_MAX_IDLE and line[i] == "—":
                line[i] = "n/a: FD_SETSIZE"
    return headers, body


def tables(d):
    rows = _rows(d)
    out = []
    col = lambda c: "N=%d" % c
    for title, y, f in (
            ("Server CPU per active request (µs) by idle descriptors", "cpu_us_per_req", A.fmt_num),
            ("Active clients' p99 (%d req/s on %d connections) by idle descriptors"
             % (RATE, ACTIVE_CONNS), "p99_us", A.fmt_us),
            ("System calls per active request by idle descriptors", "syscalls_per_req", A.fmt_num)):
        h, b = A.pivot(rows, "idle_conns", y, fmt=f, col_fmt=col)
        if b:
            out.append((title,) + _na_beyond_select(h, b))
    body = []
    for s in _series(rows):
        ps = per_series(rows, s)
        if not ps:
            continue
        sl = A.agg(ps["slopes"])
        body.append([s, "%d–%d" % (ps["ns"][0], ps["ns"][-1]), A.fmt_num(ps["cpu0"]),
                     A.fmt_num(ps["cpu1"]),
                     "—" if not sl else A.fmt_num(sl[0]) + (
                         " (%s–%s)" % (A.fmt_num(sl[1]), A.fmt_num(sl[2])) if sl[3] > 1 else ""),
                     A.fmt_num(ps["sys0"]), A.fmt_num(ps["sys1"])])
    if body:
        out.append(("The slope: CPU per active request against idle descriptors (least squares "
                    "over the levels, per repetition; median and min–max)",
                    ["series", "idle", "CPU µs/req at fewest", "at most",
                     "slope µs per 1,000 idle", "syscalls/req at fewest", "at most"], body))
    return out


def verdicts(d):
    rows = _rows(d)
    out = []
    checks = []
    for s in _series(rows):
        ps = per_series(rows, s)
        if not ps:
            continue
        sl = A.agg(ps["slopes"])
        got = "measured %s µs per 1,000, %s -> %s µs per request from %d to %d idle" % (
            A.fmt_num(sl[0]) if sl else "—", A.fmt_num(ps["cpu0"]), A.fmt_num(ps["cpu1"]),
            ps["ns"][0], ps["ns"][-1])
        if _scans(s):
            checks.append(verdict.check(
                "%s pays for every idle descriptor on every wake-up: its CPU per active request "
                "grows by at least %g µs per 1,000 idle descriptors (%s)" % (s, GROWS_US.value, got),
                ps["groups"],
                lambda *rs: None if _slope_of_rows(*rs) is None
                else _slope_of_rows(*rs) >= GROWS_US.value, lag_ok=True))
        else:
            checks.append(verdict.check(
                "%s does not pay for idle descriptors: its CPU per active request with %d "
                "idle is at most %gx that with %d (%s)"
                % (s, ps["ns"][-1], CPU_GROWTH.value, ps["ns"][0], got),
                [ps["groups"][0], ps["groups"][-1]],
                lambda a, b: None if not num(a, "cpu_us_per_req") or num(b, "cpu_us_per_req") is None
                else num(b, "cpu_us_per_req") <= CPU_GROWTH.value * num(a, "cpu_us_per_req"),
                lag_ok=True))
    why = ("The prediction (Banga, Mogul and Druschel; libev's ev(3)): what idle descriptors "
           "cost grows with their number under select and poll, and not under epoll.")
    if checks:
        out.append(verdict.from_checks("C2", checks, NAME, why))
    else:
        out.append(verdict.Verdict("C2", verdict.NOT_DECIDED,
                                   "no model was measured at two idle levels", NAME))
    checks = []
    for s in _series(rows):
        ps = per_series(rows, s)
        if not ps or _scans(s):
            continue
        checks.append(verdict.check(
            "%s: the active clients' p99 with %d idle descriptors stays within %gx + %s of that "
            "with %d (%s -> %s, unanswered requests counted as the timeout)"
            % (s, ps["ns"][-1], P99_FACTOR.value, A.fmt_us(P99_SLACK_US.value), ps["ns"][0],
               A.fmt_us(ps["p99_0"]), A.fmt_us(ps["p99_1"])),
            [ps["groups"][0], ps["groups"][-1]],
            lambda a, b: None if num(a, "p99_us") is None or num(b, "p99_us") is None
            else num(b, "p99_us") <= P99_FACTOR.value * num(a, "p99_us") + P99_SLACK_US.value))
    if checks:
        out.append(verdict.from_checks(
            "C1", checks, NAME, "Many idle connections do not slow a loop on epoll down:"))
    else:
        out.append(verdict.Verdict("C1", verdict.NOT_DECIDED,
                                   "no epoll-based loop was measured at two idle levels", NAME))
    return out


def context(d):
    rows = _rows(d)
    out = []
    if any(r["model"] == "select" for r in rows):
        out.append("select is measured up to %d idle descriptors: beside the %d active "
                   "connections and its own seven descriptors, that is what an fd_set of "
                   "FD_SETSIZE = 1,024 bits holds; at higher levels it would refuse clients "
                   "(counted in errors), so those levels are not applicable to it."
                   % (SELECT_MAX_IDLE, ACTIVE_CONNS))
    for s in _series(rows):
        ps = per_series(rows, s)
        if not ps or not all(ps[k] for k in ("sys0", "sys1", "cpu0", "cpu1")):
            continue
        out.append("%s: %s system calls per request with %d idle descriptors, %s with %d; CPU "
                   "per system call %s µs, then %s µs." % (
                       s, A.fmt_num(ps["sys0"]), ps["ns"][0], A.fmt_num(ps["sys1"]), ps["ns"][-1],
                       A.fmt_num(ps["cpu0"] / ps["sys0"]), A.fmt_num(ps["cpu1"] / ps["sys1"])))
    return out
