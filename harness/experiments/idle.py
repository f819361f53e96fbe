"""idle — what idle connections cost (C2, C3).

N idle keep-alive connections (each sent one GET / and then went silent; the idle
timeout is off) are held open by the harness, then a light open-loop load runs on 10
more connections.  Measured against N: the server's resident memory, the change in
the kernel's thread stacks and TCP socket memory, its thread count, and the active
clients' p99.  The iterative server is left out: a single idle connection holds it
forever (that is C3's first half, shown in `concurrency`).  prefork, like pool, runs in
full mode only: its 64 workers are held by the first 64 idle connections.  The
memory and thread checks read what the server held, so they stand on a point whose
generator only woke late (verdict.LAGGED); the p99 checks do not.
"""
from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.exp import event_models
from lib.plan import Point
from lib.verdict import P99_FACTOR, P99_SLACK_US, Threshold

NAME = "idle"
TITLE = "Idle connections: memory, kernel memory and threads"
CLAIMS = ["C2", "C3"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "prefork", "epoll", "libev", "libuv", "uring", "node"]
# pool is left out of quick mode: its 64 workers are held by the first 64 idle
# connections, so its points measure the backlog (and wait out every timeout).
QUICK_MODELS = ["threads", "epoll", "libev", "libuv", "node"]
QUICK_BUDGET_S = 115
IDLE = {"smoke": [0, 100], "quick": [0, 10000], "full": [0, 100, 1000, 2500, 5000, 10000]}
LOAD_CONNS, LOAD_RATE = 10, 1000
ABOUT = __doc__.split("\n", 2)[2].strip()

THREADS_ADDED = Threshold(
    "THREADS_ADDED", 2, "threads added from no idle connection to the most", "physical",
    "An event model's threads are its loop(s), its worker pool and its runtime's helpers, "
    "none of which depends on the connections; a thread per connection would add 10,000.  "
    "2 allows for a helper a runtime starts lazily (libuv's, node's) while anything that "
    "grows with the connections is thousands of times larger.")
MEM_FACTOR = Threshold(
    "MEM_FACTOR", 2.0, "x (memory per connection, threads against an event model)", "physical",
    "A thread per connection costs at least its kernel stack (16 KiB on x86-64, measured "
    "into meta.json) plus the user-stack pages it touches (4 KiB at least), where an event "
    "loop keeps a connection's state and buffers (1.9-2.7 kB per idle connection in the C "
    "models, 12.0 kB in node, in the reference run of 2026-11-30, c293f64).  'At a cost' has to be a difference "
    "beyond what repetitions move these figures by (resident memory of a point varies by "
    "a median 3 %, 10 % at the 90th percentile, between repetitions); twice is such a "
    "difference, and what one kernel stack alone makes against a C loop.")
STACK_ONLY_KB = Threshold(
    "STACK_ONLY_KB", 16, "kB per idle connection, when threads was not run", "physical",
    "Without the threads model to compare with, the cheapest a thread per connection can "
    "be is its kernel stack (16 KiB on x86-64, the machine fact in meta.json): an event "
    "model under it holds a connection for less than one thread would cost.")
THRESHOLDS = [THREADS_ADDED, MEM_FACTOR, STACK_ONLY_KB, P99_FACTOR, P99_SLACK_US]


def plan(ctx):
    pts = []
    for rep, n, m in ctx.interleave(IDLE[ctx.mode], ctx.models(MODELS, QUICK_MODELS)):
        pts.append(Point(experiment=NAME, model=m, variant="open", conns=LOAD_CONNS,
                         idle_conns=n, rate=LOAD_RATE, rep=rep, duration=ctx.window,
                         warmup=ctx.warmup, timeout_ms=ctx.timeout_ms,
                         server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def per_conn_cost(lo, hi, n, kstack_kb):
    """Memory (kB) per connection added between two rows of one repetition:
    the change in resident memory plus one kernel stack per added thread, over the
    connections added.  The measured KernelStack change is system-wide and moves
    with anything else the machine does, hence the machine's stack size times the
    threads the server's own /proc says it added."""
    r0, r1, t0, t1 = (num(lo, "rss_kb"), num(hi, "rss_kb"), num(lo, "threads"), num(hi, "threads"))
    if None in (r0, r1, t0, t1) or n <= 0:
        return None
    return ((r1 - r0) + kstack_kb * max(0.0, t1 - t0)) / n


def _rows(d):
    return A.where(d.rows, path="*", variant="open")


def kmem(r):
    ks, sm = num(r, "kernel_stack_kb"), num(r, "sock_mem_kb")
    if ks is None and sm is None:
        return None
    return (ks or 0) + (sm or 0)


def figures(d):
    rows = _rows(d)
    per = [A.by_series(rows, "idle_conns", "rss_kb"), A.by_series(rows, "idle_conns", kmem),
           A.by_series(rows, "idle_conns", "threads"), A.by_series(rows, "idle_conns", "p99_us")]
    labels, data = plots.multi_lines_data(per)
    if not labels:
        return []
    v = plots.series_vars(labels)
    v.update({"w": 1100, "h": 820, "rate": str(LOAD_RATE)})
    return [plots.Figure("idle_memory", "idle_memory.gp",
                         "Against N idle keep-alive connections: server resident memory, kernel "
                         "memory (change in thread stacks plus TCP socket buffers, system-wide), "
                         "threads, and the p99 of a light %d req/s load on %d other connections."
                         % (LOAD_RATE, LOAD_CONNS), data, v)]


def per_conn(rows, series, kstack_kb=16):
    """What N idle connections cost one series: medians over repetitions, and each
    repetition's rows at N=0 and the largest N (for the checks)."""
    mine = [r for r in rows if A.series(r) == series]
    ns = sorted({int(num(r, "idle_conns")) for r in mine})
    if len(ns) < 2 or ns[0] != 0:
        return None
    top = ns[-1]
    at = lambda n: [r for r in mine if int(num(r, "idle_conns")) == n]
    r0, r1 = at(0), at(top)
    med = lambda rs, f: A.median_of(rs, f)
    costs = [per_conn_cost(a, b, top, kstack_kb) for a, b in verdict.by_rep(r0, r1).values()]
    cost = A.agg(costs)
    k0, k1 = med(r0, kmem), med(r1, kmem)
    t0, t1 = med(r0, "threads"), med(r1, "threads")
    rss0, rss1 = med(r0, "rss_kb"), med(r1, "rss_kb")
    return {"n": top, "rows0": r0, "rows1": r1, "total_kb": cost[0] if cost else None,
            "user_kb": None if None in (rss0, rss1) else (rss1 - rss0) / top,
            "stacks_kb": None if None in (t0, t1) else kstack_kb * max(0, t1 - t0) / top,
            "kernel_kb": None if None in (k0, k1) else (k1 - k0) / top,
            "threads0": t0, "threads1": t1,
            "p99_0": med(r0, "p99_us"), "p99_1": med(r1, "p99_us"),
            "lost1": med(r1, A.unanswered), "ans1": med(r1, A.answered)}


def tables(d):
    rows = _rows(d)
    out = []
    h, b = A.pivot(rows, "idle_conns", "rss_kb", col_fmt=lambda c: "N=%d" % c)
    if b:
        out.append(("Server resident memory (kB) by idle connections", h, b))
    h, b = A.pivot(rows, "idle_conns", kmem, col_fmt=lambda c: "N=%d" % c)
    if b:
        out.append(("Kernel memory change (thread stacks + TCP buffers, kB) by idle connections", h, b))
    h, b = A.pivot(rows, "idle_conns", "threads", col_fmt=lambda c: "N=%d" % c)
    if b:
        out.append(("Server threads by idle connections", h, b))
    h, b = A.pivot(rows, "idle_conns", "p99_us", fmt=A.fmt_us, col_fmt=lambda c: "N=%d" % c)
    if b:
        out.append(("Active clients' p99 (%d req/s on %d connections) by idle connections"
                    % (LOAD_RATE, LOAD_CONNS), h, b))
    body = []
    ks = d.fact("kernel_stack_kb_per_thread", 16)
    for s in sorted({A.series(r) for r in rows}, key=A.series_key):
        pc = per_conn(rows, s, ks)
        if pc:
            body.append([s, "%d" % pc["n"], A.fmt_num(pc["user_kb"]), A.fmt_num(pc["stacks_kb"]),
                         A.fmt_num(pc["total_kb"]), A.fmt_num(pc["kernel_kb"]),
                         A.fmt_num(pc["threads1"])])
    if body:
        out.append(("Cost per idle connection (kB): resident memory, kernel stacks (%d kB per added "
                    "thread), their total (what the verdict uses), and the measured system-wide "
                    "kernel memory change for comparison" % ks,
                    ["series", "N", "RSS", "kernel stacks", "total", "measured kernel Δ",
                     "threads at N"], body))
    return out


def verdicts(d):
    rows = _rows(d)
    ks = d.fact("kernel_stack_kb_per_thread", 16)
    models_ = sorted({A.series(r) for r in rows}, key=A.series_key)
    pcs = {m: per_conn(rows, m, ks) for m in models_}
    th = pcs.get("threads")
    evs = [m for m in event_models(models_) if pcs.get(m)]
    cost = lambda a, b, n: per_conn_cost(a, b, n, ks)
    out = []
    checks = []
    # Memory is judged on resident memory (the server's own) plus the kernel stacks of
    # the threads it added; the measured kernel figures are system-wide changes, shown
    # in the figure and tables, but anything else the machine does moves them.
    for m in evs:
        pc = pcs[m]
        n = pc["n"]
        checks.append(verdict.check(
            "%s holds %d idle connections without a thread each: at most %d threads added "
            "(%s -> %s)" % (m, n, THREADS_ADDED.value, A.fmt_num(pc["threads0"]),
                            A.fmt_num(pc["threads1"])),
            [pc["rows0"], pc["rows1"]],
            lambda a, b: None if num(a, "threads") is None or num(b, "threads") is None
            else num(b, "threads") - num(a, "threads") <= THREADS_ADDED.value, lag_ok=True))
        if th and th["n"] == n:
            checks.append(verdict.check(
                "%s spends at most 1/%g of the threads model's memory per idle connection "
                "(%s vs %s kB: resident memory + %d kB per added thread's kernel stack)"
                % (m, MEM_FACTOR.value, A.fmt_num(pc["total_kb"]), A.fmt_num(th["total_kb"]), ks),
                [pc["rows0"], pc["rows1"], th["rows0"], th["rows1"]],
                lambda a, b, c, e: _le(cost(a, b, n), cost(c, e, n), 1.0 / MEM_FACTOR.value),
                lag_ok=True))
        else:
            checks.append(verdict.check(
                "%s spends under %d kB per idle connection, one thread's kernel stack (%s kB)"
                % (m, STACK_ONLY_KB.value, A.fmt_num(pc["total_kb"])),
                [pc["rows0"], pc["rows1"]],
                lambda a, b: None if cost(a, b, n) is None else cost(a, b, n) < STACK_ONLY_KB.value,
                lag_ok=True))
        checks.append(verdict.check(
            "%s: the active clients' p99 with %d idle connections stays within %gx + %s of "
            "that with none (%s -> %s, unanswered requests counted as the timeout)"
            % (m, n, P99_FACTOR.value, A.fmt_us(P99_SLACK_US.value),
               A.fmt_us(pc["p99_0"]), A.fmt_us(pc["p99_1"])),
            [pc["rows0"], pc["rows1"]],
            lambda a, b: None if num(a, "p99_us") is None or num(b, "p99_us") is None
            else num(b, "p99_us") <= P99_FACTOR.value * num(a, "p99_us") + P99_SLACK_US.value))
    if checks:
        out.append(verdict.from_checks("C2", checks, NAME))
    else:
        out.append(verdict.Verdict("C2", verdict.NOT_DECIDED, "no event model was measured at "
                                   "N=0 and a larger N", NAME))
    checks = []
    for m in evs:
        pc = pcs[m]
        if not th or pc["n"] != th["n"]:
            continue
        n = th["n"]
        checks.append(verdict.check(
            "threads: an idle connection costs at least %gx the memory it costs %s (%s kB, of "
            "which %s kB kernel stack, vs %s kB)"
            % (MEM_FACTOR.value, m, A.fmt_num(th["total_kb"]), A.fmt_num(th["stacks_kb"]),
               A.fmt_num(pc["total_kb"])),
            [th["rows0"], th["rows1"], pc["rows0"], pc["rows1"]],
            lambda a, b, c, e, n=n: _le(cost(c, e, n), cost(a, b, n), 1.0 / MEM_FACTOR.value),
            lag_ok=True))
    if checks:
        out.append(verdict.from_checks("C3", checks, NAME))
    else:
        out.append(verdict.Verdict("C3", verdict.NOT_DECIDED,
                                   "needs the threads model and an event model", NAME))
    return out


def _le(a, b, factor):
    if a is None or b is None:
        return None
    return a <= factor * b


def context(d):
    rows = _rows(d)
    pc = per_conn(rows, "pool", d.fact("kernel_stack_kb_per_thread", 16))
    out = [kernel_note(d)]
    if pc and pc["n"]:
        out.append("pool (a fixed set of worker threads, each owning a connection until it closes): "
                "with %d idle connections its active clients' p99 is %s and %s of their requests "
                "went unanswered: idle keep-alive connections hold the workers."
                % (pc["n"], A.fmt_us(pc["p99_1"]), A.fmt_num(pc["lost1"])))
    return out


def kernel_note(d):
    return ("Kernel memory in the figure is the measured system-wide change in KernelStack and "
            "TCP socket memory since before the server started; anything else running meanwhile "
            "moves it by megabytes, so the verdict counts resident memory plus the kernel's "
            "stack size (%s kB on the run's machine, meta.json) per added thread."
            % d.fact("kernel_stack_kb_per_thread", 16))
