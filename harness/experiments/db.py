"""db — requests that wait on a real database (C8).

Every request waits on PostgreSQL: `GET /db` (one query) and `GET /queries?n=20`
(twenty queries, one after another, as TechEmpower asks), closed loop at 16, 64,
256 and 512 connections (TechEmpower's levels; quick mode runs /db at 16 and 256
and /queries at 256), every model with the same 4 database connections
(`--db-conns 4`).  The blocking models lend a serving thread one of the 4
connections at a time and wait in libpq; the event models pipeline many queries
on each of the 4 from their loop (libpq's pipeline mode); node uses pg's Pool of 4.

The database shares this 2-core machine, and shares it with the server: server and
database (its postmaster and every backend, pinned by taskset) on core 0, the load
generator alone on core 1.  On the generator's core the database would delay the
generator's loop by milliseconds and make it the bottleneck (its points invalid); on
the server's core the two compete for one core as an application server and its
database on one machine do, and each one's CPU is measured apart over the same
window (the database's from its processes' clocks, backends that exited included).
So the server's CPU per request is the model's, and a model that spends less leaves
more of the core to the database.  A point whose core is busy is marked by who used
more of it: `database` or `server`; `neither` when the core had time to spare (the
round trips set the pace).  Where the database is the bottleneck the models differ
by how well they keep its 4 connections busy and by what they leave it of the core.
"""
from lib import analysis as A
from lib import models, plots, verdict
from lib.csvio import num
from lib.plan import Point
from lib.verdict import UNANSWERED_MAX, Threshold

NAME = "db"
TITLE = "Requests that wait on PostgreSQL: /db and /queries at equal database connections"
CLAIMS = ["C8"]
USES_DB = True
SERVER_CPUS, GEN_CPUS = "0", "1"
# The database beside the server, not beside the load generator: see ABOUT.
DB_CPUS = "0"
DB_MAX_CONNECTIONS = 100
MODELS = ["iterative", "threads", "pool", "epoll", "libev", "libuv", "node"]
QUICK_MODELS = ["threads", "pool", "epoll", "libuv", "node"]
QUICK_BUDGET_S = 120
DB_CONNS = 4
QUERIES = 20
ROUTES = ["/db", "/queries?n=%d" % QUERIES]
CONNS = [16, 64, 256, 512]
# Quick mode: (route, connections).
QUICK_POINTS = [("/db", 16), ("/db", 256), (ROUTES[1], 256)]
# The connections the rule judges at: TechEmpower's middle level, many more
# waiting requests than database connections or loop threads.
JUDGE_CONNS = 256
BLOCKING = ["threads", "pool"]
ABOUT = __doc__.split("\n", 2)[2].strip()

DB_THREADS_MAX = Threshold(
    "DB_THREADS_MAX", 32, "server threads with 256 requests waiting", "physical",
    "A server that gives each waiting request a thread has at least 256 threads at 256 "
    "connections (threads: one per connection).  A loop holds every waiting request in one "
    "thread; its runtime adds a fixed few (libuv's and node's helpers: node has about a "
    "dozen), never one per request.  32 lies far from both.")
DB_SHARE = Threshold(
    "DB_SHARE", 0.8, "x the better blocking model's req/s (same route, connections and "
    "--db-conns)", "noise",
    "Two runs' requests/s agree within 10 % on this machine (make bench's tolerance); 0.8 "
    "is twice that below.  With the same 4 database connections, a loop that never blocks "
    "on a query keeps them as busy as a pool of threads does (more, with pipelining); a "
    "loop that waited in the loop for each query would serve one query per round trip to "
    "the database and fall far below, at any number of connections.")
DB_BUSY = Threshold(
    "DB_BUSY", 0.8, "of the core server and database share (their CPU together over the "
    "window)", "physical",
    "Marks a point whose one core is the bottleneck, and by whom: server and database "
    "together used at least 80 % of it, and the one that used more is named.  A core "
    "two processes hand back and forth through sockets is never 100 % busy (each "
    "switch between them waits on a wake-up), and below 80 % it had time to spare: "
    "there round trips, not CPU, set the pace.")
THRESHOLDS = [DB_THREADS_MAX, DB_SHARE, DB_BUSY, UNANSWERED_MAX]


def plan(ctx):
    ms = ctx.models(MODELS, QUICK_MODELS)
    sweep = QUICK_POINTS if ctx.mode == "quick" else [(r, c) for r in ROUTES for c in CONNS]
    pts = []
    for rep, (route, c), m in ctx.interleave(sweep, ms):
        pts.append(Point(experiment=NAME, model=m, conns=c, path=route,
                         work_path=route, db_conns=DB_CONNS, rep=rep, duration=ctx.window,
                         warmup=ctx.warmup, timeout_ms=ctx.timeout_ms,
                         server_cpus=SERVER_CPUS, gen_cpus=GEN_CPUS))
    return pts


def _rows(d, route):
    return [r for r in A.where(d.rows, variant="closed", path="*") if r["work_path"] == route]


def _of(rows, s, conns=None):
    return [r for r in rows if A.series(r) == s and (conns is None or num(r, "conns") == conns)]


def _cores(r, col):
    v, dur = num(r, col), num(r, "duration_s")
    return None if v is None or not dur else v / dur


def bottleneck(r):
    """On the core server and database share: `database` or `server` when it
    was busy (DB_BUSY), by who used more of it; `neither` when it had time to
    spare (the round trips set the pace); None when not measured."""
    db, srv = _cores(r, "db_cpu_s"), _cores(r, "cpu_s")
    if db is None or srv is None:
        return None
    if db + srv < DB_BUSY.value:
        return "neither"
    return "database" if db > srv else "server"


def _bound(rows):
    """The bottleneck of a point over its repetitions ("database" in 2 of 3 ...)."""
    b = [bottleneck(r) for r in rows]
    b = [x for x in b if x]
    if not b:
        return "—"
    top = max(set(b), key=b.count)
    return top if b.count(top) == len(b) else "%s in %d of %d" % (top, b.count(top), len(b))


def figures(d):
    figs = []
    for i, route in enumerate(ROUTES):
        per = A.by_series(_rows(d, route), "conns", "rps")
        if not per:
            continue
        v = plots.series_vars(list(per))
        v.update({"title": "Closed loop GET %s, --db-conns %d: throughput vs connections"
                  % (route, DB_CONNS)})
        figs.append(plots.Figure("db_conns_%d" % (i + 1), "db_conns.gp",
                                 "Closed-loop GET %s against connections, every model with %d "
                                 "database connections. Server and PostgreSQL on core %s; the "
                                 "load generator on core %s." % (route, DB_CONNS, DB_CPUS,
                                                                 GEN_CPUS),
                                 plots.lines_data(per), v))
    bars = []
    rows = [r for r in _rows(d, "/db") if num(r, "conns") == JUDGE_CONNS]
    for s in sorted({A.series(r) for r in rows}, key=A.series_key):
        a = A.agg_rows(_of(rows, s), "cpu_us_per_req")
        b = A.agg_rows(_of(rows, s), "db_cpu_us_per_req")
        if a or b:
            bars.append((s, plots.model_color(s), list(a[:3] if a else (None,) * 3)
                         + list(b[:3] if b else (None,) * 3)))
    if bars:
        figs.append(plots.Figure("db_cpu", "db_cpu.gp",
                                 "CPU per GET /db at %d connections: the server's and the "
                                 "database's (its postmaster and backends), on the core they "
                                 "share; medians with min-max bars." % JUDGE_CONNS,
                                 plots.bars_data(bars), {"conns": JUDGE_CONNS}))
    return figs


def tables(d):
    out = []
    for route in ROUTES:
        rows = _rows(d, route)
        body = []
        for s in sorted({A.series(r) for r in rows}, key=A.series_key):
            for c in sorted({num(r, "conns") for r in _of(rows, s)}):
                g = _of(rows, s, c)
                body.append([s, "%d" % c, A.fmt_num(A.median_of(g, "rps")),
                             A.fmt_us(A.median_of(g, "p99_us")),
                             A.fmt_num(A.median_of(g, "cpu_us_per_req")),
                             A.fmt_num(A.median_of(g, "db_cpu_us_per_req")),
                             A.fmt_num(A.median_of(g, "threads")),
                             A.fmt_num(A.median_of(g, "errors")),
                             A.fmt_num(A.median_of(g, A.unanswered)), _bound(g)])
        if body:
            out.append(("GET %s, --db-conns %d (closed loop)" % (route, DB_CONNS),
                        ["series", "connections", "req/s", "p99", "server CPU µs/req",
                         "database CPU µs/req", "server threads", "errors (503 …)",
                         "unanswered", "bottleneck"], body))
    return out


def _threads_check(m, route, g):
    return verdict.check(
        "%s, GET %s at %d connections: one loop holds the waiting requests -- at most %d "
        "server threads (%s), every request answered (%s errors, %s unanswered)"
        % (m, route, JUDGE_CONNS, DB_THREADS_MAX.value, A.fmt_num(A.median_of(g, "threads")),
           A.fmt_num(A.median_of(g, "errors")), A.fmt_num(A.median_of(g, A.unanswered))),
        [g], lambda r: None if num(r, "threads") is None or A.unanswered(r) is None
        or num(r, "errors") is None
        else (num(r, "threads") <= DB_THREADS_MAX.value and num(r, "errors") == 0
              and A.unanswered(r) <= UNANSWERED_MAX.value))


def _share_check(m, route, g, blocking):
    best = max(blocking, key=lambda b: A.median_of(b[1], "rps") or 0)
    return verdict.check(
        "%s, GET %s at %d connections: waiting in the loop costs no throughput -- at least "
        "%gx the better blocking model's (%s) requests/s with the same %d database "
        "connections (%s against %s)"
        % (m, route, JUDGE_CONNS, DB_SHARE.value, best[0], DB_CONNS,
           A.fmt_num(A.median_of(g, "rps")), A.fmt_num(A.median_of(best[1], "rps"))),
        [g] + [b for _, b in blocking],
        lambda r, *bs: None if num(r, "rps") is None or any(num(b, "rps") is None for b in bs)
        else num(r, "rps") >= DB_SHARE.value * max(num(b, "rps") for b in bs))


def verdicts(d):
    """Per event model and route, at JUDGE_CONNS connections: (a) one loop holds
    the waiting requests (few threads, all answered); (b) at equal database
    connections it serves at least DB_SHARE of the better blocking model's
    requests/s (each repetition against the blocking models' same repetition)."""
    checks = []
    for route in ROUTES:
        rows = [r for r in _rows(d, route) if num(r, "conns") == JUDGE_CONNS]
        blocking = [(b, _of(rows, b)) for b in BLOCKING if _of(rows, b)]
        for m in sorted({r["model"] for r in rows if models.is_event(r["model"])},
                        key=A.series_key):
            g = _of(rows, m)
            checks.append(_threads_check(m, route, g))
            if blocking:
                checks.append(_share_check(m, route, g, blocking))
    if not checks:
        why = next((p.get("why") for p in d.points if p.get("status") == "skipped"), None)
        if why and why.startswith("no database: not testable here"):
            return [verdict.Verdict("C8", verdict.UNTESTABLE, why, NAME)]
        return [verdict.Verdict("C8", verdict.NOT_DECIDED, "no event model was measured at %d "
                                "connections%s" % (JUDGE_CONNS, " (%s)" % why if why else ""),
                                NAME)]
    return [verdict.from_checks("C8", checks, NAME)]


def context(d):
    """The honest reading: where the database is the bottleneck, and what each
    side spends per request."""
    out = []
    for route in ROUTES:
        rows = [r for r in _rows(d, route) if num(r, "conns") == JUDGE_CONNS]
        if not rows:
            continue
        ss = sorted({A.series(r) for r in rows}, key=A.series_key)
        parts = ["%s %s req/s (server %s, database %s µs CPU per request; %s)"
                 % (s, A.fmt_num(A.median_of(_of(rows, s), "rps")),
                    A.fmt_num(A.median_of(_of(rows, s), "cpu_us_per_req")),
                    A.fmt_num(A.median_of(_of(rows, s), "db_cpu_us_per_req")),
                    _bound(_of(rows, s))) for s in ss]
        dbb = [s for s in ss if _bound(_of(rows, s)) == "database"]
        out.append("GET %s at %d connections, %d database connections each: %s." % (
            route, JUDGE_CONNS, DB_CONNS, "; ".join(parts)))
        if dbb:
            out.append("There the database is the bottleneck for %s: the shared core is busy "
                       "and the database uses more of it than the server, so these models "
                       "differ by how they keep %d database connections busy (the event "
                       "models pipeline queries on each; the blocking models lend one to a "
                       "waiting thread at a time) and by the share of the core their own "
                       "CPU per request leaves the database." % (", ".join(dbb), DB_CONNS))
    return out
