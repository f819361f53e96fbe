"""idle — what idle connections cost (C2, C3).

N idle keep-alive connections (each sent one GET / and then went silent; the idle
timeout is off) are held open by the harness, then a light open-loop load runs on 10
more connections.  Measured against N: the server's resident memory, the change in
the kernel's thread stacks and TCP socket memory, its thread count, and the active
clients' p99.  The iterative server is left out: a single idle connection holds it
forever (that is C3's first half, shown in `concurrency`).
"""
from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.exp import event_models
from lib.plan import Point, interleave

NAME = "idle"
TITLE = "Idle connections: memory, kernel memory and threads"
CLAIMS = ["C2", "C3"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "epoll", "libev", "libuv", "node"]
IDLE = {"smoke": [0, 100], "quick": [0, 1000, 10000], "full": [0, 100, 1000, 2500, 5000, 10000]}
LOAD_CONNS, LOAD_RATE = 10, 1000
# Every thread has a kernel stack of THREAD_SIZE, 16 KiB on x86-64.  The measured
# KernelStack change is system-wide and moves with anything else the machine does,
# so the per-connection cost is judged on resident memory plus this constant times
# the measured change in threads.
KSTACK_KB = 16
ABOUT = __doc__.split("\n", 2)[2].strip()


def plan(ctx):
    pts = []
    for rep, n, m in interleave(ctx.reps, IDLE[ctx.mode], ctx.pick(MODELS)):
        pts.append(Point(experiment=NAME, model=m, variant="open", conns=LOAD_CONNS,
                         idle_conns=n, rate=LOAD_RATE, rep=rep, duration=ctx.window,
                         warmup=ctx.warmup, timeout_ms=ctx.timeout_ms,
                         server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


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


def per_conn(rows, model):
    """Memory per idle connection (kB): (user + kernel at max N - at N=0) / N."""
    mine = [r for r in rows if A.series(r) == model]
    ns = sorted({int(num(r, "idle_conns")) for r in mine})
    if len(ns) < 2 or ns[0] != 0:
        return None
    top = ns[-1]
    at = lambda n, f: A.median_of([r for r in mine if int(num(r, "idle_conns")) == n], f)
    rss0, rss1 = at(0, "rss_kb"), at(top, "rss_kb")
    k0, k1 = at(0, kmem), at(top, kmem)
    if None in (rss0, rss1):
        return None
    user = (rss1 - rss0) / top
    kern = None if None in (k0, k1) else (k1 - k0) / top
    t0, t1 = at(0, "threads"), at(top, "threads")
    stacks = KSTACK_KB * max(0, (t1 or 0) - (t0 or 0)) / top
    return {"n": top, "user_kb": user, "kernel_kb": kern, "stacks_kb": stacks,
            "total_kb": user + stacks, "threads0": t0, "threads1": t1,
            "p99_0": at(0, "p99_us"), "p99_1": at(top, "p99_us"),
            "lost1": at(top, A.starved), "ans1": at(top, A.answered)}


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
    for s in sorted({A.series(r) for r in rows}, key=A.series_key):
        pc = per_conn(rows, s)
        if pc:
            body.append([s, "%d" % pc["n"], A.fmt_num(pc["user_kb"]), A.fmt_num(pc["stacks_kb"]),
                         A.fmt_num(pc["total_kb"]), A.fmt_num(pc["kernel_kb"]),
                         A.fmt_num(pc["threads1"])])
    if body:
        out.append(("Cost per idle connection (kB): resident memory, kernel stacks (16 kB per added "
                    "thread), their total (what the verdict uses), and the measured system-wide "
                    "kernel memory change for comparison",
                    ["series", "N", "RSS", "kernel stacks", "total", "measured kernel Δ",
                     "threads at N"], body))
    return out


def verdicts(d):
    rows = _rows(d)
    models_ = sorted({r["model"] for r in rows}, key=A.series_key)
    pcs = {m: per_conn(rows, m) for m in models_}
    th = pcs.get("threads")
    out = []
    checks = []
    # Memory is judged on resident memory (the server's own); the kernel figures are
    # system-wide changes, shown in the figure and tables, but anything else the
    # machine does moves them by megabytes.
    for m in event_models(models_):
        pc = pcs.get(m)
        if not pc:
            continue
        checks.append(("%s holds %d idle connections without a thread each (%s -> %s threads)"
                       % (m, pc["n"], A.fmt_num(pc["threads0"]), A.fmt_num(pc["threads1"])),
                       pc["threads1"] is not None and pc["threads1"] <= (pc["threads0"] or 0) + 2))
        if th:
            checks.append(("%s spends at most half the memory per idle connection of threads "
                           "(%.1f vs %.1f kB: resident memory + 16 kB per added thread's kernel "
                           "stack)" % (m, pc["total_kb"], th["total_kb"]),
                           pc["total_kb"] <= 0.5 * th["total_kb"]))
        else:
            checks.append(("%s spends under 16 kB per idle connection, one thread's kernel stack "
                           "(%.1f kB)" % (m, pc["total_kb"]), pc["total_kb"] < KSTACK_KB))
        if pc["p99_0"] is not None and pc["p99_1"] is not None:
            checks.append(("%s active p99 stays within 2x + 1 ms with %d idle connections, >= 99%% "
                       "answered (%s -> %s)"
                           % (m, pc["n"], A.fmt_us(pc["p99_0"]), A.fmt_us(pc["p99_1"])),
                           pc["p99_1"] <= 2 * pc["p99_0"] + 1000 and (pc["ans1"] or 0) >= 0.99))
    if checks:
        out.append(verdict.from_checks("C2", checks, NAME))
    else:
        out.append(verdict.Verdict("C2", verdict.UNTESTABLE, "no event model was measured at N=0 "
                                   "and a larger N", NAME))
    checks = []
    if th:
        checks.append(("threads: one thread per idle connection (%s threads at N=%d)"
                       % (A.fmt_num(th["threads1"]), th["n"]),
                       th["threads1"] is not None and th["threads1"] >= 0.9 * th["n"]))
        ev = [pcs[m]["total_kb"] for m in event_models(models_) if pcs.get(m)]
        if ev:
            checks.append(("threads: that costs at least twice the memory per connection of the "
                           "event loops (%.1f kB, of which %.0f kB kernel stack, vs at most %.1f kB)"
                           % (th["total_kb"], th["stacks_kb"], max(ev)),
                           th["total_kb"] >= 2 * max(ev)))
    if checks:
        out.append(verdict.from_checks("C3", checks, NAME))
    else:
        out.append(verdict.Verdict("C3", verdict.UNTESTABLE, "the threads model was not measured",
                                   NAME))
    return out


def context(d):
    rows = _rows(d)
    pc = per_conn(rows, "pool")
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
            "moves it by megabytes, so the verdict counts resident memory plus 16 kB (x86-64's "
            "kernel stack) per added thread.")
