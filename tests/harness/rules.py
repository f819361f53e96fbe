#!/usr/bin/python3
"""The verdict rules, fed synthetic data (make test-harness-rules).

Every rule of every experiment gets made-up rows for a server that behaves as the
claim says (confirmed), one that behaves the opposite way (refuted), one that does
part of each (mixed), one whose repetitions disagree (not decided), one whose points
the generator failed to offer (not decided: no check rests on an invalid point), and
where the rule has it, a machine that cannot test it (not testable here).  In the
confirmed case every check must hold and in the refuted case every check must fail:
so each check can come out either way, on some server behaviour.

Also checked here, because they are rules too: the rep-by-rep check logic and the
verdict combination; the time budget of `make bench` (every experiment's quick plan
within its declared budget, the budgets within the total, the announced experiments'
reservations included); quick mode's repetitions, shuffled x-values and rotated
models; that every threshold has a reason and docs/methodology.md lists it as the
code states it; and that no file of the harness refers to an issue.
"""
import os
import re
import subprocess
import sys
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "harness"))

from experiments import ORDER, get  # noqa: E402
from lib import budget, csvio, exp  # noqa: E402
from lib import verdict as V  # noqa: E402
from lib.verdict import CONFIRMED, MIXED, NOT_DECIDED, REFUTED, UNTESTABLE  # noqa: E402

REPS = ("1", "2", "3")
ALL_BAD = "all"


# --- synthetic rows -----------------------------------------------------------

def row(experiment, model, rep, **kw):
    r = {c: "" for c in csvio.COLUMNS}
    r.update(schema="2", experiment=experiment, model=model, rep=str(rep), path="*",
             variant="closed", proto="http", valid="true", conns="1", idle_conns="0",
             offload="0" if model not in ("threads", "pool", "iterative") else "",
             reactors="1" if model not in ("threads", "pool", "iterative") else "")
    for k, v in kw.items():
        r[k] = "" if v is None else (("true" if v else "false") if isinstance(v, bool) else str(v))
    return r


def data(name, rows, cores=2, points=None, apart=False):
    meta = {"mode": "quick", "cpu": {"cores": cores},
            "machine": {"cores": cores, "kernel_stack_kb_per_thread": 16,
                        "generators_apart": apart},
            "experiments": {name: {"server_cpus": "0", "gen_cpus": "1"}}}
    return exp.Data(name, rows, "/nonexistent/" + name, "quick", meta, points or [])


def bad(scenario, rep, key):
    """Whether check `key` is to fail in repetition `rep` of a scenario."""
    if scenario == "confirmed":
        return False
    if scenario == "refuted":
        return True
    if scenario == "undecided":
        return rep == "3"
    return key in scenario     # mixed: a set of the keys that fail


def concurrency_rows(scn):
    rows = []
    for rep in REPS:
        b = lambda k: bad(scn, rep, k)
        for m in ("epoll", "node"):
            rows += [row("concurrency", m, rep, variant="open", conns=10, rate=5000, rps=5000,
                         requests=5000, cpu_us_per_req=10, p99_us=500, unanswered=0,
                         rss_kb=1600, threads=2),
                     row("concurrency", m, rep, variant="open", conns=1000, rate=5000, rps=5000,
                         requests=5000, cpu_us_per_req=30 if b("cpu") else 12,
                         p99_us=5000 if b("p99") else 600, unanswered=0, rss_kb=3500, threads=2)]
            for c, rps in ((1, 30000), (100, 100000), (1000, 50000 if b("keep") else 95000)):
                rows.append(row("concurrency", m, rep, conns=c, rps=rps, requests=rps, unanswered=0))
        rows += [row("concurrency", "iterative", rep, conns=1, rps=30000, unanswered=0),
                 row("concurrency", "iterative", rep, conns=100, rps=90000 if b("one") else 29000,
                     unanswered=0 if b("one") else 400),
                 row("concurrency", "threads", rep, conns=1000, rps=60000,
                     unanswered=5 if b("served") else 0),
                 row("concurrency", "threads", rep, variant="open", conns=10, rate=5000, rps=5000,
                     requests=5000, rss_kb=2000, threads=12),
                 row("concurrency", "threads", rep, variant="open", conns=1000, rate=5000, rps=5000,
                     requests=5000, rss_kb=2500 if b("mem") else 20000,
                     threads=12 if b("mem") else 1002)]
    return rows


def idle_rows(scn, with_threads=True):
    rows = []
    for rep in REPS:
        b = lambda k: bad(scn, rep, k)
        for m in ("epoll", "node"):
            # node-cost: node spends more than half of threads' memory per connection
            # (C3 fails against node only; C2's memory check fails for node too).
            heavy = b("mem") or (m == "node" and b("node-cost"))
            rows += [row("idle", m, rep, variant="open", conns=10, idle_conns=0, rate=1000,
                         rss_kb=1600, threads=2, p99_us=500, unanswered=0),
                     row("idle", m, rep, variant="open", conns=10, idle_conns=10000, rate=1000,
                         rss_kb=300000 if heavy else 20000,
                         threads=10002 if b("threads") else 2,
                         p99_us=9000 if b("p99") else 700, unanswered=0)]
        if with_threads:
            rows += [row("idle", "threads", rep, variant="open", conns=10, idle_conns=0, rate=1000,
                         rss_kb=2000, threads=12, p99_us=500),
                     row("idle", "threads", rep, variant="open", conns=10, idle_conns=10000,
                         rate=1000, rss_kb=2500 if b("cost") else 150000,
                         threads=12 if b("cost") else 10012, p99_us=800)]
    return rows


def idlefds_rows(scn):
    rows = []
    for rep in REPS:
        b = lambda k: bad(scn, rep, k)
        scan = b("scan")
        for m, top, cpu0, cpu1 in (("select", 980, 30, 31 if scan else 300),
                                   ("poll", 10000, 30, 35 if scan else 3000),
                                   ("epoll", 10000, 40, 200 if b("flat") else 45),
                                   ("node", 10000, 300, 900 if b("flat") else 320)):
            slow = b("p99") or (m == "node" and b("node-p99"))
            rows += [row("idlefds", m, rep, variant="open", conns=32, idle_conns=0, rate=100,
                         cpu_us_per_req=cpu0, p99_us=500, syscalls_per_req=3),
                     row("idlefds", m, rep, variant="open", conns=32, idle_conns=top, rate=100,
                         cpu_us_per_req=cpu1, p99_us=9000 if slow else 700, syscalls_per_req=3)]
    return rows


def cpu_rows(scn):
    rows = []
    for rep in REPS:
        for m in ("epoll", "node"):
            # The claim: a loop gets less CPU-bound work done than threads on one core.
            rows.append(row("cpu", m, rep, work_us=5000, rps=199 if bad(scn, rep, m) else 100,
                            work_path="/cpu"))
        rows.append(row("cpu", "threads", rep, work_us=5000, rps=200, work_path="/cpu"))
    return rows


def mix_rows(name, scn):
    rows = []
    for rep in REPS:
        b = lambda k: bad(scn, rep, k)
        for m in ("epoll", "node"):
            for off in (0, 4):
                key = ("fix" if off else "stall")
                if off:
                    p99 = 15000 if b(key) else 800
                else:
                    p99 = 900 if b(key) else 19000
                common = dict(variant="open", conns=64, rate=1000, offload=off, work_us=20000)
                rows += [row(name, m, rep, unanswered=0, **common),
                         row(name, m, rep, path="/", p99_us=p99, **common)]
    return rows


def scale_rows(scn):
    rows = []
    for rep in REPS:
        for m in ("epoll", "node"):
            rows += [row("scale", m, rep, conns=100, reactors=1, rps=100000),
                     row("scale", m, rep, conns=100, reactors=2,
                         rps=110000 if bad(scn, rep, m) else 190000)]
    return rows


def rtt_rows(scn):
    """RTT 0 and 50 ms at 2,000 req/s: the event models keep their threads and add
    only the wire to W; threads adds a thread (and 16 kB of stack) per connection."""
    rows = []
    for rep in REPS:
        b = lambda k: bad(scn, rep, k)
        common = dict(variant="open", rate=2000, rps=2000, requests=2500, unanswered=0,
                      timeout_ms=2000)
        for m in ("epoll", "node"):
            rows += [row("rtt", m, rep, rtt_ms=0, conns=10, mean_us=200, threads=2,
                         rss_kb=2000, **common),
                     row("rtt", m, rep, rtt_ms=50, conns=210,
                         mean_us=80000 if b("little") else 50300,
                         threads=210 if b("threads") else 2,
                         rss_kb=12000 if b("mem") else 3000, **common)]
        rows += [row("rtt", "threads", rep, rtt_ms=0, conns=10, mean_us=200, threads=12,
                     rss_kb=2000, **common),
                 row("rtt", "threads", rep, rtt_ms=50, conns=210,
                     mean_us=90000 if b("tlittle") else 50250,
                     threads=12 if b("pays") else 212, rss_kb=3000, **common)]
    return rows


def faults_rows(scn):
    """Rows and points of the faults experiment: a failing handler answered 500 (or,
    when "error" fails, its connection closed), and a crash that costs the steady
    load nothing (or, when "crash" fails, kills the server and 40 requests)."""
    rows, points = [], []
    for rep in REPS:
        b = lambda k: bad(scn, rep, k)
        for m in ("epoll", "threads"):
            rows += [row("faults", m, rep, variant="baseline", conns=10, rate=2000, p99_us=500,
                         server_alive=True),
                     row("faults", m, rep, variant="faults", conns=10, rate=2000,
                         p99_us=2000000 if b("p99") else 900, server_alive=not b("alive")),
                     row("faults", m, rep, variant="crash", conns=10, rate=2000, p99_us=900,
                         errors=40 if b("crash") else 0, timeouts=0, abandoned=0,
                         server_alive=not b("crash"))]
            answers = {"closed": 5} if b("error") else {"500": 5}
            points += [{"variant": "faults", "series": m, "rep": int(rep), "status": "ok",
                        "info": {"faults": {"sent": 35, "faults": {"fail_error": answers}}}},
                       {"variant": "crash", "series": m, "rep": int(rep), "status": "ok",
                        "info": {"crash": {"sent": True, "harness_restarted": b("crash")},
                                 "server_stats": {"restarts": 0}}}]
    return rows, points


def db_rows(scn):
    """/db and /queries at 256 connections, 4 database connections each: the event
    models hold the waiting requests in a loop thread or two and keep up with the
    blocking models' pools; "threads" gives them a thread per request, "share"
    makes them wait in the loop (a fraction of the pools' requests/s)."""
    rows = []
    for rep in REPS:
        b = lambda k: bad(scn, rep, k)
        for route, pool_rps in (("/db", 10000), ("/queries?n=20", 1000)):
            common = dict(conns=256, work_path=route, db_conns=4, duration_s=1.25,
                          errors=0, unanswered=0)
            for m in ("epoll", "node"):
                rows.append(row("db", m, rep, rps=pool_rps * (0.3 if b("share") else 2.5),
                                threads=300 if b("threads") else (11 if m == "node" else 1),
                                cpu_s=0.3, db_cpu_s=0.8, **common))
            rows += [row("db", "threads", rep, rps=pool_rps * 0.9, threads=260, cpu_s=0.5,
                         db_cpu_s=0.6, **common),
                     row("db", "pool", rep, rps=pool_rps, threads=9, cpu_s=0.5, db_cpu_s=0.6,
                         **common)]
    return rows


# --- cases --------------------------------------------------------------------

def wait_rows(scn, node_cpu_us=10, node_cpu_bound_at=()):
    """Closed-loop /sleep?ms=100 points (N/D = 10 N req/s) and the GET / stream alone
    and beside 1,000 waits.  node_cpu_bound_at: the Ns at which node keeps its core
    busy (over CPU_BOUND)."""
    rows = []
    for rep in REPS:
        b = lambda k: bad(scn, rep, k)
        for m in ("epoll", "node"):
            for n in (1, 1000, 5000):
                busy = 0.97 if (m == "node" and n in node_cpu_bound_at) else n * 1e-4
                rows.append(row("wait", m, rep, conns=n, rps=(n * 4 if b("held") else n * 9.9),
                                requests=n * 5, unanswered=0, cpu_s=busy * 0.5, duration_s=0.5,
                                cpu_us_per_req=node_cpu_us if m == "node" else 10,
                                threads=(n + 1 if b("threads") else 2), rss_kb=2000))
            rows += [row("wait", m, rep, variant="alone", conns=50, rate=5000, rps=5000,
                         p99_us=500, unanswered=0),
                     row("wait", m, rep, variant="beside", conns=50, rate=5000, rps=5000,
                         idle_conns=1000, p99_us=50000 if b("beside") else 700, unanswered=0)]
        rows += [row("wait", "iterative", rep, conns=1, rps=10, unanswered=0, threads=2),
                 row("wait", "iterative", rep, conns=100, rps=1000 if b("iter") else 10,
                     unanswered=0 if b("iter") else 198, threads=2),
                 row("wait", "pool", rep, conns=5000, rps=50000 if b("pool") else 640,
                     unanswered=0 if b("pool") else 4000, threads=66)]
    return rows


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def outcomes(vs, claim):
    return [V.Check.from_list(c).outcome for v in vs if v.claim == claim for c in v.checks]


def verdict_of(vs, claim):
    return [v.verdict for v in vs if v.claim == claim]


def invalidate(rows):
    out = []
    for r in rows:
        r = dict(r)
        r["valid"], r["invalid"] = "false", "generator-bound (test)"
        out.append(r)
    return out


def five_outcomes(name, claims, build, mixed_keys, points=None, cores=2):
    """The common test: confirmed (every check holds), refuted (every check fails),
    mixed, not decided (repetitions disagree), not decided (invalid points)."""
    mod = get(name)
    mk = lambda rows: data(name, rows, cores, points)
    for claim in claims:
        vs = mod.verdicts(mk(build("confirmed")))
        expect(verdict_of(vs, claim) == [CONFIRMED], "%s %s confirmed: got %s" % (name, claim, verdict_of(vs, claim)))
        oc = outcomes(vs, claim)
        expect(oc and all(o is True for o in oc), "%s %s: every check holds when confirmed: %s" % (name, claim, oc))
        vs = mod.verdicts(mk(build("refuted")))
        expect(verdict_of(vs, claim) == [REFUTED], "%s %s refuted: got %s" % (name, claim, verdict_of(vs, claim)))
        oc = outcomes(vs, claim)
        expect(oc and all(o is False for o in oc), "%s %s: every check fails when refuted: %s" % (name, claim, oc))
        vs = mod.verdicts(mk(build(mixed_keys[claim])))
        expect(verdict_of(vs, claim) == [MIXED], "%s %s mixed: got %s" % (name, claim, verdict_of(vs, claim)))
        vs = mod.verdicts(mk(build("undecided")))
        expect(verdict_of(vs, claim) == [NOT_DECIDED], "%s %s not decided (straddles): got %s"
               % (name, claim, verdict_of(vs, claim)))
        expect(all(c[2] == V.STRADDLES for v in vs if v.claim == claim for c in v.checks),
               "%s %s: a check whose repetitions disagree says it straddles" % (name, claim))
        vs = mod.verdicts(mk(invalidate(build("confirmed"))))
        expect(verdict_of(vs, claim) == [NOT_DECIDED], "%s %s not decided (invalid points): got %s"
               % (name, claim, verdict_of(vs, claim)))
        expect(all(c[2] == V.INVALID for v in vs if v.claim == claim for c in v.checks),
               "%s %s: no check is decided on an invalid point" % (name, claim))


@case
def rules_concurrency():
    five_outcomes("concurrency", ["C1", "C3"], concurrency_rows,
                  {"C1": {"p99"}, "C3": {"mem"}})


@case
def rules_idle():
    five_outcomes("idle", ["C2", "C3"], idle_rows, {"C2": {"p99"}, "C3": {"node-cost"}})


@case
def rules_idle_c3_needs_threads():
    vs = get("idle").verdicts(data("idle", idle_rows("confirmed", with_threads=False)))
    expect(verdict_of(vs, "C3") == [NOT_DECIDED], "idle C3 without threads: %s" % verdict_of(vs, "C3"))
    expect(verdict_of(vs, "C2") == [CONFIRMED], "idle C2 without threads (16 kB rule): %s"
           % verdict_of(vs, "C2"))


@case
def rules_idlefds():
    # C2: the prediction (scans grow, epoll loops do not); C1: the epoll loops' p99.
    five_outcomes("idlefds", ["C1", "C2"], idlefds_rows,
                  {"C1": {"node-p99"}, "C2": {"scan"}})


@case
def rules_idlefds_slope():
    from experiments.idlefds import slope
    expect(slope([(0, 30), (10000, 3030)]) == 300, "two levels: the line through them")
    expect(abs(slope([(0, 10), (100, 11), (1000, 20), (5000, 60), (10000, 110)]) - 10) < 0.01,
           "five levels on a line: its slope per 1,000")
    expect(slope([(0, 10), (0, 12)]) is None, "one level: no slope")
    expect(slope([(0, 10), (1000, None)]) is None, "a value missing: no slope")


@case
def rules_cpu():
    five_outcomes("cpu", ["C4"], cpu_rows, {"C4": {"node"}})


@case
def rules_hol():
    five_outcomes("hol", ["C4"], lambda s: mix_rows("hol", s), {"C4": {"fix"}})


@case
def rules_blocking():
    five_outcomes("blocking", ["C5"], lambda s: mix_rows("blocking", s), {"C5": {"stall"}})


@case
def rules_scale():
    five_outcomes("scale", ["C6"], scale_rows, {"C6": {"node"}}, cores=4)
    vs = get("scale").verdicts(data("scale", scale_rows("confirmed"), cores=2))
    expect(verdict_of(vs, "C6") == [UNTESTABLE], "scale on 2 cores: %s" % verdict_of(vs, "C6"))
    # The load generators on hosts of their own: a 2-core server host decides C6,
    # either way; a 1-core one cannot.
    for scn, want in (("confirmed", CONFIRMED), ("refuted", REFUTED)):
        vs = get("scale").verdicts(data("scale", scale_rows(scn), cores=2, apart=True))
        expect(verdict_of(vs, "C6") == [want], "scale, 2-core server host, generators apart, %s: %s"
               % (scn, verdict_of(vs, "C6")))
    vs = get("scale").verdicts(data("scale", scale_rows("confirmed"), cores=1, apart=True))
    expect(verdict_of(vs, "C6") == [UNTESTABLE], "scale on a 1-core server host: %s" % verdict_of(vs, "C6"))


@case
def rules_rtt():
    five_outcomes("rtt", ["C2", "C3"], rtt_rows, {"C2": {"little"}, "C3": {"mem"}})
    # A server that leaves requests unanswered: timed out and counted at the
    # timeout, they put its requests in flight far above Little's law's.
    rows = rtt_rows("confirmed")
    for r in rows:
        if r["model"] == "epoll" and r["rtt_ms"] == "50":
            r["unanswered"], r["timeouts"], r["requests"] = "50", "50", "2450"
    vs = get("rtt").verdicts(data("rtt", rows))
    oc = [c for v in vs if v.claim == "C2" for c in v.checks if "Little" in c[0] and "epoll" in c[0]]
    expect(oc and oc[0][1] is False, "rtt: 50 requests timed out fail Little's law: %s" % oc)
    # No wire here (no root, ssh hosts): every point skipped, both claims untestable.
    pts = [{"status": "skipped", "why": "not testable here: network namespaces need root"}]
    vs = get("rtt").verdicts(data("rtt", [], points=pts))
    expect(verdict_of(vs, "C2") == [UNTESTABLE] and verdict_of(vs, "C3") == [UNTESTABLE],
           "rtt without a wire: %s" % [(v.claim, v.verdict) for v in vs])


@case
def rules_faults():
    mod = get("faults")
    for scn, want in (("confirmed", CONFIRMED), ("refuted", REFUTED), ({"crash"}, MIXED),
                      ({"error", "alive"}, MIXED), ("undecided", NOT_DECIDED)):
        rows, pts = faults_rows(scn)
        vs = mod.verdicts(data("faults", rows, points=pts))
        expect(verdict_of(vs, "C7") == [want], "faults %s: got %s" % (scn, verdict_of(vs, "C7")))
        oc = outcomes(vs, "C7")
        if scn == "confirmed":
            expect(oc and all(o is True for o in oc), "faults: every check holds: %s" % oc)
        if scn == "refuted":
            expect(oc and all(o is False for o in oc), "faults: every check fails: %s" % oc)
    rows, pts = faults_rows("confirmed")
    vs = mod.verdicts(data("faults", invalidate(rows), points=pts))
    expect(verdict_of(vs, "C7") == [NOT_DECIDED], "faults on invalid points: %s" % verdict_of(vs, "C7"))
    # No fault sent and no crash recorded: the checks cannot say the server survived them.
    vs = mod.verdicts(data("faults", rows, points=[]))
    expect(verdict_of(vs, "C7") == [NOT_DECIDED], "faults without faults sent: %s" % verdict_of(vs, "C7"))
    # What the context says about the crash, from the same rows.
    rows, pts = faults_rows({"crash"})
    ctx = " ".join(mod.context(data("faults", rows, points=pts)))
    expect("isolated: none; survived: none; died: threads, epoll" in ctx, "faults context: %s" % ctx)


@case
def rules_wait():
    five_outcomes("wait", ["C8"], wait_rows, {"C8": {"beside"}})


@case
def rules_wait_cpu_bound():
    """Where a model's CPU, not its waiting, limits it, the check moves to the largest
    N below CPU_BOUND; with none at MANY_WAITS or more, it is not decided."""
    wait = get("wait")
    vs = wait.verdicts(data("wait", wait_rows("confirmed", node_cpu_bound_at=(5000,))))
    texts = [c[0] for v in vs for c in v.checks if c[0].startswith("node holds")]
    expect(texts and "node holds 1000 waiting" in texts[0] and "at 5000 connections its CPU"
           in texts[0], "node CPU-bound at 5000: checked at 1000: %s" % texts)
    expect(verdict_of(vs, "C8") == [CONFIRMED], "and it holds there: %s" % verdict_of(vs, "C8"))
    vs = wait.verdicts(data("wait", wait_rows("confirmed", node_cpu_bound_at=(1000, 5000))))
    nd = [c for v in vs for c in v.checks if c[0].startswith("node holds")]
    expect(nd and nd[0][1] is None and nd[0][2] == V.UNMEASURED,
           "node CPU-bound at every N >= 1000: not decided: %s" % nd)
    # A loop that slept on its waits is not excused by its CPU: it uses none.
    rows = wait_rows("confirmed")
    for r in rows:
        if r["model"] == "epoll" and r["variant"] == "closed" and r["conns"] == "5000":
            r["rps"], r["cpu_us_per_req"], r["cpu_s"] = "10", "2000", "0.01"
    vs = wait.verdicts(data("wait", rows))
    ep = [c for v in vs for c in v.checks if c[0].startswith("epoll holds 5000")]
    expect(ep and ep[0][1] is False, "epoll answering 1/D at 5000 fails: %s" % ep)


@case
def generator_lag_tolerance():
    """A point may tolerate more generator loop lag than loadgen's 1 ms (wait's
    closed-loop points: D/10); a busy generator stays invalid whatever the lag."""
    from lib import runner
    from lib.plan import Point
    slow = {"self": {"generator_bound": True, "busy": [0.3], "loop_lag_us": {"p99": 4000}}}
    busy = {"self": {"generator_bound": True, "busy": [0.95], "loop_lag_us": {"p99": 400}}}
    lagged = {"self": {"generator_bound": True, "busy": [0.3], "loop_lag_us": {"p99": 20000}}}
    pts = [p for p in get("wait").plan(exp.Ctx("quick", ["epoll"], None, 2, 1, "wait"))]
    closed = next(p for p in pts if p.variant == "closed")
    beside = next(p for p in pts if p.variant == "beside")
    expect(not runner.invalid_reasons(closed, slow, None), "4 ms of lag under wait's 10 ms tolerance")
    expect(runner.invalid_reasons(closed, lagged, None), "20 ms of lag is over it")
    expect(runner.invalid_reasons(closed, busy, None), "a busy generator stays invalid")
    expect(runner.invalid_reasons(beside, slow, None), "the GET / stream keeps loadgen's 1 ms")
    ok = {"self": {"generator_bound": False, "busy": [0.3], "loop_lag_us": {"p99": 100}},
          "conns_at_window": {"open": 50}}
    expect(not runner.invalid_reasons(beside, ok, None, slow),
           "4 ms of lag in the waiting connections' generator: under D/10")
    expect(runner.invalid_reasons(beside, ok, None, lagged), "20 ms of it is over D/10")
    expect(runner.invalid_reasons(beside, ok, None, busy), "a busy waiting generator is invalid")
    expect(runner.invalid_reasons(Point(experiment="x", model="epoll"), slow, None),
           "other points keep loadgen's rule")


@case
def connect_ramp():
    """Connections left behind the connect ramp make a point invalid when the
    generator did not get to them, not when the server never completed the
    connects that filled the ramp (prefork's full backlog at 5,000 connections)."""
    from lib import runner
    from lib.plan import Point
    p = Point(experiment="wait", model="prefork", conns=5000)
    ok = {"self": {"generator_bound": False, "busy": [0.1], "loop_lag_us": {"p99": 100}}}
    slow_ramp = dict(ok, conns_at_window={"open": 4000, "connecting": 256, "waiting": 744},
                     errors={"connect": 0}, warmup_errors={"connect": 0})
    held = dict(ok, conns_at_window={"open": 64, "connecting": 256, "waiting": 4680},
                errors={"connect": 1280}, warmup_errors={"connect": 512, "timeout": 4097})
    local = dict(held, connect_local_errors=30)
    why = lambda j: "; ".join(runner.invalid_reasons(p, j, None))
    expect(why(slow_ramp).startswith("connect ramp unfinished"),
           "a ramp that did not finish on its own: invalid (%r)" % why(slow_ramp))
    expect(why(held) == "", "a ramp held by connects the server never completed: valid (%r)"
           % why(held))
    expect("descriptors or ports" in why(local),
           "connects that failed on the client's side stay invalid (%r)" % why(local))


@case
def stalled_generator_runs_again():
    """An open-loop generator, never busy, that woke GEN_STALL's share of the window
    late was not running: the repetition is run again.  Under the bound, busy, or a
    closed loop: not a stall.  The first attempt's files are kept beside the second's."""
    import tempfile
    from lib import runner
    from lib.plan import Point
    p = Point(experiment="idle", model="epoll", rate=1000, duration=1.25)
    p.resolved_rate = 1000.0
    bound_us = V.GEN_STALL.value * p.duration * 1e6

    def j(lag_us, busy=0.08):
        return {"self": {"busy": [busy], "loop_lag_us": {"p99": 150, "max": lag_us}}}
    expect((runner.generator_stall(p, j(bound_us * 2.6)) or "").startswith("the generator stalled"),
           "a 33 ms stall, 8 %% busy: run again (%r)" % runner.generator_stall(p, j(bound_us * 2.6)))
    expect(runner.generator_stall(p, j(bound_us * 0.9)) is None, "a late wake-up under the bound")
    expect(runner.generator_stall(p, j(bound_us * 4, busy=0.95)) is None,
           "a busy generator is generator-bound, not stalled")
    closed = Point(experiment="concurrency", model="epoll", duration=1.25)
    expect(runner.generator_stall(closed, j(bound_us * 4)) is None, "closed loop: not judged")
    with tempfile.TemporaryDirectory() as d:
        base = os.path.join(d, "007-epoll-open-c10-r2")
        for ext in ("loadgen.json", "server.log"):
            open(base + "." + ext, "w").close()
        runner.keep_stalled_attempt(base)
        names = sorted(os.listdir(d))
        expect(names == ["007-epoll-open-c10-r2.stalled.loadgen.json",
                         "007-epoll-open-c10-r2.stalled.server.log"],
               "the first attempt's files are kept as <point>.stalled.*: %s" % names)


@case
def lagged_points():
    """An open-loop point whose generator sent its whole rate, not busy, but woke
    late is LAGGED: checks of what the server spent or held stand on it, checks of
    time do not.  Closed loop, a busy generator or unsent requests: generator-bound."""
    from lib import runner
    from lib.plan import Point
    slow = {"self": {"generator_bound": True, "busy": [0.01], "loop_lag_us": {"p99": 2000}}}
    busy = {"self": {"generator_bound": True, "busy": [0.95], "loop_lag_us": {"p99": 2000}}}
    unsent = dict(slow, unsent=3)
    open_ = Point(experiment="idlefds", model="epoll", rate=100)
    open_.resolved_rate = 100.0
    closed = Point(experiment="x", model="epoll")
    why = lambda p, j: "; ".join(runner.invalid_reasons(p, j, None))
    expect(why(open_, slow).startswith(V.LAGGED), "open loop, lag only: %r" % why(open_, slow))
    for p, j, what in ((open_, busy, "busy"), (open_, unsent, "unsent requests"),
                       (closed, slow, "closed loop")):
        expect(why(p, j).startswith("generator-bound"), "%s: %r" % (what, why(p, j)))

    def lag(rows):
        return [dict(r, valid="false", invalid=V.LAGGED + " (test)") for r in rows]
    for name, build, kept, lost in (("idlefds", idlefds_rows, "C2", "C1"),
                                    ("idle", idle_rows, "C3", None)):
        vs = get(name).verdicts(data(name, lag(build("confirmed"))))
        expect(verdict_of(vs, kept) == [CONFIRMED], "%s %s on lagged points: %s"
               % (name, kept, verdict_of(vs, kept)))
        if lost:
            expect(all(c[2] == V.INVALID for v in vs if v.claim == lost for c in v.checks),
                   "%s %s (p99) is not decided on lagged points" % (name, lost))
    vs = get("idle").verdicts(data("idle", lag(idle_rows("confirmed"))))
    oc = [(c[0], c[2]) for v in vs if v.claim == "C2" for c in v.checks]
    expect(all((st == V.INVALID) == ("p99" in text) for text, st in oc),
           "idle C2: the p99 checks, and only they, are invalid on lagged points: %s" % oc)
    vs = get("idle").verdicts(data("idle", [dict(r, invalid="generator-bound (test)")
                                            for r in lag(idle_rows("confirmed"))]))
    expect(verdict_of(vs, "C3") == [NOT_DECIDED], "a generator-bound point stays invalid for all")


@case
def rules_db():
    five_outcomes("db", ["C8"], db_rows, {"C8": {"share"}})
    mod = get("db")
    # The requests/s check stands on the blocking models' pools: without them
    # only the threads check is made.
    rows = [r for r in db_rows("confirmed") if r["model"] in ("epoll", "node")]
    vs = mod.verdicts(data("db", rows))
    expect(verdict_of(vs, "C8") == [CONFIRMED] and len(outcomes(vs, "C8")) == 4,
           "db without blocking models: %s" % [(v.verdict, len(v.checks)) for v in vs])
    # A 503 (the database went away) or a request never answered fails the threads check.
    rows = db_rows("confirmed")
    for r in rows:
        if r["model"] == "epoll":
            r["errors"] = "12"
    vs = mod.verdicts(data("db", rows))
    oc = [c for v in vs for c in v.checks if c[0].startswith("epoll") and "one loop" in c[0]]
    expect(oc and all(c[1] is False for c in oc), "db: errors fail the threads check: %s" % oc)
    # No database on this run's hosts: every point skipped, C8 not testable here.
    pts = [{"status": "skipped", "why": "no database: not testable here: db starts its "
            "database on this machine"}]
    vs = mod.verdicts(data("db", [], points=pts))
    expect(verdict_of(vs, "C8") == [UNTESTABLE], "db without a database: %s" % verdict_of(vs, "C8"))
    # The bottleneck marks: the shared core busy, by the larger user; or neither.
    r = db_rows("confirmed")[0]
    expect(mod.bottleneck(r) == "database", "db: 0.8 s of database CPU in 1.25 s: %s"
           % mod.bottleneck(r))
    r = dict(r, db_cpu_s="0.3", cpu_s="0.8")
    expect(mod.bottleneck(r) == "server", "db: the server used more: %s" % mod.bottleneck(r))
    r = dict(r, db_cpu_s="0.2", cpu_s="0.3")
    expect(mod.bottleneck(r) == "neither", "db: 40 %% of the core: %s" % mod.bottleneck(r))


@case
def check_is_per_repetition():
    g = [row("x", "epoll", r, rps=v) for r, v in (("1", 10), ("2", 30), ("3", 20))]
    c = V.check("rps >= 15", [g], lambda r: float(r["rps"]) >= 15)
    expect(c.outcome is None and c.why == V.STRADDLES, "min 10, max 30 straddle 15: %s" % c)
    c = V.check("rps >= 5", [g], lambda r: float(r["rps"]) >= 5)
    expect(c.outcome is True and "3 of 3" in c.detail, "all above: %s" % c)
    c = V.check("rps >= 50", [g], lambda r: float(r["rps"]) >= 50)
    expect(c.outcome is False and "0 of 3" in c.detail, "all below: %s" % c)
    h = [row("x", "node", r, rps=1) for r in ("1", "3")]
    c = V.check("pairs", [g, h], lambda a, b: True)
    expect("2 of 2" in c.detail, "only the repetitions both points measured are paired: %s" % c)
    c = V.check("nothing", [[]], lambda r: True)
    expect(c.outcome is None and c.why == V.UNMEASURED, "no rows: %s" % c)


@case
def verdict_rule_and_combination():
    ok, no = V.Check("a", True), V.Check("b", False)
    nd, nt = V.Check("c", None, V.STRADDLES), V.untestable("d", "two cores")
    expect(V.rule([ok, nd]) == CONFIRMED, "decided checks all hold")
    expect(V.rule([no, nd]) == REFUTED, "decided checks all fail")
    expect(V.rule([ok, no, nd]) == MIXED, "decided checks disagree")
    expect(V.rule([nd, nd]) == NOT_DECIDED, "nothing decided")
    expect(V.rule([nt]) == UNTESTABLE, "nothing testable")
    expect(V.rule([ok, nt]) == CONFIRMED, "an untestable check does not count")
    va = V.from_checks("C4", [ok], "cpu")
    vb = V.from_checks("C4", [no], "hol")
    expect(V.combine("C4", [va, vb], ["cpu", "hol"])[0] == MIXED, "cpu holds, hol fails: mixed")
    vc = V.from_checks("C4", [nd], "hol")
    expect(V.combine("C4", [va, vc], ["cpu", "hol"])[0] == CONFIRMED, "undecided hol adds nothing")
    expect(V.combine("C6", [V.from_checks("C6", [nt], "scale")], ["scale"])[0] == UNTESTABLE,
           "only untestable checks")


@case
def quick_mode_repetitions_and_order():
    from lib.plan import interleave
    import random
    expect(exp.REPS["quick"] >= 3 and exp.REPS["full"] >= 3, "quick and full run >= 3 repetitions")
    out = interleave(3, [1, 2, 3, 4, 5], ["a", "b", "c"], random.Random(7), first=[1])
    reps = [[x for r, x, s in out if r == k and s == "a"] for k in (1, 2, 3)]
    expect(all(rp[0] == 1 for rp in reps), "a probe in `first` runs first in every repetition")
    expect(len({tuple(rp) for rp in reps}) > 1, "the x-values are shuffled anew each repetition")
    firsts = [next(s for r, x, s in out if r == k) for k in (1, 2, 3)]
    expect(firsts == ["a", "b", "c"], "the model order rotates each repetition: %s" % firsts)
    for name in ORDER:
        mod = get(name)
        ctx = exp.Ctx("quick", list(mod.MODELS) + ["nginx"], None, 2, 1, name)
        pts = mod.plan(ctx)
        per = {}
        for p in pts:
            per.setdefault((p.describe().rsplit(" rep ", 1)[0]), set()).add(p.rep)
        short = [k for k, v in per.items() if len(v) < 3]
        expect(not short, "%s: every quick point runs >= 3 repetitions (not: %s)" % (name, short[:3]))
        extra = set(p.model for p in pts) - set(mod.QUICK_MODELS)
        expect(not extra, "%s: quick mode runs only QUICK_MODELS (also ran %s)" % (name, extra))
        expect(set(mod.QUICK_MODELS) <= set(mod.MODELS), "%s: QUICK_MODELS within MODELS" % name)


@case
def quick_models_are_declared():
    """A model added to the project joins quick mode only where an experiment names
    it: no experiment derives its quick list from the model registry."""
    for name in ORDER:
        src = open(os.path.join(ROOT, "harness", "experiments", name + ".py")).read()
        m = re.search(r"^QUICK_MODELS = (.*)$", src, re.M)
        expect(m and m.group(1).startswith("["), "%s: QUICK_MODELS is a literal list" % name)


@case
def time_budget():
    mods = [get(n) for n in ORDER]
    probs = budget.problems(mods)
    expect(not probs, "; ".join(probs))
    for n in ORDER:
        expect(isinstance(getattr(get(n), "QUICK_BUDGET_S", None), int), "%s declares QUICK_BUDGET_S" % n)
    for n, s in budget.RESERVED_S.items():
        expect(n in ORDER or s > 0, "reservation for %s" % n)


def all_thresholds():
    out = {}
    for n in ORDER:
        for t in getattr(get(n), "THRESHOLDS", []):
            out[t.name] = t
    out[V.DISTURBED.name] = V.DISTURBED
    out[V.GEN_STALL.name] = V.GEN_STALL
    out[V.UNANSWERED_MAX.name] = V.UNANSWERED_MAX
    return out


def threshold_table():
    """The table docs/methodology.md must contain, generated from the code."""
    lines = ["| threshold | value | kind | reason |", "|---|---|---|---|"]
    for name, t in sorted(all_thresholds().items()):
        lines.append("| `%s` | %g %s | %s | %s |" % (name, t.value, t.unit, t.kind, t.reason))
    return "\n".join(lines)


@case
def thresholds_have_reasons_and_are_documented():
    ts = all_thresholds()
    expect(len(ts) >= 10, "the rules' thresholds are declared (%d)" % len(ts))
    for name, t in ts.items():
        expect(len(t.reason) > 60, "%s: its reason says why" % name)
    with open(os.path.join(ROOT, "docs", "methodology.md")) as f:
        doc = f.read()
    expect(threshold_table() in doc, "docs/methodology.md holds the threshold table exactly as the "
           "code states it (print it: tests/harness/rules.py --table)")
    # Every number a rule compares against goes through a Threshold: no rule compares
    # a measured value with a bare literal other than 0 and 1 (counts of points, as in
    # len(...) >= 2, are not thresholds).
    for path in [os.path.join(ROOT, "harness", "experiments", n + ".py") for n in ORDER] + \
            [os.path.join(ROOT, "harness", "lib", "headofline.py")]:
        lits = bare_comparisons(path)
        expect(not lits, "%s: a rule compares with bare numbers %s" % (os.path.basename(path), lits))


def bare_comparisons(path):
    import ast
    tree = ast.parse(open(path).read())
    out = []
    rule_fns = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                and f.name in ("verdicts", "checks") or (isinstance(f, ast.FunctionDef)
                                                          and f.name.endswith("_checks"))]
    for fn in rule_fns:
        for node in ast.walk(fn):
            if not isinstance(node, ast.Compare):
                continue
            if isinstance(node.left, ast.Call) and getattr(node.left.func, "id", "") == "len":
                continue
            for c in node.comparators:
                if isinstance(c, ast.Constant) and isinstance(c.value, (int, float)) \
                        and not isinstance(c.value, bool) and c.value not in (0, 1):
                    out.append("line %d: %r" % (node.lineno, c.value))
    return out


@case
def no_issue_references():
    r = subprocess.run(["git", "-C", ROOT, "grep", "-n", "-i", "-E", r"\bissues?\b",
                        "--", "harness", "tests/harness", "docs/harness.md", "docs/methodology.md",
                        "mk/harness.mk", "mk/bench.mk", ":!tests/harness/rules.py"],
                       capture_output=True, text=True)
    hits = r.stdout.splitlines()
    expect(not hits, "references to issues: %s" % hits[:5])


@case
def compare_drift():
    """harness/compare's drift diagnostic: the median ratio B/A, and the points
    within the tolerance of it.  Five points, all but one 19-21 % up: drift 1.2,
    and four within 10 % of it (none is within 10 % of its A)."""
    from lib import compare
    each = [(k, 100.0, b, False) for k, b in enumerate([120, 121, 119, 120, 300])]
    drift, n = compare._drift(each, 0.10)
    expect(abs(drift - 1.2) < 1e-9 and n == 4, "drift %s, %d within 10 %% of it" % (drift, n))
    expect(compare._drift([], 0.10) == (None, 0), "no points: no drift")


@case
def compare_by_window():
    """harness/compare's CPU-per-request agreement by requests per window: each
    point lands in one range by its request count; an unknown count in none."""
    from lib import compare
    each = [(0, 1.0, 1.0, True), (1, 1.0, 2.0, False), (2, 1.0, 1.0, True),
            (3, 1.0, 1.0, True), (4, 1.0, 1.0, True)]
    got = compare._by_window(each, [5, 199, 200, 2000, None], bins=(200, 2000))
    expect(got == [("under 200", 1, 2), ("200 to 2000", 1, 1), ("2000 and over", 1, 1)],
           "ranges %s" % got)


@case
def compare_point_key():
    """harness/compare's points: rows that differ only in their route (db's /db and
    /queries?n=20 at one model and connection count) are two points, and the
    repetitions of one point are one."""
    from lib import compare
    base = {k: "" for k in compare.KEY}
    base.update(model="epoll", variant="closed", proto="http", conns="256", path="*", db_conns="4")
    rows = [dict(base, work_path=route, rep=str(rep)) for route in ("/db", "/queries?n=20")
            for rep in (1, 2, 3)]
    groups = compare._group(rows, False)
    expect(sorted(len(g) for g in groups.values()) == [3, 3],
           "%d groups of %s rows" % (len(groups), [len(g) for g in groups.values()]))


def main():
    if sys.argv[1:] == ["--table"]:
        print(threshold_table())
        return 0
    failed = 0
    for fn in CASES:
        try:
            fn()
            print("  ok   %s" % fn.__name__)
        except AssertionError as e:
            failed += 1
            print("  FAIL %s: %s" % (fn.__name__, e))
        except Exception:
            failed += 1
            print("  FAIL %s: crashed" % fn.__name__)
            traceback.print_exc()
    print("test-harness-rules: %d of %d cases passed" % (len(CASES) - failed, len(CASES)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
