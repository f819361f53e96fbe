"""concurrency — many connections at once (C1, C3).

Closed loop GET / from 1 to 5,000 connections (10,000 in full mode), every model and
nginx as an outside anchor; a pipelined series (depth 16, as TechEmpower's plaintext
test); open-loop points at one fixed rate below every model's capacity, because a
closed loop adds load as it adds connections (Little's law) and C1 is about
connections, not load; a repetition with the syscall tracepoint counted (perf), and
an strace -c profile for the syscall mix.
"""
from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.exp import event_models
from lib.plan import Point, interleave

NAME = "concurrency"
TITLE = "Many connections: throughput, latency and what they cost"
CLAIMS = ["C1", "C3"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["iterative", "threads", "pool", "epoll", "libev", "libuv", "node", "nginx"]
CONNS = {"smoke": [1, 10], "quick": [1, 10, 100, 1000, 5000],
         "full": [1, 10, 100, 1000, 5000, 10000]}
ITERATIVE_MAX_CONNS = 100   # beyond, it only adds connections waiting in the backlog
# A client starved by the iterative server gives up after this long and reconnects,
# so its starvation shows as timeouts inside even a short window.
ITERATIVE_TIMEOUT_MS = 500
PIPE_CONNS = {"smoke": [], "quick": [100], "full": [100, 1000]}
PIPE_DEPTH = 16
OPEN_RATE = 5000            # requests/s: well below every model's capacity here
OPEN_CONNS = {"smoke": [], "quick": [10, 1000], "full": [10, 100, 1000, 5000]}
SYSCALL_CONNS = {"smoke": [], "quick": [1000], "full": [10, 1000]}
STRACE_CONNS = 10
ABOUT = __doc__.split("\n", 2)[2].strip()


def _pt(ctx, model, **kw):
    base = dict(experiment=NAME, model=model, duration=ctx.window, warmup=ctx.warmup,
                timeout_ms=ITERATIVE_TIMEOUT_MS if model == "iterative" else ctx.timeout_ms,
                server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS)
    base.update(kw)
    return Point(**base)


def plan(ctx):
    ms = ctx.pick(MODELS)
    pts = []
    for rep, c, m in interleave(ctx.reps, CONNS[ctx.mode], ms):
        if m == "iterative" and c > ITERATIVE_MAX_CONNS:
            continue
        pts.append(_pt(ctx, m, conns=c, rep=rep))
    for rep, c, m in interleave(ctx.reps, PIPE_CONNS[ctx.mode], ms):
        if m == "iterative" and c > 1:
            continue
        pts.append(_pt(ctx, m, variant="pipelined", conns=c, pipeline=PIPE_DEPTH, rep=rep))
    for rep, c, m in interleave(ctx.reps, OPEN_CONNS[ctx.mode], ms):
        if m == "iterative" and c > ITERATIVE_MAX_CONNS:
            continue
        pts.append(_pt(ctx, m, variant="open", conns=c, rate=OPEN_RATE, rep=rep))
    for rep, c, m in interleave(ctx.reps, SYSCALL_CONNS[ctx.mode], ms):
        if m == "iterative":
            continue
        pts.append(_pt(ctx, m, variant="syscalls", conns=c, rate=OPEN_RATE, rep=rep,
                       capture="syscalls"))
    if ctx.mode != "smoke":
        for m in ms:
            pts.append(_pt(ctx, m, variant="strace", conns=STRACE_CONNS, capture="strace",
                           duration=1.0, warmup=0.2))
    return pts


def _rows(d, variant):
    return A.where(d.rows, variant=variant, path="*")


def figures(d):
    figs = []
    closed = _rows(d, "closed")
    per = A.by_series(closed, "conns", "rps")
    if per:
        v = plots.series_vars(list(per))
        figs.append(plots.Figure("throughput_conns", "throughput_conns.gp",
                                 "Closed-loop throughput against connections. One core for "
                                 "the server, one for the load generator.",
                                 plots.lines_data(per), v))
    openr = _rows(d, "open")
    op99 = A.by_series(openr, "conns", "p99_us")
    labels, data = plots.multi_lines_data([
        A.by_series(closed, "conns", "p50_us"), A.by_series(closed, "conns", "p99_us"), op99])
    if labels:
        v = plots.series_vars(labels)
        v.update({"rate": str(OPEN_RATE), "w": 1200, "h": 520, "panels": 3 if op99 else 2})
        figs.append(plots.Figure("latency_conns", "latency_conns.gp",
                                 "Latency against connections: closed loop (load grows with "
                                 "connections) and open loop at %d requests/s (load fixed). "
                                 "Percentiles cover the requests that were answered: where a "
                                 "model starves connections (iterative, pool beyond its 64 "
                                 "workers) the tables below count the rest." % OPEN_RATE, data, v))
    cost = _cost_rows(d)
    if cost:
        bars = []
        for s, rs in _by_series_rows(cost):
            u = A.agg([A.value(r, A.per_req("cpu_user_s")) for r in rs])
            sy = A.agg([A.value(r, A.per_req("cpu_sys_s")) for r in rs])
            tot = A.agg([A.value(r, "cpu_us_per_req") for r in rs])
            if u and sy and tot:
                bars.append((s, plots.model_color(s), [u[0] * 1e6, sy[0] * 1e6, tot[1], tot[2]]))
        if bars:
            figs.append(plots.Figure(
                "cpu_per_req", "cpu_per_req.gp",
                "Server CPU per request at a fixed %d requests/s and %d connections, split "
                "into user (solid) and kernel (hatched) time." % (OPEN_RATE, _cost_conns(d)),
                plots.bars_data(bars), {"subtitle": "open loop, %d req/s, %d connections"
                                        % (OPEN_RATE, _cost_conns(d))}))
    sysrows = _rows(d, "syscalls")
    bars = []
    for s, rs in _by_series_rows(sysrows):
        sc = A.agg([num(r, "syscalls_per_req") for r in rs])
        cx = A.agg([A.value(r, A.per_req("ctx_switches")) for r in
                    A.where(cost, model=rs[0]["model"]) if A.series(r) == s])
        if sc or cx:
            bars.append((s, plots.model_color(s),
                         list(sc[:3] if sc else (None,) * 3) + list(cx[:3] if cx else (None,) * 3)))
    if bars:
        figs.append(plots.Figure(
            "syscalls_ctx", "syscalls_ctx.gp",
            "System calls per request (perf, raw_syscalls:sys_enter, in its own repetition) and "
            "context switches per request (/proc, in the timed repetition), at %d requests/s."
            % OPEN_RATE, plots.bars_data(bars), {}))
    memp = [A.by_series(closed, "conns", "rss_kb"),
            A.by_series(closed, "conns", lambda r: _kmem(r)),
            A.by_series(closed, "conns", "threads")]
    labels, data = plots.multi_lines_data(memp)
    if labels:
        v = plots.series_vars(labels)
        v.update({"w": 1200, "h": 480, "xlab": "connections (log)"})
        figs.append(plots.Figure("memory_conns", "memory_conns.gp",
                                 "Server memory and threads against connections (closed loop): "
                                 "resident set, kernel memory (thread stacks plus TCP buffers, "
                                 "system-wide change) and thread count.", data, v))
    piped = _rows(d, "pipelined")
    bars = []
    for s, rs in _by_series_rows(piped):
        for c in sorted({int(num(r, "conns")) for r in rs}):
            a = A.agg([num(r, "rps") for r in rs if num(r, "conns") == c])
            if a:
                lab = s if len(PIPE_CONNS[d.mode]) <= 1 else "%s/c%d" % (s, c)
                bars.append((lab, plots.model_color(s), list(a[:3])))
    if bars:
        figs.append(plots.Figure(
            "pipelined", "pipelined.gp",
            "Throughput with %d requests pipelined per connection (TechEmpower plaintext style)."
            % PIPE_DEPTH, plots.bars_data(bars),
            {"subtitle": "depth %d, %s connections" % (PIPE_DEPTH,
                                                       ",".join(map(str, PIPE_CONNS[d.mode])))}))
    mix = syscall_mix(d)
    if mix:
        figs.append(mix)
    return figs


def _kmem(r):
    ks, sm = num(r, "kernel_stack_kb"), num(r, "sock_mem_kb")
    if ks is None and sm is None:
        return None
    return (ks or 0) + (sm or 0)


def _cost_conns(d):
    cs = [int(num(r, "conns")) for r in _rows(d, "open")]
    return max(cs) if cs else 0


def _cost_rows(d):
    c = _cost_conns(d)
    return [r for r in _rows(d, "open") if num(r, "conns") == c]


def _by_series_rows(rows):
    g = {}
    for r in rows:
        g.setdefault(A.series(r), []).append(r)
    return sorted(g.items(), key=lambda kv: A.series_key(kv[0]))


def syscall_mix(d):
    """Stacked bars from the strace -c profiles: each model's calls by syscall, as a
    share of its total, the top syscalls named and the rest as 'other'."""
    import json
    import os
    prof = {}
    idx = os.path.join(d.raw_dir, "points.jsonl")
    if not os.path.exists(idx):
        return None
    with open(idx) as f:
        for line in f:
            p = json.loads(line)
            if p.get("variant") != "strace" or p.get("status") != "ok":
                continue
            from lib.tracers import parse_strace_c
            calls = parse_strace_c(os.path.join(d.exp_dir, p["base"] + ".strace.txt"))
            if calls.get("total"):
                prof[p["series"]] = calls
    if not prof:
        return None
    totals = {}
    for calls in prof.values():
        for k, v in calls.items():
            if k != "total":
                totals[k] = totals.get(k, 0) + v / calls["total"]
    top = [k for k, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:8]]
    lines = ["series " + " ".join(top) + " other"]
    for s in sorted(prof, key=A.series_key):
        c = prof[s]
        shares = [100.0 * c.get(k, 0) / c["total"] for k in top]
        lines.append("%s %s %.3f" % (s, " ".join("%.3f" % x for x in shares),
                                     max(0.0, 100.0 - sum(shares))))
    return plots.Figure("syscall_mix", "syscall_mix.gp",
                        "Syscall mix per model from strace -c -f (its own profile, %d "
                        "connections, closed loop): share of all calls." % STRACE_CONNS,
                        "\n".join(lines) + "\n", {"ncols": len(top) + 2})


def tables(d):
    out = []
    h, b = A.pivot(_rows(d, "closed"), "conns", "rps")
    if b:
        out.append(("Closed loop: requests/s by connections", h, b))
    h, b = A.pivot(_rows(d, "closed"), "conns", A.starved, fmt=lambda v: "%d" % v)
    if b:
        out.append(("Closed loop: requests never answered (timeouts + abandoned + errors)", h, b))
    h, b = A.pivot(_rows(d, "open"), "conns", "p99_us", fmt=A.fmt_us)
    if b:
        out.append(("Open loop at %d requests/s: p99 latency by connections" % OPEN_RATE, h, b))
    h, b = A.pivot(_rows(d, "open"), "conns", A.answered, fmt=_pct)
    if b:
        out.append(("Open loop at %d requests/s: share of the requests due that were answered "
                    "(a p99 only covers these)" % OPEN_RATE, h, b))
    cost = _cost_rows(d)
    if cost:
        body = []
        sysr = _rows(d, "syscalls")
        for s, rs in _by_series_rows(cost):
            sc = A.median_of([r for r in sysr if A.series(r) == s], "syscalls_per_req")
            body.append([s, A.fmt_num(A.median_of(rs, "rps")),
                         A.fmt_num(A.median_of(rs, "cpu_us_per_req")),
                         A.fmt_num(A.median_of(rs, A.per_req("ctx_switches"))),
                         A.fmt_num(sc), A.fmt_num(A.median_of(rs, "rss_kb")),
                         A.fmt_num(A.median_of(rs, "threads")),
                         A.fmt_num(A.median_of(rs, "kernel_stack_kb")),
                         A.fmt_num(A.median_of(rs, "gen_cpu_us_per_req"))])
        out.append(("Cost at %d requests/s, %d connections (open loop)" % (OPEN_RATE, _cost_conns(d)),
                    ["series", "req/s", "CPU µs/req", "ctx sw/req", "syscalls/req", "RSS kB",
                     "threads", "kernel stack Δ kB", "generator CPU µs/req"], body))
    return out


def _closed_rps(closed, model):
    return {int(num(r, "conns")): A.median_of([x for x in closed if x["model"] == model
                                              and x["conns"] == r["conns"]], "rps")
            for r in closed if r["model"] == model}


def _pct(x):
    return "—" if x is None else "%.1f%%" % (100 * x)


def verdicts(d):
    closed = [r for r in _rows(d, "closed") if A.series(r) == r["model"]]
    openr = [r for r in _rows(d, "open") if A.series(r) == r["model"]]
    out = []
    # C1, for each event model: (a) its own CPU cost per request does not grow much
    # with connections; (b) its closed-loop throughput at the most connections holds
    # at >= 80% of its peak, with every client answered -- decided only where the load
    # generator could saturate it (a generator-bound point measures the generator);
    # (c) at one fixed open-loop rate, p99 does not blow up with connections.
    checks = []
    for m in event_models(sorted({r["model"] for r in closed}, key=lambda x: A.series_key(x))):
        rps = _closed_rps(closed, m)
        mine = lambda c: [r for r in closed if r["model"] == m and int(num(r, "conns")) == c]
        busy = [c for c in rps if c >= 10]
        if len(busy) >= 2:
            top = max(busy)
            cost = {c: A.median_of(mine(c), "cpu_us_per_req") for c in busy}
            best = min((v, c) for c, v in cost.items() if v is not None)
            if cost.get(top) is not None:
                checks.append(("%s: its CPU per request at %d connections is at most 2x its lowest "
                               "(%.1f µs vs %.1f µs at %d)" % (m, top, cost[top], best[0], best[1]),
                               cost[top] <= 2 * best[0]))
            peak_c = max(busy, key=lambda c: rps[c] or 0)
            keep = rps[top] / rps[peak_c] if rps[peak_c] else None
            ans = A.median_of(mine(top), A.answered)
            bound = any(r["gen_bound"] == "true" for r in mine(top) + mine(peak_c))
            decided = None if bound else (keep is not None and keep >= 0.8
                                          and ans is not None and ans >= 0.999)
            checks.append(("%s keeps >= 80%% of its peak throughput (%d connections) at %d, "
                           "answering >= 99.9%% (%.0f%%, %s unanswered)%s"
                           % (m, peak_c, top, 100 * (keep or 0), A.fmt_num(A.median_of(mine(top), A.starved)),
                              ": not decided, the load generator was the bottleneck there"
                              if bound else ""), decided))
        op = {int(num(r, "conns")): r for r in openr if r["model"] == m}
        if len(op) >= 2:
            lo, hi = min(op), max(op)
            rlo = [r for r in openr if r["model"] == m and int(num(r, "conns")) == lo]
            rhi = [r for r in openr if r["model"] == m and int(num(r, "conns")) == hi]
            plo, phi = A.median_of(rlo, "p99_us"), A.median_of(rhi, "p99_us")
            ans = A.median_of(rhi, A.answered)
            if plo is not None and phi is not None:
                checks.append(("%s at %d req/s: p99 stays within 3x + 1 ms from %d to %d connections "
                               "(%s -> %s) and >= 99%% of requests are answered (%s)"
                               % (m, OPEN_RATE, lo, hi, A.fmt_us(plo), A.fmt_us(phi), _pct(ans)),
                               phi <= 3 * plo + 1000 and ans is not None and ans >= 0.99))
    if checks:
        out.append(verdict.from_checks("C1", checks, NAME))
    else:
        out.append(verdict.Verdict("C1", verdict.UNTESTABLE,
                                   "no event model was measured at two connection counts", NAME))
    # C3: iterative serves one connection at a time (the others starve); threads
    # serve everyone (nothing starves) at the cost of a thread
    # (and its kernel stack) per connection.
    checks = []
    it = _closed_rps(closed, "iterative")
    if len(it) >= 2 and 1 in it:
        # One at a time: with N connections, the other N - 1 wait in the backlog until
        # they give up (ITERATIVE_TIMEOUT_MS), so at least N - 1 requests go unanswered;
        # with one connection, none do.  (Its throughput is that of one connection
        # either way, but a single repetition on a busy machine makes a throughput
        # comparison across points too noisy to decide on.)
        top = max(it)
        at = lambda c: [r for r in closed if r["model"] == "iterative" and int(num(r, "conns")) == c]
        lost, lost1 = A.median_of(at(top), A.starved), A.median_of(at(1), A.starved)
        checks.append(("iterative serves one connection at a time: with %d connections at least "
                       "%d requests go unanswered (%s), with one none do (%s); throughput %s vs %s "
                       "req/s" % (top, top - 1, A.fmt_num(lost), A.fmt_num(lost1),
                                  A.fmt_num(it[top]), A.fmt_num(it[1])),
                       None if lost is None or lost1 is None else (lost >= top - 1 and lost1 == 0)))
    th = _closed_rps(closed, "threads")
    if th:
        top = max(c for c in th if c > 1) if any(c > 1 for c in th) else None
        if top:
            r = [x for x in closed if x["model"] == "threads" and int(num(x, "conns")) == top]
            lost = A.median_of(r, A.starved)
            ans = A.median_of(r, A.answered)
            nthr = A.median_of(r, "threads")
            checks.append(("threads: at %d connections every client is served: >= 99.9%% answered "
                           "(%s unanswered)" % (top, A.fmt_num(lost)), ans is not None and ans >= 0.999))
            ks = A.median_of(r, "kernel_stack_kb")
            checks.append(("threads: the cost is a thread per connection (%s threads, kernel "
                           "stacks +%s kB at %d connections)" % (A.fmt_num(nthr), A.fmt_num(ks), top),
                           None if nthr is None else nthr >= 0.9 * top))
    if checks:
        out.append(verdict.from_checks("C3", checks, NAME))
    else:
        out.append(verdict.Verdict("C3", verdict.UNTESTABLE,
                                   "needs the iterative and threads models", NAME))
    return out


def context(d):
    out = []
    ng = A.where(_rows(d, "closed"), model="nginx")
    if ng:
        best = max(((A.median_of([r for r in ng if r["conns"] == c], "rps"), c)
                    for c in {r["conns"] for r in ng}), key=lambda x: x[0] or 0)
        out.append("nginx (one worker, outside anchor) peaks at %s requests/s (%s connections); "
                   "its responses carry Server and Date headers ours do not."
                   % (A.fmt_num(best[0]), best[1]))
    gb = [r for r in d.rows if r.get("gen_bound") == "true" and r["path"] == "*"]
    if gb:
        out.append("The load generator reported itself the bottleneck (generator_bound) in %d of "
                   "%d points: there, the server could go faster than shown."
                   % (len(gb), len([r for r in d.rows if r["path"] == "*"])))
    return out
