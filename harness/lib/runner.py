"""Running one point: start the server, open idle connections, attach the capture
the point asks for, run the load generator, take /proc snapshots at its `measure
start` and `measure end` lines, stop everything, and turn it all into rows.

Every point checks itself.  It is *invalid* only when the load generator failed to
offer what the point says: connections still waiting behind its connect ramp when
the window began, connects that failed on the client's side (out of descriptors or
ports), or a generator that was itself the bottleneck (busy >= 90 % or its loop late
by >= 1 ms at p99).  A server that holds, accepts or answers fewer is a result: the
row shows the connections the generator had open, the kernel's count of connections
established to the port (backlog included) and the sockets the server holds, and
every unanswered request.  A point is *disturbed* when something else used its CPUs
(or the hypervisor took them) during the window.

Every wait has a deadline; everything started is stopped in a `finally`, whatever
happened.  A point that fails raises PointFailed with a message that says why; the
suite goes on with the next point.
"""
import dataclasses
import glob
import json
import os
import time

from . import (analysis, callgrind, capture, generators, hosts, idleconns, loadgen, models,
               procs, server, tracers, wire)
from .csvio import SCHEMA
from .placement import Placement
from .plan import cpu_list
from .sampler import Sampler
from .verdict import DISTURBED, GEN_STALL, LAGGED



# The load generator closes its connections within microseconds of `measure end`,
# and a thread-per-connection server's threads exit with them, taking their context
# switch counts along (the kernel keeps no per-process total that /proc shows).  So
# the state under load (threads, memory, context switches) is read this long before
# the window ends; CPU time, which /proc keeps for exited threads, is read at the end.
PRE_END_S = 0.03
SAMPLE_MIN_WINDOW_S = 4.0


class PointFailed(RuntimeError):
    pass


class PointSkipped(RuntimeError):
    pass


class Env:
    """What a whole run shares: paths, mode, K, capacities measured so far, and what
    this machine could not measure."""

    def __init__(self, root, build, run_dir, mode, k=None, placement=None, sampler=None):
        self.root, self.build, self.run_dir, self.mode, self.k = root, build, run_dir, mode, k
        # Where the roles run (lib/placement.py; everything here by default) and how the
        # server's /proc is read there (lib/sampler.py).
        self.placement = placement or Placement(hosts.LocalHost(), [hosts.LocalHost()])
        self.sampler = sampler or Sampler()
        self.capacity = {}
        self.unsupported = {}
        self.checks = []
        self.failures = []
        # The database of an experiment that uses one (lib/pg.Cluster, started by
        # the suite for its points), or why there is none.
        self.db = None
        self.db_why = None
        self.harness_dir = os.path.join(root, "harness")

    def unsupported_add(self, what, why):
        self.unsupported.setdefault(what, why)


def server_extra(p, db_uri=None):
    a = []
    if p.db_conns is not None and db_uri:
        a += ["--db", db_uri, "--db-conns", str(p.db_conns)]
    if p.offload and models.supports(p.model, "offload"):
        a += ["--offload", str(p.offload)]
    if p.reactors and p.reactors > 1 and models.supports(p.model, "reactors"):
        a += ["--reactors", str(p.reactors)]
    if p.pool_threads and models.supports(p.model, "threads"):
        a += ["--threads", str(p.pool_threads)]
    if p.pool_threads and models.supports(p.model, "procs"):
        a += ["--procs", str(p.pool_threads)]
    if p.enable_fail:
        a += ["--enable-fail"]
    return a


def _resolve_rate(env, p):
    if p.rate_of:
        key, frac = p.rate_of
        cap = env.capacity.get(key)
        if not cap:
            raise PointSkipped("no capacity was measured for %s (its probe failed)" % key)
        p.resolved_rate = max(1.0, cap * frac)
    else:
        p.resolved_rate = p.rate


def _perf_mode(p):
    """Per-CPU counting when the server has CPUs the generator does not use."""
    own = set(cpu_list(p.server_cpus)) - set(cpu_list(p.gen_cpus))
    if own == set(cpu_list(p.server_cpus)) and tracers.perf_system_wide_allowed():
        return "cpu"
    return "pid"


def _shape(env, p):
    """The wire for the point: its own round trip (p.rtt_ms, on top of the run's
    loss and rate), or the run's shaping.  A point that asks for a round trip on a
    run whose client links cannot carry one is skipped, and says why."""
    pl = env.placement
    if p.rtt_ms is None:
        return
    why = pl.wire_unavailable()
    if why:
        raise PointSkipped("not testable here: %s" % why)
    pl.set_shaping((pl.shaping or wire.Shaping()).with_rtt(p.rtt_ms))


def run_point(env, p, raw_base):
    if p.capture == "callgrind":
        return run_callgrind_point(env, p, raw_base)
    _resolve_rate(env, p)
    _shape(env, p)
    if p.db_conns is not None and env.db is None:
        raise PointSkipped("no database: %s" % (env.db_why or "none was started"))
    db = env.db if p.db_conns is not None else None
    pl, sm = env.placement, env.sampler
    # Whether the server shares this machine (its /proc, its CPUs) with the harness
    # and the generators: true for local and namespace hosts.
    here = pl.server.machine == hosts.LocalHost().machine
    sys0 = sm.system()
    srv = server.Server(env.build, p.model, p.proto, p.server_cpus, raw_base, k=env.k,
                        extra=server_extra(p, db.uri if db else None), host=pl.server,
                        bind=pl.server_bind())
    db_ns = {}
    idle = perf = strace = fault = lg = gens = wired = crash = waiting = None
    fault_host = pl.clients[0]
    info = {"point": p.describe(), "notes": []}
    s0 = s1 = s_pre = None
    mid = {}
    samples = []
    counts = {}
    calls = {}
    alive = True
    try:
        try:
            srv.start()
        except (server.ServerError, procs.ChildError) as e:
            raise PointFailed(str(e)) from None
        info["server_cmd"] = srv.cmdline
        # The server's own descriptors before any client: its listeners (one per
        # reactor or process), so the sockets it holds later are its connections.
        fds0, socks0 = sm.fds(srv.pid)
        if p.idle_conns:
            idle = idleconns.IdleConns(srv.port, p.idle_conns, **idle_origin(pl)).open()
            # Wait until the server holds the connections (one descriptor each), so
            # its memory is measured with all of them in place.
            deadline = time.monotonic() + 5.0 + p.idle_conns / 1000.0
            while (sm.fd_count(srv.pid) < fds0 + idle.connected
                   and time.monotonic() < deadline and srv.alive()):
                time.sleep(0.1)
            info["idle"] = idle.summary()
            info["idle"]["server_fds_added"] = sm.fd_count(srv.pid) - fds0
        if p.wait_conns:
            waiting = _start_waiting(env, p, srv, raw_base)
        if p.capture in ("syscalls", "strace") and not here:
            env.unsupported_add("perf and strace on %s" % pl.server.spec,
                                "they run on the machine of the harness, not on a server host "
                                "reached over ssh")
        elif p.capture == "syscalls":
            mode = _perf_mode(p)
            pids = capture.tree(srv.pid)
            perf = tracers.PerfStat(raw_base + ".perf.txt",
                                    ["raw_syscalls:sys_enter", "context-switches"],
                                    cpus=p.server_cpus if mode == "cpu" else None,
                                    pids=pids if mode == "pid" else None)
            info["perf_mode"] = mode
            if not perf.start():
                env.unsupported_add("perf stat raw_syscalls:sys_enter", perf.error)
        if p.capture == "strace" and here:
            strace = tracers.StraceProfile(raw_base + ".strace.txt", capture.tree(srv.pid))
            if not strace.start():
                env.unsupported_add("strace -c -f -p", strace.error)
        gens = lg = generators_for(env, p, srv.port, raw_base)
        if pl.wires():
            cpus, where = wire.pin_cpus(os.cpu_count() or 1, p.server_cpus, p.gen_cpus)
            pl.wire_begin(cpus)
            wired = {"cpus": cpus, "where": where}
        try:
            lg.start()
        except procs.ChildError as e:
            raise PointFailed(str(e)) from None
        if p.faults:
            with open(raw_base + ".faults.log", "w") as flog:
                fh = fault_host
                fault = fh.spawn(
                    ["taskset", "-c", p.gen_cpus,
                     fh.python,
                     fh.path(os.path.join(env.harness_dir, "lib", "faultgen.py")),
                     "--target", "%s:%d" % (pl.target(fh), srv.port), "--rate", str(p.fault_rate),
                     "--duration", "%g" % (p.warmup + p.duration + 0.5),
                     "--json", fh.path(raw_base + ".faults.json")]
                    + (["--fail"] if p.enable_fail else []), stderr=flog)
        crash = Crash(env, p, srv, raw_base, fault_host) if p.crash else None
        # The processes that are part of the point besides the server: their CPU
        # time is not "someone else" when the point's CPUs are accounted for (on
        # the server's machine only: elsewhere they use other CPUs).
        ours = (lg.pids() + ([fault.pid] if fault and fault_host.kind != "ssh" else [])
                + ([waiting.proc.pid] if waiting and waiting.host.kind != "ssh" else [])
                + pl.wire_pids()) if here else []
        budget = ((p.warmup or 0) + (p.duration if p.requests is None else 120)
                  + p.timeout_ms / 1000.0 + 20 + (p.conns + p.idle_conns) / 500.0 + lg.lead_s)
        deadline = time.monotonic() + budget
        last_sample = 0.0
        pre_at = mid_at = None
        while True:
            wait = 0.25
            for at, done in ((pre_at, s_pre), (mid_at, mid or None)):
                if at is not None and done is None:
                    wait = max(0.0, min(wait, at - time.monotonic()))
            if crash:
                wait = min(wait, crash.wait())
            ev = lg.next_event(wait)
            now = time.monotonic()
            if ev:
                name, t = ev
                if name == "measure start" and s0 is None:
                    if perf and perf.error is None:
                        perf.enable()
                    if db and here:
                        # The database is part of the point too; its backends
                        # are all connected by the end of the warm-up.
                        ours = ours + db.pids()
                    s0 = sm.snapshot(srv.pid, others=ours)
                    s0["line_t"] = t
                    if db:
                        db_ns["start"] = db.cpu_ns()
                    last_sample = now
                    if crash:
                        crash.start()
                    if p.requests is None:
                        # See PRE_END_S: the state under load is read just before
                        # the window ends, leaving time for the ctx walk.
                        cost = s0["t_end"] - s0["t"]
                        pre_at = t + p.duration - max(PRE_END_S, 1.5 * cost)
                        mid_at = t + p.duration / 2
                elif name == "measure end" and s1 is None:
                    if perf and perf.error is None:
                        perf.disable()
                    s1 = sm.snapshot(srv.pid, others=ours)
                    s1["line_t"] = t
                    if db:
                        db_ns["end"] = db.cpu_ns()
                elif name == "eof":
                    break
            now = time.monotonic()
            if crash:
                crash.step()
            if mid_at is not None and not mid and s1 is None and now >= mid_at:
                # Connections, counted from both sides in the middle of the window:
                # the kernel's established ones to the port (accepted or in the
                # backlog) and the sockets the server holds.
                mid["conns_kernel"] = sm.established(srv.port)
                mid["conns_server"] = sm.fds(srv.pid)[1] - socks0
                mid["t"] = now
            if pre_at is not None and s_pre is None and s1 is None and now >= pre_at:
                s_pre = sm.snapshot(srv.pid, others=ours)
            # Samples over a long window (proc.json only).  The harness shares the
            # generator's core, so a short window gets no more reads than it needs.
            if s0 is not None and s1 is None and p.duration >= SAMPLE_MIN_WINDOW_S \
                    and now - last_sample >= 1.0:
                samples.append(sm.snapshot(srv.pid, with_ctx=False))
                last_sample = now
            if now > deadline:
                raise PointFailed("loadgen did not finish within %.0f s (killed)" % budget)
        rc = lg.finish(grace=5.0)
        lg = None
        if rc != 0:
            raise PointFailed("loadgen exited with code %s: %s" % (rc, server._tail(raw_base + ".loadgen.log", 3)))
        if waiting is not None:
            from .plan import WAIT_MARGIN_S
            rc = waiting.finish(grace=WAIT_MARGIN_S + p.timeout_ms / 1000.0 + 5.0)
            waiting = None
            if rc != 0:
                raise PointFailed("the waiting connections' loadgen exited with code %s: %s"
                                  % (rc, server._tail(raw_base + ".waiting.loadgen.log", 3)))
        if s0 is None or s1 is None:
            raise PointFailed("loadgen never printed 'measure start'/'measure end'")
        if not s1["alive"]:
            info["notes"].append("server died during the window")
        if perf:
            counts = perf.finish()
            if perf.error:
                env.unsupported_add("perf stat raw_syscalls:sys_enter (%s mode, %d threads)"
                                    % (info.get("perf_mode"), s1["threads"]), perf.error)
            perf = None
        if strace:
            calls = strace.finish()
            if not calls and not strace.error:
                env.unsupported_add("strace -c -f -p", "no summary written")
            strace = None
    finally:
        if lg is not None:
            lg.stop()
        if waiting is not None:
            waiting.stop()
        if wired is not None:
            try:
                net = pl.network() or {}
                wired.update(mechanism=net.get("mechanism"), shaping=net.get("shaping"),
                             scheduling=net.get("scheduling"), links=pl.wire_end())
                with open(raw_base + ".wire.json", "w") as f:
                    json.dump(wired, f, indent=1)
            except (wire.WireError, OSError) as e:
                info["notes"].append("the wire's counters: %s" % e)
            info["wire"] = wired
        if fault is not None:
            fault_host.stop(fault, grace=3.0)
            fault_host.fetch([raw_base + ".faults.json"])
        if crash is not None:
            info["crash"] = crash.finish()
            if info["crash"]["harness_restarted"]:
                info["notes"].append("the server died %s ms after the crash request (exit status %s); "
                                     "the harness started it again on port %d (it has no supervisor)"
                                     % (info["crash"]["died_ms"], info["crash"]["exit_status"],
                                        srv.port))
        if perf is not None:
            perf.finish()
        if strace is not None:
            strace.finish()
        if idle is not None:
            idle.close()
        alive = srv.alive()
        stats, note = srv.stop()
        if note:
            info["notes"].append(note)
        info["server_stats"] = stats
        info["mid"] = mid or None
        if p.faults:
            info["faults"] = loadgen.read_json(raw_base + ".faults.json")
        with open(raw_base + ".proc.json", "w") as f:
            json.dump({"baseline": sys0, "start": s0, "pre_end": s_pre, "end": s1, "samples": samples,
                       "perf": counts or None, "strace_calls": calls or None,
                       "info": info}, f, indent=1)
    j = gens.merge(raw_base + ".loadgen.json")
    if j is None:
        raise PointFailed("loadgen wrote no JSON result")
    if len(gens.shares) > 1:
        info["generators"] = {"hosts": [sh.host.spec for sh in gens.shares],
                              "window_skew_ms": j.get("window_skew_ms"),
                              "start_late_ms": j.get("start_late_ms")}
    if crash:
        # The server under test is the one the harness started: alive at the end
        # only if it never died.  A process that died takes its CPU time along, so
        # a crash point measures what the clients lost, not CPU.
        alive = alive and not info["crash"]["harness_restarted"]
        s0 = s1 = s_pre = None
        mid = {}
    wj = None
    if p.wait_conns:
        pl.clients[0].fetch([raw_base + ".waiting.loadgen.json"])
        wj = loadgen.read_json(raw_base + ".waiting.loadgen.json")
        if wj is None:
            raise PointFailed("the waiting connections' loadgen wrote no JSON result")
        info["waiting"] = {k: wj.get(k) for k in ("rps", "requests", "warmup_requests", "abandoned",
                                                   "errors", "conns_at_window", "latency_us")}
    # The point's CPUs: the server's, and the generators' when they share its machine.
    cpus = set(cpu_list(p.server_cpus))
    if not pl.generators_apart():
        cpus |= set(cpu_list(p.gen_cpus))
    ctx = {"s0": s0, "s1": s1, "s_pre": s_pre, "sys0": sys0, "mid": mid, "alive": alive,
           "idle": idle.summary() if idle else None, "cpus": sorted(cpus), "waiting": wj,
           "rtt_ms": pl.shaping_now.rtt_ms if wired is not None and pl.shaping_now else None,
           "db_cpu_ns": (db_ns["end"] - db_ns["start"])
           if db_ns.get("start") is not None and db_ns.get("end") is not None else None}
    rows = make_rows(p, j, ctx, counts, calls, stats)
    _check_counts(env, p, j, stats, info, idle, wj)
    if p.probe_key and rows and rows[0].get("rps"):
        env.capacity[p.probe_key] = rows[0]["rps"]
    info["invalid"] = rows[0].get("invalid") if rows else None
    info["gen_stall"] = generator_stall(p, j)
    return rows, info


def generators_for(env, p, port, raw_base):
    """The point's load generators: one per client host, each with its share of
    the connections, rate and requests, each aimed at the server's address as its
    host reaches it (lib/generators.py).  One local generator is run as always."""
    pl = env.placement
    shares = generators.shares(pl.clients, p.conns, p.resolved_rate, p.requests)

    def argv_for(sh, json_path, start_at):
        q = dataclasses.replace(p, conns=sh.conns, requests=sh.requests, resolved_rate=sh.rate)
        return loadgen.argv(env.build, q, port, json_path, target=pl.target(sh.host),
                            start_at=start_at,
                            binary=sh.host.path(os.path.join(env.build, "loadgen")))
    return generators.Generators(shares, argv_for, raw_base)


def _start_waiting(env, p, srv, raw_base):
    """Starts the generator of the point's waiting connections, on the first client
    host, and returns it once they are all open and each has a request outstanding
    (its `measure start`)."""
    host = env.placement.clients[0]
    lgw = loadgen.Loadgen(loadgen.waiting_argv(env.build, p, srv.port,
                                               host.path(raw_base + ".waiting.loadgen.json"),
                                               target=env.placement.target(host),
                                               binary=host.path(os.path.join(env.build, "loadgen"))),
                          raw_base + ".waiting.loadgen.log", host=host)
    try:
        lgw.start()
    except procs.ChildError as e:
        raise PointFailed(str(e)) from None
    deadline = time.monotonic() + 10.0 + p.wait_conns / 1000.0
    while time.monotonic() < deadline:
        ev = lgw.next_event(0.25)
        if ev and ev[0] == "measure start":
            return lgw
        if ev and ev[0] == "eof":
            break
    lgw.stop()
    raise PointFailed("the waiting connections' loadgen never began its window")


def _waiting_counts(wj):
    """(answered, may also have been answered) of the waiting connections'
    generator, for the counting rule."""
    if not wj:
        return 0, 0
    errs = sum((wj.get("errors") or {}).values()) + sum((wj.get("warmup_errors") or {}).values())
    return (wj.get("warmup_requests", 0) + wj.get("requests", 0),
            wj.get("abandoned", 0) + errs)


def idle_origin(pl):
    """Where the harness opens idle connections from: this machine for a local
    server; the first client's namespace for one in a namespace (sockets made
    there, lib/netlab.py); this machine, to the address named, for an ssh host."""
    if pl.server.kind == "local":
        return {}
    c = pl.clients[0]
    if pl.server.kind == "ns":
        return {"addr": pl.target(c), "netns": c.ns}
    return {"addr": pl.check(pl.server.address)}


class Crash:
    """A crash point's crash: a third into the window one client sends GET
    /fail?kind=crash and then probes until a new client is answered (faultgen.py
    --crash on the fault client's host, started at `measure start` and told to
    wait, so its own start-up is not in the times).  Meanwhile the server is
    watched every WATCH_S; a model that died with no supervisor of its own is
    started again on the same port, at once, by the harness -- and the point says
    so.  Its times are measured from the crash client's clock: on a host reached
    over ssh (another clock) only the client's own are kept."""
    WATCH_S = 0.01

    def __init__(self, env, p, srv, raw_base, host):
        self.env, self.p, self.srv, self.raw_base, self.host = env, p, srv, raw_base, host
        self.client = None
        self.died = self.back = None        # wall clock, as the client's sent_unix
        self.exit_status = None
        self.error = None

    def start(self):
        """At `measure start`."""
        h = self.host
        with open(self.raw_base + ".crash.log", "w") as log:
            self.client = h.spawn(
                ["taskset", "-c", self.p.gen_cpus, h.python,
                 h.path(os.path.join(self.env.harness_dir, "lib", "faultgen.py")), "--crash",
                 "--target", "%s:%d" % (self.env.placement.target(h), self.srv.port),
                 "--delay", "%g" % (self.p.duration / 3), "--duration", "%g" % self.p.duration,
                 "--json", h.path(self.raw_base + ".crash.json")], stderr=log)

    def wait(self):
        return self.WATCH_S if self.client is not None and self.died is None else 0.25

    def step(self):
        if self.client is None or self.died is not None or self.srv.alive():
            return
        self.died = time.time()
        try:
            self.exit_status = self.srv.restart()
            self.back = time.time()
        except (server.ServerError, procs.ChildError) as e:
            self.error = "the harness could not start it again: %s" % e

    def finish(self):
        if self.client is not None:
            self.host.stop(self.client, grace=3.0)
            self.host.fetch([self.raw_base + ".crash.json"])
        cl = loadgen.read_json(self.raw_base + ".crash.json") or {}
        sent = cl.get("sent_unix") if self.host.kind != "ssh" else None
        ms = lambda t: None if t is None or sent is None else round((t - sent) * 1000, 1)
        return {"sent": cl.get("crash") is not None,
                "harness_restarted": self.died is not None,
                "died_ms": ms(self.died), "restarted_ms": ms(self.back),
                "exit_status": self.exit_status, "error": self.error, "client": cl}


def _check_counts(env, p, j, stats, info, idle, wj=None):
    """The contract's counting rule: server.requests >= warmup + measured requests and
    <= that + abandoned + errors (the waiting connections' requests added to both).
    A broken rule is reported, never fixed up."""
    if p.proto != "http" or p.faults or p.crash or not stats or "requests" not in stats:
        return
    # Each idle connection sent one request: answered while the harness watched, or
    # (the pool, once a worker frees up) maybe later.
    extra = idle.answered if idle else 0
    late_idle = (idle.connected - idle.answered) if idle else 0
    w_done, w_maybe = _waiting_counts(wj)
    lo = j.get("warmup_requests", 0) + j.get("requests", 0) + extra + w_done
    # A request the generator gave up on (a timeout, in the window or the warm-up)
    # may still be answered, and counted, by the server.
    errs = sum((j.get("errors") or {}).values()) + sum((j.get("warmup_errors") or {}).values())
    hi = lo + j.get("abandoned", 0) + errs + late_idle + w_maybe
    got = stats["requests"]
    if not (lo <= got <= hi):
        env.checks.append("%s %s: server counted %d requests, loadgen says %d..%d"
                          % (p.experiment, p.describe(), got, lo, hi))


# loadgen's own bound on its threads' busy share (docs/loadgen.md).
GEN_BUSY_MAX = 0.9


def _generator_bound(selfc, tolerance_us):
    """loadgen's generator_bound, or with a point's own tolerance for its loop lag
    (Point.gen_lag_tolerance_us, wait_lag_tolerance_us): busy >= 90 % still counts
    whatever it is."""
    if tolerance_us is None:
        return bool(selfc.get("generator_bound"))
    lag = (selfc.get("loop_lag_us") or {}).get("p99")
    return (any(b >= GEN_BUSY_MAX for b in selfc.get("busy") or [])
            or (lag is not None and lag >= tolerance_us))


def generator_stall(p, j):
    """Why this repetition's latencies carry a stall of the generator rather than the
    server's time (None when they do not): an open-loop generator, no thread ever near
    busy, that still woke at least GEN_STALL's share of the window late.  suite runs
    such a repetition again, once."""
    if p.resolved_rate is None or p.requests is not None or not p.duration:
        return None
    selfc = j.get("self") or {}
    busy = selfc.get("busy") or []
    lag = (selfc.get("loop_lag_us") or {}).get("max")
    if not busy or lag is None or any(b >= GEN_BUSY_MAX for b in busy):
        return None
    if lag < GEN_STALL.value * p.duration * 1e6:
        return None
    return ("the generator stalled %.1f ms (busy %s), over %g%% of the %g s window"
            % (lag / 1000.0, "/".join("%.0f%%" % (100 * b) for b in busy),
               100 * GEN_STALL.value, p.duration))


def keep_stalled_attempt(raw_base):
    """Renames a stalled attempt's raw files from <point>.* to <point>.stalled.*, so
    the attempt that replaces it writes its own and neither is lost."""
    for f in sorted(glob.glob(raw_base + ".*")):
        if os.path.isfile(f) and not f.startswith(raw_base + ".stalled."):
            os.rename(f, raw_base + ".stalled." + f[len(raw_base) + 1:])


def ramp_held_by_server(j):
    """True when the connections still behind the generator's connect ramp wait on
    connects the server's side never completed: its ramp (256 connects in flight)
    was full of connects that failed -- timed out or refused, not for want of
    descriptors or ports on the client (`connect_local_errors`).  The generator
    offered them; the server did not take them.  Prefork with 5,000 connections
    is the case: its 64 workers accept one each, the 4,096 behind them fill the
    listen backlog (and stay there after their clients time out), and every
    further SYN is dropped.  A server that accepts fewer is a result, not an
    invalid point; the row's conns_gen, conns_kernel and conns_server show how
    many it held."""
    at = j.get("conns_at_window") or {}
    failed = (((j.get("errors") or {}).get("connect") or 0)
              + ((j.get("warmup_errors") or {}).get("connect") or 0))
    return bool(at.get("connecting")) and failed > 0


def invalid_reasons(p, j, idle, wj=None):
    """Why the generator failed to offer what the point says (empty: it did)."""
    out = []
    if wj is not None:
        wat = wj.get("conns_at_window") or {}
        if wat.get("waiting") or wj.get("connect_local_errors"):
            out.append("the waiting connections were not all open (%s of %d not attempted, %s "
                       "connects failed on the client's side)"
                       % (wat.get("waiting", 0), p.wait_conns, wj.get("connect_local_errors", 0)))
        if _generator_bound(wj.get("self") or {}, p.wait_lag_tolerance_us):
            out.append("the waiting connections' generator was the bottleneck")
    at = j.get("conns_at_window") or {}
    if at.get("waiting") and not ramp_held_by_server(j):
        out.append("connect ramp unfinished: %d of %d connections not yet attempted when "
                   "the window began" % (at["waiting"], p.conns))
    if j.get("connect_local_errors"):
        out.append("the client ran out of descriptors or ports (%d connects failed on its "
                   "side)" % j["connect_local_errors"])
    if idle and idle.get("failed_local"):
        out.append("the harness could not open %d of its idle connections (client limits)"
                   % idle["failed_local"])
    skew = generators.skew_problem(j)
    if skew:
        out.append(skew)
    selfc = j.get("self") or {}
    if _generator_bound(selfc, p.gen_lag_tolerance_us):
        busy = selfc.get("busy") or []
        # Open loop, every request of the rate sent, no thread near busy: only
        # its wake-ups were late (verdict.LAGGED says what that leaves standing).
        lagged = (p.resolved_rate is not None and bool(busy) and not j.get("unsent")
                  and all(b < GEN_BUSY_MAX for b in busy))
        out.append("%s (busy %s, loop lag p99 %s µs)"
                   % (LAGGED if lagged else "generator-bound",
                      "/".join("%.0f%%" % (100 * b) for b in busy) or "?",
                      (selfc.get("loop_lag_us") or {}).get("p99", "?")))
    return out


def _percentiles(hist):
    out = {}
    for col, pct in analysis.LAT_COLS.items():
        out[col] = analysis.hist_percentile(hist, pct) if hist else None
    return out


def make_rows(p, j, ctx, counts, calls, stats):
    """data.csv rows of one point (the total, then one per path of a --mix), each
    with its histogram in "_hist" (written to hist.jsonl, not data.csv)."""
    ctx = ctx or {}
    s0, s1, s_pre, sys0 = ctx.get("s0"), ctx.get("s1"), ctx.get("s_pre"), ctx.get("sys0") or {}
    errs = j.get("errors") or {}
    wu_errs = j.get("warmup_errors") or {}
    duration = j.get("duration_s")
    reqs = j.get("requests")
    event_like = models.supports(p.model, "offload")
    bad = invalid_reasons(p, j, ctx.get("idle"), ctx.get("waiting"))
    base = {
        "schema": SCHEMA, "experiment": p.experiment, "model": p.model,
        "variant": p.variant, "proto": p.proto,
        "offload": (p.offload or 0) if event_like else None,
        "reactors": (p.reactors or 1) if event_like else None,
        "conns": p.conns, "idle_conns": p.idle_conns + p.wait_conns,
        "pipeline": (p.pipeline or 1) if p.proto == "http" else None,
        "size": p.size if p.proto == "echo" else None,
        "rate": round(p.resolved_rate) if p.resolved_rate else None,
        "work_path": p.work_path, "work_us": p.work_us, "rep": p.rep,
        "duration_s": duration, "seq": p.seq, "timeout_ms": p.timeout_ms,
        "valid": not bad, "invalid": "; ".join(bad) or None, "rtt_ms": ctx.get("rtt_ms"),
        "db_conns": p.db_conns,
    }
    timeout_us = p.timeout_ms * 1000
    unanswered = (errs.get("timeout") or 0) + (j.get("abandoned") or 0) + (j.get("unsent") or 0)
    # Every request of the window that was never answered counts in the percentiles
    # as the generator's timeout (a lower bound of its latency); an answer that came
    # during the drain keeps its real latency (it is in the generator's histogram).
    hist = analysis.hist_add(j.get("histogram") or [], timeout_us, unanswered)
    total = dict(base)
    total.update(_percentiles(hist))
    total.update({
        "path": "*", "requests": reqs, "rps": j.get("rps"), "_hist": hist,
        "mbps": (j.get("bytes_in") / duration / 1e6) if duration and j.get("bytes_in") is not None else None,
        "errors": sum(v for k, v in errs.items() if k != "timeout"),
        "timeouts": errs.get("timeout"),
        "abandoned": j.get("abandoned"),
        "late": j.get("late") if p.resolved_rate else None,
        "unanswered": unanswered, "unsent": j.get("unsent") if p.resolved_rate else None,
        "mean_us": (j.get("latency_us") or {}).get("mean") if (j.get("latency_us") or {}).get("count") else None,
        "warmup_requests": j.get("warmup_requests"),
        "warmup_errors": sum(wu_errs.values()) if wu_errs else None,
        "reconnects": j.get("reconnects"),
        "conns_gen": (j.get("conns_at_window") or {}).get("open"),
        "conns_kernel": (ctx.get("mid") or {}).get("conns_kernel"),
        "conns_server": (ctx.get("mid") or {}).get("conns_server"),
        "server_alive": ctx.get("alive"),
    })
    if ctx.get("db_cpu_ns") is not None:
        # The database's CPU over the same window (the postmaster, its backends,
        # and those that exited in it: lib/pg.Cluster.cpu_ns), beside the server's.
        total["db_cpu_s"] = round(ctx["db_cpu_ns"] / 1e9, 6)
        if reqs:
            total["db_cpu_us_per_req"] = ctx["db_cpu_ns"] / 1e3 / reqs
    selfc = j.get("self") or {}
    total["gen_cpu_us_per_req"] = selfc.get("cpu_us_per_request")
    gb = selfc.get("generator_bound")
    total["gen_bound"] = bool(gb) if gb is not None else None
    if stats and stats.get("requests") is not None:
        total["server_requests"] = stats["requests"]
        if duration:
            # The server's count less what the client counted before the window
            # (warm-up, and each idle connection's one request), over the window:
            # the server's view of the window's throughput, answers the client
            # gave up on included.
            before = (j.get("warmup_requests") or 0) + ((ctx.get("idle") or {}).get("answered") or 0)
            # The waiting connections' requests are not the window's load.
            before += _waiting_counts(ctx.get("waiting"))[0]
            total["server_rps"] = max(0.0, stats["requests"] - before) / duration
    if s0 and s1:
        u = s1["cpu_user_s"] - s0["cpu_user_s"]
        s = s1["cpu_sys_s"] - s0["cpu_sys_s"]
        total["cpu_user_s"] = round(u, 3)
        total["cpu_sys_s"] = round(s, 3)
        st = s_pre or s1
        win = s1["line_t"] - s0["line_t"]
        if s_pre:
            # Counted up to the pre-end snapshot and extended pro rata over the
            # last few tens of milliseconds of the window (see PRE_END_S).
            mid = lambda x: (x["t"] + x["t_end"]) / 2
            span = mid(s_pre) - mid(s0)
            scale = win / span if span > 0 else 1.0
            total["ctx_switches"] = round((s_pre["ctx_switches"] - s0["ctx_switches"]) * scale)
        else:
            scale = 1.0
            total["ctx_switches"] = s1["ctx_switches"] - s0["ctx_switches"]
        cpu = (st["cpu_ns"] - s0["cpu_ns"]) * scale / 1e9
        total["cpu_s"] = round(cpu, 6)
        if reqs:
            total["cpu_us_per_req"] = cpu * 1e6 / reqs
        total["rss_kb"] = st["rss_kb"]
        total["hwm_kb"] = s1["hwm_kb"]
        total["threads"] = st["threads"]
        if st.get("kernel_stack_kb") is not None and sys0.get("kernel_stack_kb") is not None:
            total["kernel_stack_kb"] = st["kernel_stack_kb"] - sys0["kernel_stack_kb"]
        if st.get("sock_mem_kb") is not None and sys0.get("sock_mem_kb") is not None:
            total["sock_mem_kb"] = st["sock_mem_kb"] - sys0["sock_mem_kb"]
        use = capture.usage(s0, st, ctx.get("cpus") or [])
        total.update(use)
        if use["others_pct"] is not None:
            total["disturbed"] = (use["others_pct"] > DISTURBED.value
                                  or use["steal_pct"] > DISTURBED.value)
    if p.capture == "syscalls":
        n = (counts or {}).get("raw_syscalls:sys_enter")
        if n is not None:
            total["syscalls"] = int(n)
            if reqs:
                total["syscalls_per_req"] = n / reqs
    if p.capture == "strace" and calls.get("total"):
        # strace covered warm-up, window and drain: divide by what the server
        # counted over its life (nginx keeps no count: the generator's total).
        total["syscalls"] = calls["total"]
        served = (stats or {}).get("requests") or ((j.get("warmup_requests") or 0) + (reqs or 0))
        if served:
            total["syscalls_per_req"] = calls["total"] / served
    rows = [total]
    for path, pj in sorted((j.get("paths") or {}).items()):
        if not p.mix:
            break
        r = dict(base)
        # Timeouts are not told apart by path: a path's percentiles cover its
        # answered requests (the total row counts every unanswered one).
        ph = pj.get("histogram") or []
        r.update(_percentiles(ph))
        pl = pj.get("latency_us") or {}
        r.update({"path": path, "requests": pj.get("requests"), "_hist": ph,
                  "rps": (pj.get("requests") / duration) if duration and pj.get("requests") is not None else None,
                  "mean_us": pl.get("mean") if pl.get("count") else None})
        rows.append(r)
    return rows


def run_callgrind_point(env, p, raw_base):
    """One C model under callgrind: start, answer p.requests requests (0 for the
    start-up-and-shutdown baseline), stop, read the instruction total."""
    pl = env.placement
    out = raw_base + ".callgrind.out"
    wrapper = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + pl.server.path(out),
               "--dump-line=no", "--compress-strings=no", "--compress-pos=no"]
    srv = server.Server(env.build, p.model, p.proto, p.server_cpus, raw_base, k=env.k,
                        extra=server_extra(p), wrapper=wrapper, start_timeout=60.0,
                        host=pl.server, bind=pl.server_bind())
    info = {"point": p.describe(), "notes": []}
    j = None
    lg = None
    try:
        try:
            srv.start()
        except (server.ServerError, procs.ChildError) as e:
            raise PointFailed(str(e)) from None
        if p.requests:
            p.resolved_rate = None
            gens = lg = generators_for(env, p, srv.port, raw_base)
            lg.start()
            deadline = time.monotonic() + 120 + p.requests / 500.0
            while True:
                ev = lg.next_event(0.25)
                if ev and ev[0] == "eof":
                    break
                if time.monotonic() > deadline:
                    raise PointFailed("loadgen under callgrind did not finish in time")
            rc = lg.finish(grace=5.0)
            lg = None
            if rc != 0:
                raise PointFailed("loadgen exited with code %s" % rc)
            j = gens.merge(raw_base + ".loadgen.json")
    finally:
        if lg is not None:
            lg.stop()
        old = server.STOP_GRACE_S
        server.STOP_GRACE_S = 60.0
        try:
            stats, note = srv.stop()
        finally:
            server.STOP_GRACE_S = old
        if note:
            info["notes"].append(note)
        pl.server.fetch([out])
    ir = callgrind.total(out)
    if ir is None:
        raise PointFailed("callgrind wrote no instruction total (%s)" % out)
    served = (stats or {}).get("requests")
    if served is None:
        # No stats JSON (the server did not shut down cleanly): the generator's count
        # of answered requests stands in, and the report says so.
        served = ((j or {}).get("requests") or 0) + ((j or {}).get("warmup_requests") or 0)
        info["notes"].append("requests per the load generator (no server stats)")
    info["instr"] = {"model": p.model, "series": p.series, "conns": p.conns, "rep": p.rep,
                     "requests_asked": p.requests or 0, "requests_served": served,
                     "ir_total": ir, "ir_by_object": callgrind.by_object(out)}
    rows = []
    if j is not None:
        rows = make_rows(p, j, {"alive": True}, {}, {}, stats)
    return rows, info
