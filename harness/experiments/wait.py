"""wait — requests that wait (C8): one thread holds many waiting requests.

The claim the Node.js literature leads with: while a request waits on I/O (a
database, a disk), the event loop "does not wait for those tasks to finish before
moving on to the next request", so one thread keeps many waiting requests in
flight.  `GET /sleep?ms=100` is that wait: an event model arms a timer of its own
loop and serves others meanwhile; a blocking model waits in the thread serving the
connection.

Closed loop: N connections each send `/sleep?ms=100` (D = 100 ms) and the next as
soon as the answer is in, N from 1 to 5,000 (10,000 in full mode).  By Little's law
a server that keeps all N waits in flight answers N/D requests/s; one that holds one
wait at a time (iterative) 1/D; a pool of T threads T/D.  Measured beside the
requests/s: the server's threads, memory, CPU per request and p99.  Then "moving on
to the next request": an open-loop `GET /` stream at 5,000 requests/s on 50
connections, alone and beside 1,000 connections each with a `/sleep?ms=100`
outstanding (a second load generator, closed loop), its p99 compared.

A wait costs no CPU, so short windows see many of them: quick mode runs 0.5 s
windows (five waits of every connection) after 0.2 s of warm-up, and fewer
x-values for the models whose curve another one shows (libev's is epoll's, pool's
is threads' up to its 64 workers).  Iterative stops at 100 connections (1,000 in full
mode): it serves one connection until it closes, so every other client only waits,
and beyond the listen backlog (4,096) its clients cannot even connect.  Full mode
adds prefork, whose 64 worker processes hold one wait each as pool's 64 threads
do, and uring, an event model checked as the others are.
"""
from lib import analysis as A
from lib import plots, verdict
from lib.csvio import num
from lib.exp import event_models
from lib.plan import Point
from lib.verdict import P99_SLACK_US, UNANSWERED_MAX, Check, Threshold

from experiments.concurrency import ONE_AT_A_TIME

NAME = "wait"
TITLE = "Requests that wait: one thread holds many"
CLAIMS = ["C8"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["iterative", "threads", "pool", "prefork", "epoll", "libev", "libuv", "uring", "node"]
QUICK_MODELS = ["iterative", "threads", "pool", "epoll", "libev", "libuv", "node"]
QUICK_BUDGET_S = 90
ABOUT = __doc__.split("\n", 2)[2].strip()

D_MS = 100                  # each request waits this long
SLEEP = "/sleep?ms=%d" % D_MS
POOL_THREADS = 64           # the pool model's default --threads (docs/contract.md)
# The models that hold one wait per worker, and their workers (the defaults of
# --threads and --procs): pool's threads, prefork's processes.
WORKERS = {"pool": POOL_THREADS, "prefork": 64}
CONNS = {"smoke": [1, 100], "quick": [1, 1000, 5000],
         "full": [1, 10, 100, 1000, 5000, 10000]}
QUICK_CONNS = {"libev": [1, 5000], "threads": [1, 5000], "pool": [5000]}
ITERATIVE_CONNS = {"smoke": [1, 100], "quick": [1, 100], "full": [1, 10, 100, 1000]}
WINDOW = {"quick": 0.5}     # others: the mode's
WARMUP = {"quick": 0.2}
CONNECTS_PER_S = 10000.0    # the generator's connect ramp, inside its warm-up
# Clients the server starves (pool beyond its workers, iterative beyond one) time out
# after this long, reconnect and count as unanswered; the others wait D, so their
# timeout only has to cover a server slowed by its CPU.
TIMEOUT_MS = {"smoke": 1000, "quick": 1000, "full": 2000}
STARVED_TIMEOUT_MS = {"smoke": 500, "quick": 500, "full": 1000}

# The generator's loop delays each answer it handles by at most its turn's lag, so a
# closed-loop cycle of D grows by at most that: a lag under D/10 cannot take a server
# that holds every wait below WAIT_HELD (0.9 N/D needs a cycle of 1.11 D).  loadgen
# flags a lag of 1 ms, which its turns of up to 256 answers reach at 50,000 req/s
# without the generator being anywhere near busy.  The generator of the 1,000 waiting
# connections beside the GET / stream only keeps their waits in flight, so the same
# bound holds for it; the GET / stream's own generator is timed in milliseconds, and
# there loadgen's rule stands.
GEN_LAG_TOLERANCE_US = D_MS * 1000 // 10

WAITING = 1000              # connections waiting beside the GET / stream
BESIDE_RATE = 5000
BESIDE_CONNS = 50
BESIDE_MODELS = {"smoke": ["epoll"], "quick": ["epoll", "libev", "libuv"],
                 "full": ["threads", "pool", "epoll", "libev", "libuv", "uring", "node"]}

WAIT_HELD = Threshold(
    "WAIT_HELD", 0.9, "of N/D (closed-loop requests/s, N connections each waiting D)", "physical",
    "A server that keeps all N waits in flight answers N/D requests/s by Little's law, less "
    "what a cycle adds to D: the timer's rounding up to the next millisecond and a loopback "
    "round trip, 1-2 % at D = 100 ms.  Holding one wait at a time gives 1/D (0.02 % of "
    "N/D at 5,000 connections), a pool of 64 threads 64/D (1.3 %).  0.9 leaves room for the "
    "generator's own latency on a shared core and lies far from anything that does not hold "
    "every wait.")
CPU_BOUND = Threshold(
    "CPU_BOUND", 0.8, "of the server's core (its CPU time over the window)", "physical",
    "A loop that keeps its core busy is limited by its CPU, not by the waiting: the point "
    "says nothing about holding waits (node spends several times a C loop's CPU per "
    "request, so it gets there at fewer connections).  Below 80 % of the core the loop "
    "still has time to spare, and the check is made at the largest N that stays below it.  "
    "A loop that waited for its sleeps instead would use almost no CPU, so this never "
    "excuses one.")
MANY_WAITS = Threshold(
    "MANY_WAITS", 1000, "requests waiting at once", "source",
    "\"Many\" in the claim: the C10K problem that made event loops popular is about "
    "thousands of concurrent clients (Kegel, 1999), and a thread-per-request server still "
    "copes with hundreds.  A check at fewer than 1,000 waiting requests would not test the "
    "claim.")
THREADS_PER_WAIT = Threshold(
    "THREADS_PER_WAIT", 0.01, "server threads per waiting request (at the checked N)",
    "physical",
    "A thread per waiting request is one per request (1,000 threads at 1,000 connections). "
    "An event loop holds them on a fixed handful: the C models 2 (the loop and the signal "
    "thread), node about 7 (its runtime's helpers).  One thread per hundred waits, 10 at "
    "1,000, lets the handful pass and stops anything that grows with the connections, by "
    "two orders of magnitude either way.")
WORKERS_CAP = Threshold(
    "WORKERS_CAP", 1.2, "x T/D (pool's requests/s with more connections than its T = 64 workers)",
    "physical",
    "A pool whose workers each hold a connection until it closes waits on at most T requests "
    "at once: T/D requests/s, 640 at D = 100 ms, whatever the connections.  20 % covers the "
    "window's edges; a pool that answered more would be holding waits outside its workers.")
BESIDE_FACTOR = Threshold(
    "BESIDE_FACTOR", 2.0, "x (GET / p99 beside 1,000 waiting connections / alone)", "physical",
    "1,000 waiting connections cost a loop a timer each and 1,000/D = 10,000 wake-ups a "
    "second, about a tenth of a core at 10 µs each, so a GET / arriving beside them may wait "
    "behind a batch of answers but never for a wait itself.  A loop that waited for its "
    "sleeps would hold a GET / for up to D (100 ms), tens of times its p99 alone.  Twice the "
    "p99 alone, plus a scheduler slice (P99_SLACK_US), lies between.")
THRESHOLDS = [WAIT_HELD, CPU_BOUND, MANY_WAITS, THREADS_PER_WAIT, WORKERS_CAP, BESIDE_FACTOR,
              ONE_AT_A_TIME, P99_SLACK_US, UNANSWERED_MAX]


def ideal(n):
    """N/D: the requests/s of N connections whose requests each wait D."""
    return n * 1000.0 / D_MS


def _starves(model, n):
    """True where the model holds fewer waits than connections (its clients time out)."""
    return (model == "iterative" and n > 1) or (model in WORKERS and n > WORKERS[model])


def _conns(ctx, model):
    if model == "iterative":
        return ITERATIVE_CONNS[ctx.mode]
    if ctx.mode == "quick" and model in QUICK_CONNS:
        return QUICK_CONNS[model]
    return CONNS[ctx.mode]


def _pt(ctx, model, n, rep, **kw):
    window = WINDOW.get(ctx.mode, ctx.window)
    warmup = WARMUP.get(ctx.mode, ctx.warmup) + (n / CONNECTS_PER_S if n > 1000 else 0)
    starved = _starves(model, n)
    timeout = (STARVED_TIMEOUT_MS if starved else TIMEOUT_MS)[ctx.mode]
    base = dict(experiment=NAME, model=model, variant="closed", conns=n, path=SLEEP,
                work_path="/sleep", work_us=D_MS * 1000, rep=rep, duration=window,
                warmup=warmup, timeout_ms=timeout, server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS,
                drain_s=timeout / 1000.0 if starved else D_MS / 1000.0,
                gen_lag_tolerance_us=GEN_LAG_TOLERANCE_US)
    base.update(kw)
    return Point(**base)


def plan(ctx):
    ms = ctx.models(MODELS, QUICK_MODELS)
    beside = [m for m in ms if m in BESIDE_MODELS[ctx.mode]]
    sweep = sorted({n for m in ms for n in _conns(ctx, m)})
    pts = []
    for rep, n, m in ctx.interleave(sweep, ms):
        if n in _conns(ctx, m):
            pts.append(_pt(ctx, m, n, rep))
    window = WINDOW.get(ctx.mode, ctx.window)
    warmup = WARMUP.get(ctx.mode, ctx.warmup)
    for rep, variant, m in ctx.interleave(["alone", "beside"], beside):
        pts.append(Point(experiment=NAME, model=m, variant=variant, conns=BESIDE_CONNS,
                         rate=BESIDE_RATE, path="/", work_path="/sleep", work_us=D_MS * 1000,
                         wait_conns=WAITING if variant == "beside" else 0,
                         wait_path=SLEEP if variant == "beside" else None,
                         wait_lag_tolerance_us=GEN_LAG_TOLERANCE_US if variant == "beside" else None,
                         rep=rep, duration=window, warmup=warmup, timeout_ms=TIMEOUT_MS[ctx.mode],
                         server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS,
                         drain_s=D_MS / 1000.0 if variant == "beside" else 0.0))
    return pts


# --- data -----------------------------------------------------------------------

def _rows(d, variant):
    return A.where(d.rows, variant=variant, path="*")


def _at(rows, model, n):
    return [r for r in rows if A.series(r) == model and num(r, "conns") == n]


def _of_ideal(r):
    rps, n = num(r, "rps"), num(r, "conns")
    return None if rps is None or not n else rps / ideal(n)


def _busy(r):
    """The share of a core the server used over the window."""
    c, t = num(r, "cpu_s"), num(r, "duration_s")
    return None if c is None or not t else c / t


def _ns(rows, model):
    return sorted({int(num(r, "conns")) for r in rows if A.series(r) == model})


def check_conns(rows, model):
    """(N, CPU-bound Ns above it): the largest N with at least MANY_WAITS waiting
    requests at which the server's core stays below CPU_BOUND busy (median) --
    where the waiting, not the CPU, limits it -- or None."""
    ok, bound = [], []
    for n in _ns(rows, model):
        if n < MANY_WAITS.value:
            continue
        busy = A.median_of(_at(rows, model, n), _busy)
        (ok if busy is not None and busy <= CPU_BOUND.value else bound).append(n)
    n = ok[-1] if ok else None
    return n, [b for b in bound if n is None or b > n]


# --- figures and tables ------------------------------------------------------------

def figures(d):
    figs = []
    closed = _rows(d, "closed")
    per = A.by_series(closed, "conns", "rps")
    if per:
        v = plots.series_vars(list(per))
        v.update({"d_ms": D_MS, "pool_t": POOL_THREADS})
        figs.append(plots.Figure(
            "wait_rps", "wait_rps.gp",
            "N connections each sending GET /sleep?ms=%d in a closed loop: requests/s against N "
            "(log-log), beside the ideal N/D of a server that keeps every wait in flight, T/D of "
            "a pool of %d threads and 1/D of one wait at a time. One core for the server, one "
            "for the load generator." % (D_MS, POOL_THREADS), plots.lines_data(per), v))
    labels, data = plots.multi_lines_data([A.by_series(closed, "conns", "threads"),
                                           A.by_series(closed, "conns", "rss_kb"),
                                           A.by_series(closed, "conns", "cpu_us_per_req")])
    if labels:
        v = plots.series_vars(labels)
        v.update({"w": 1200, "h": 480})
        figs.append(plots.Figure(
            "wait_cost", "wait_cost.gp",
            "What holding N waiting requests costs the server (closed loop, GET /sleep?ms=%d): "
            "threads, resident memory and CPU per request." % D_MS, data, v))
    bars = []
    alone, beside = _rows(d, "alone"), _rows(d, "beside")
    for s in sorted({A.series(r) for r in alone + beside}, key=A.series_key):
        a = A.agg_rows([r for r in alone if A.series(r) == s], "p99_us")
        b = A.agg_rows([r for r in beside if A.series(r) == s], "p99_us")
        if a or b:
            bars.append((s, plots.model_color(s), list((a or (None,) * 3)[:3]) +
                         list((b or (None,) * 3)[:3])))
    if bars:
        figs.append(plots.Figure(
            "wait_beside", "wait_beside.gp",
            "Moving on to the next request: p99 of an open-loop GET / stream at %d requests/s "
            "on %d connections, alone (solid) and beside %d connections each waiting on a "
            "GET /sleep?ms=%d (hatched). Each request never answered counts as the generator's "
            "timeout." % (BESIDE_RATE, BESIDE_CONNS, WAITING, D_MS), plots.bars_data(bars),
            {"subtitle": "%d req/s GET /, %d waiting connections beside it" % (BESIDE_RATE, WAITING)}))
    return figs


def _pct(v):
    return "—" if v is None else "%.0f%%" % (100 * v)


def tables(d):
    out = []
    closed = _rows(d, "closed")
    h, b = A.pivot(closed, "conns", "rps")
    if b:
        out.append(("Requests/s by connections (ideal N/D: %s)"
                    % ", ".join("%d: %s" % (n, A.fmt_num(ideal(n))) for n in
                                sorted({int(num(r, "conns")) for r in closed})), h, b))
    h, b = A.pivot(closed, "conns", _of_ideal, fmt=_pct)
    if b:
        out.append(("Requests/s as a share of N/D", h, b))
    h, b = A.pivot(closed, "conns", "threads")
    if b:
        out.append(("Server threads under load", h, b))
    h, b = A.pivot(closed, "conns", lambda r: (num(r, "rss_kb") or 0) / 1024 if num(r, "rss_kb")
                   is not None else None)
    if b:
        out.append(("Server resident memory (MiB)", h, b))
    h, b = A.pivot(closed, "conns", "cpu_us_per_req")
    if b:
        out.append(("Server CPU per request (µs)", h, b))
    h, b = A.pivot(closed, "conns", "p99_us", fmt=A.fmt_us)
    if b:
        out.append(("p99 latency (a request never answered counts as the timeout)", h, b))
    h, b = A.pivot(closed, "conns", A.unanswered, fmt=lambda v: "%d" % v)
    if b:
        out.append(("Requests never answered (clients the server starves time out)", h, b))
    body = []
    alone, beside = _rows(d, "alone"), _rows(d, "beside")
    waits = _waiting_rps(d)
    for s in sorted({A.series(r) for r in alone + beside}, key=A.series_key):
        ra = [r for r in alone if A.series(r) == s]
        rb = [r for r in beside if A.series(r) == s]
        w = A.agg(waits.get(s, []))
        body.append([s, A.fmt_us(A.median_of(ra, "p99_us")), A.fmt_us(A.median_of(rb, "p99_us")),
                     A.fmt_num(A.median_of(rb, A.unanswered)),
                     A.fmt_num(w[0] if w else None), A.fmt_num(A.median_of(rb, "threads"))])
    if body:
        out.append(("GET / at %d req/s: p99 alone and beside %d waiting connections (their "
                    "waits answered per second: %s at most, %d x 1/D)"
                    % (BESIDE_RATE, WAITING, A.fmt_num(ideal(WAITING)), WAITING),
                    ["series", "p99 alone", "p99 beside", "unanswered beside",
                     "waits answered/s beside", "threads beside"], body))
    return out


def _waiting_rps(d):
    """{series: [requests/s of the waiting connections' generator, per beside point]}
    from the raw JSON the runner keeps beside each point."""
    import os
    from lib.loadgen import read_json
    out = {}
    for p in d.points:
        if p.get("variant") != "beside" or p.get("status") != "ok":
            continue
        j = read_json(os.path.join(d.exp_dir, p["base"] + ".waiting.loadgen.json"))
        if j and j.get("rps") is not None:
            out.setdefault(p["series"], []).append(j["rps"])
    return out


# --- the rule -----------------------------------------------------------------------

def c8_checks(d):
    """C8: each event model answers ~N/D with N >= MANY_WAITS requests waiting (where
    its CPU is not the limit) on threads that do not grow with N, and keeps a GET /
    stream's p99 beside 1,000 waits; the blocking models, as the waiting is real,
    hold one wait per thread: iterative one, pool T (prefork: one per process)."""
    closed = _rows(d, "closed")
    checks = []
    for m in event_models(sorted({r["model"] for r in closed}, key=A.series_key)):
        n, bound = check_conns(closed, m)
        if n is None:
            checks.append(Check("%s holds >= %d waiting requests" % (m, MANY_WAITS.value), None,
                                verdict.UNMEASURED,
                                "no point with >= %d connections where its core was below %g busy"
                                % (MANY_WAITS.value, CPU_BOUND.value)))
            continue
        rows = _at(closed, m, n)
        note = (" (at %s connections its CPU, not the waiting, was the limit)"
                % ", ".join(map(str, bound))) if bound else ""
        checks.append(verdict.check(
            "%s holds %d waiting requests: >= %d%% of N/D = %s req/s, every request answered "
            "(%s req/s, %s unanswered)%s"
            % (m, n, round(100 * WAIT_HELD.value), A.fmt_num(ideal(n)),
               A.fmt_num(A.median_of(rows, "rps")), A.fmt_num(A.median_of(rows, A.unanswered)), note),
            [rows], lambda r, n=n: A.holds(
                num(r, "rps"), A.unanswered(r),
                lambda rps, lost: rps >= WAIT_HELD.value * ideal(n) and lost <= UNANSWERED_MAX.value)))
        checks.append(verdict.check(
            "%s holds them on a few threads, none per request: at most %g threads per waiting "
            "request at %d connections (%s threads)"
            % (m, THREADS_PER_WAIT.value, n, A.fmt_num(A.median_of(rows, "threads"))),
            [rows], lambda r, n=n: A.holds(num(r, "threads"), n,
                                              lambda t, k: t <= THREADS_PER_WAIT.value * k)))
    it = _ns(closed, "iterative")
    if len(it) >= 2 and it[0] == 1:
        r1, rn = _at(closed, "iterative", 1), _at(closed, "iterative", it[-1])
        checks.append(verdict.check(
            "iterative holds one wait at a time: %d connections get at most %gx the requests/s of "
            "one (%s vs %s; 1/D = %s)"
            % (it[-1], ONE_AT_A_TIME.value, A.fmt_num(A.median_of(rn, "rps")),
               A.fmt_num(A.median_of(r1, "rps")), A.fmt_num(ideal(1))),
            [r1, rn], lambda a, b: A.holds(num(a, "rps"), num(b, "rps"),
                                              lambda x, y: y <= ONE_AT_A_TIME.value * x)))
    for m, t in WORKERS.items():
        po = [n for n in _ns(closed, m) if n > t]
        if not po:
            continue
        rows = _at(closed, m, po[-1])
        cap = ideal(t)
        checks.append(verdict.check(
            "%s holds one wait per worker: with %d connections and %d workers at most %gx "
            "T/D = %s req/s (%s)"
            % (m, po[-1], t, WORKERS_CAP.value, A.fmt_num(cap),
               A.fmt_num(A.median_of(rows, "rps"))),
            [rows], lambda r, cap=cap: A.holds(num(r, "rps"), 0,
                                                  lambda rps, _: rps <= WORKERS_CAP.value * cap)))
    alone, beside = _rows(d, "alone"), _rows(d, "beside")
    for m in event_models(sorted({r["model"] for r in beside}, key=A.series_key)):
        ra = [r for r in alone if A.series(r) == m]
        rb = [r for r in beside if A.series(r) == m]
        if not ra or not rb:
            continue
        checks.append(verdict.check(
            "%s moves on to the next request: GET / p99 at %d req/s beside %d waiting connections "
            "stays within %gx + %s of its p99 alone, every GET / answered (%s vs %s)"
            % (m, BESIDE_RATE, WAITING, BESIDE_FACTOR.value, A.fmt_us(P99_SLACK_US.value),
               A.fmt_us(A.median_of(rb, "p99_us")), A.fmt_us(A.median_of(ra, "p99_us"))),
            [ra, rb], lambda a, b: A.holds(
                num(a, "p99_us"), num(b, "p99_us"),
                lambda pa, pb: pb <= BESIDE_FACTOR.value * pa + P99_SLACK_US.value
                and A.unanswered(b) is not None and A.unanswered(b) <= UNANSWERED_MAX.value)))
    return checks


def verdicts(d):
    checks = c8_checks(d)
    if not checks:
        return [verdict.Verdict("C8", verdict.NOT_DECIDED, "no event model was measured", NAME)]
    return [verdict.from_checks("C8", checks, NAME)]


def context(d):
    closed = _rows(d, "closed")
    out = []
    th = _ns(closed, "threads")
    if th:
        rows = _at(closed, "threads", th[-1])
        out.append("threads (a thread per connection, each waiting in its own thread) at %d "
                   "connections: %s req/s (%s of N/D) with %s threads and %s MiB resident."
                   % (th[-1], A.fmt_num(A.median_of(rows, "rps")),
                      _pct(A.median_of(rows, _of_ideal)), A.fmt_num(A.median_of(rows, "threads")),
                      A.fmt_num((A.median_of(rows, "rss_kb") or 0) / 1024)))
    for m in event_models(sorted({r["model"] for r in closed}, key=A.series_key)):
        n, bound = check_conns(closed, m)
        for b in bound:
            rows = _at(closed, m, b)
            out.append("%s at %d connections kept %s of its core busy (%s µs per request): "
                       "its CPU, not the waiting, limits it there (%s req/s, %s of N/D)."
                       % (m, b, _pct(A.median_of(rows, _busy)),
                          A.fmt_num(A.median_of(rows, "cpu_us_per_req")),
                          A.fmt_num(A.median_of(rows, "rps")), _pct(A.median_of(rows, _of_ideal))))
    return out
