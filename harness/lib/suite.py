"""harness/run: plan every point of the chosen experiments, run them in order with a
progress line, write data.csv, raw/, meta.json, figures and reports."""
import argparse
import datetime
import json
import os
import sys
import time

from . import (analysis, budget, calibrate, capture, csvio, exp, hosts, idleconns,
               meta as metamod, models, pg, placement, procs, progress, report, resume, runner)
from .plan import cpu_list
from .sampler import SamplerError, Sampler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv):
    from experiments import ORDER
    ap = argparse.ArgumentParser(
        prog="harness/run",
        description="Run loopbench experiments and write results/<UTC time>-<name>/ "
                    "(data.csv, meta.json, raw/, figures, report.md, report.html).")
    ap.add_argument("experiment", nargs="?",
                    help="an experiment, a comma-separated list, or 'all': " + ", ".join(ORDER))
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const="quick",
                   help="fewer points and models, 3 repetitions, 1.25 s windows, within the "
                        "time budget (default; make bench)")
    g.add_argument("--full", dest="mode", action="store_const", const="full",
                   help="every point and model, 3 repetitions, 5 s windows (make bench-full)")
    g.add_argument("--smoke", dest="mode", action="store_const", const="smoke",
                   help="a tiny sweep, for the harness's own smoke test")
    ap.add_argument("--models", help="only these models (comma-separated)")
    ap.add_argument("--out", default=os.path.join(ROOT, "results"),
                    help="parent directory of the run directory (default results/)")
    ap.add_argument("--build", default=os.environ.get("LOOPBENCH_BUILD", os.path.join(ROOT, "build")),
                    help="where the srv-* binaries and loadgen are (default build/)")
    ap.add_argument("--list", action="store_true",
                    help="print the plan (every point, in run order) and its time estimate, and exit")
    h = ap.add_argument_group("hosts (docs/hosts.md): local, ns:NAME or ssh:[USER@]HOST[:PORT]")
    h.add_argument("--server-host", help="where the server runs (default local)")
    h.add_argument("--client-hosts", help="where the load generators run, one each, comma-separated "
                                          "(default local)")
    h.add_argument("--db-host", help="where the database runs")
    h.add_argument("--config", help="a run configuration file naming the hosts (docs/contract.md, "
                                    "Hosts); the options above and below override it")
    n = ap.add_argument_group("network (docs/hosts.md): a delay on the links from the server's "
                              "namespace to each client's, by tc netem where the kernel has it, "
                              "else build/delayline (harness/doctor says which)")
    n.add_argument("--rtt-ms", help="round-trip time to add, in ms (half each way)")
    n.add_argument("--loss", help="percentage of packets lost, each way (as netem's loss)")
    n.add_argument("--rate-mbit", help="bandwidth of the links, each way, in Mbit/s")
    ap.add_argument("--cpu-idle", choices=("poll", "halt"), default="poll",
                    help="what an idle CPU does during the run: poll (default: the harness holds "
                         "/dev/cpu_dma_latency at 0, so a VM's wake-ups are not charged to the "
                         "server; methodology.md) or halt (the machine's own setting)")
    ap.add_argument("--seed", type=int,
                    help="the seed of the shuffled x-value order (default: a new one, recorded "
                         "in meta.json; give a run's seed to repeat its order)")
    ap.add_argument("--resume", metavar="RUN_DIR",
                    help="finish an interrupted run in its own directory, with its own options "
                         "and seed (given alone: they come from its meta.json)")
    a = ap.parse_args(argv)
    a.mode = a.mode or "quick"
    if a.resume:
        if [x for x in argv if x not in ("--resume", a.resume) and not x.startswith("--resume=")]:
            ap.error("--resume takes every other option from the run's meta.json: give it alone")
        return a
    if not a.experiment:
        ap.error("name an experiment or 'all'")
    names = ORDER if a.experiment == "all" else a.experiment.split(",")
    bad = [n for n in names if n not in ORDER]
    if bad:
        ap.error("unknown experiment %s (known: %s)" % (", ".join(bad), ", ".join(ORDER)))
    a.names = names
    a.only = a.models.split(",") if a.models else None
    try:
        a.placement = placement.from_args(a.server_host, a.client_hosts, a.db_host, a.config,
                                          a.rtt_ms, a.loss, a.rate_mbit)
    except hosts.HostError as e:
        ap.error(str(e))
    return a


def main(argv):
    a = parse(argv)
    from experiments import get
    resumed = None
    if a.resume:
        run_dir = os.path.abspath(a.resume)
        try:
            resumed, resume_argv = resume.load(run_dir, ROOT)
        except resume.ResumeError as e:
            print("harness/run: --resume: %s" % e, file=sys.stderr)
            return 2
        a = parse(resume_argv)
        a.resume = run_dir
    procs.install_handlers()
    build = os.path.abspath(a.build)
    avail = models.available(build)
    if a.only:
        unknown = [m for m in a.only if m not in models.MODELS]
        if unknown:
            print("harness/run: unknown model %s" % ", ".join(unknown), file=sys.stderr)
            return 2
    loadgen = os.path.join(build, "loadgen")
    if not os.access(loadgen, os.X_OK):
        print("harness/run: %s is missing: run `make` first" % loadgen, file=sys.stderr)
        return 2
    if not [m for m in avail if m != "nginx"]:
        print("harness/run: no server binaries (build/srv-*) in %s: run `make` first" % build,
              file=sys.stderr)
        return 2
    for m, why in models.not_testable(build).items():
        if not a.only or m in a.only:
            print("harness/run: %s: not testable here: %s" % (m, why))
    mods = [get(n) for n in a.names]
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "little")
    cores = os.cpu_count() or 1
    plans = []
    for m in mods:
        ctx = exp.Ctx(a.mode, avail, a.only, cores, seed, m.NAME)
        pts = m.plan(ctx)
        for i, p in enumerate(pts, 1):
            p.seq = i
        plans.append((m, pts))
    if resumed is not None:
        try:
            resume.check_plan(resumed, plans)
        except resume.ResumeError as e:
            print("harness/run: --resume: %s" % e, file=sys.stderr)
            return 2
    total = sum(len(p) for _, p in plans)
    est = {m.NAME: budget.own_seconds(m, len({p.rep or 1 for p in pts})) +
           sum(p.est_seconds() for p in pts) for m, pts in plans}
    if a.list:
        for m, pts in plans:
            print("%s (%d points, about %.0f s here):" % (m.NAME, len(pts), est[m.NAME]))
            for p in pts:
                print("   ", p.describe())
        print()
        for line in _estimate_lines(a, mods, est):
            print(line)
        return 0
    if total == 0:
        print("harness/run: nothing to run (no model of these experiments is built%s)"
              % (" or selected" if a.only else ""), file=sys.stderr)
        return 2

    label = "all" if a.experiment == "all" else "+".join(a.names)
    if resumed is not None:
        run_dir = a.resume
        out_root = os.path.dirname(run_dir)
    else:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out_root = os.path.abspath(a.out)
        run_dir = os.path.join(out_root, "%s-%s" % (stamp, label))
        os.makedirs(run_dir)
    t_start = time.monotonic()
    # The harness only waits and reads /proc during a window: keep it off the
    # server's CPU so it never competes with it.
    try:
        gen = set(cpu_list(mods[0].GEN_CPUS)) & os.sched_getaffinity(0)
        if gen:
            os.sched_setaffinity(0, gen)
    except OSError:
        pass
    idleconns.raise_fd_limit(20000)

    if resumed is not None:
        print("loopbench harness: resuming %s (%s, %s mode, %d points planned)"
              % (run_dir, label, a.mode, total))
    else:
        print("loopbench harness: %s, %s mode, %d points -> %s" % (label, a.mode, total, run_dir))
    for line in _estimate_lines(a, mods, est):
        print("  " + line)
    pl = a.placement
    try:
        pl.open(build=build, run_dir=run_dir, say=lambda m: print("hosts: " + m, flush=True))
    except (hosts.HostError, OSError) as e:
        print("harness/run: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    # From here on the hosts are open: whatever happens, they are closed (the
    # namespaces deleted, the remote directories removed) before returning.
    sampler = Sampler(pl.server)
    try:
        return _run(a, argv, build, avail, mods, plans, total, est, run_dir, out_root, label,
                    t_start, seed, pl, sampler, resumed)
    finally:
        sampler.close()
        capture.release_cpu_idle()
        pl.close()


def _run(a, argv, build, avail, mods, plans, total, est, run_dir, out_root, label, t_start,
         seed, pl, sampler, resumed=None):
    try:
        sampler.open()
        if pl.db and not any(getattr(m, "USES_DB", False) for m in mods):
            print("hosts: --db-host %s: no experiment of this run starts a database; the host "
                  "is opened and recorded only" % pl.db.spec)
        if not pl.is_local():
            print("hosts: server %s, load generators %s%s" % (
                pl.server.spec, ", ".join("%s -> %s" % (c.spec, pl.target(c)) for c in pl.clients),
                ", database %s" % pl.db.spec if pl.db else ""))
        if pl.network():
            print("network: %s on the client links, by %s (%s)"
                  % (pl.shaping.describe(), pl.network()["mechanism"], pl.network()["why"]))
        idle = _hold_cpu_idle(a, sampler)
        facts = pl.facts(lambda h: hosts.run_files(build))
        for _, pts in plans:
            for p in pts:
                pl.place(p, facts)
    except KeyboardInterrupt:
        return 130
    except (hosts.HostError, SamplerError, procs.ChildError) as e:
        print("harness/run: %s" % e, file=sys.stderr)
        return 2
    if resumed is not None:
        meta, k, done = _resumed_meta(resumed, plans, run_dir, total)
        meta["resumed"][-1]["cpu_idle"] = idle
    else:
        meta, k = _new_meta(a, argv, build, avail, plans, est, run_dir, pl, facts, sampler, seed,
                            idle)
        done = {}
    meta["status"] = "running"
    meta["harness_pid"] = os.getpid()
    metamod.write(os.path.join(run_dir, "meta.json"), meta)

    env = runner.Env(ROOT, build, run_dir, a.mode, k, placement=pl, sampler=sampler)
    if resumed is not None:
        env.failures, env.checks = list(meta.get("failures") or []), list(meta.get("checks") or [])
    writer = csvio.Writer(os.path.join(run_dir, "data.csv"))
    rounds = _rounds(plans, done)
    meta.setdefault("rounds", len(rounds))
    prog = progress.Progress([p.est_seconds() for rnd in rounds for m, todo in rnd for i, p in todo],
                             log_path=os.path.join(run_dir, "progress.log"))
    last_round = {m.NAME: n for n, rnd in enumerate(rounds) for m, todo in rnd}
    spent = {}   # seconds each experiment spent in this sitting, over its rounds
    interrupted = False
    try:
        for n, rnd in enumerate(rounds):
            for m, todo in rnd:
                exp_dir = os.path.join(run_dir, m.NAME)
                os.makedirs(os.path.join(exp_dir, "raw"), exist_ok=True)
                index = open(os.path.join(exp_dir, "raw", "points.jsonl"), "a")
                hist_out = open(os.path.join(exp_dir, exp.HISTS), "a")
                t_exp = time.monotonic()
                wired = _WiredHosts(env, m, [p for i, p in todo], meta, build, run_dir)
                database = _Database(env, m, meta, exp_dir)
                env.k = _experiment_k(m, meta, k, build, exp_dir, pl)
                try:
                    wired.open()
                    database.open()
                    for i, p in todo:
                        _run_one(env, m, p, i, exp_dir, resumed, prog, index, hist_out, writer)
                finally:
                    database.close()
                    wired.close()
                index.close()
                hist_out.close()
                spent[m.NAME] = spent.get(m.NAME, 0.0) + time.monotonic() - t_exp
                if last_round[m.NAME] == n:
                    _end_experiment(run_dir, m, meta, env, spent[m.NAME], done.get(m.NAME, {}))
        # Experiments whose every point a resumed run had kept, but cut before their end.
        for m, pts in plans:
            if m.NAME not in last_round and meta["experiments"][m.NAME].get("seconds") is None:
                _end_experiment(run_dir, m, meta, env, 0.0, done.get(m.NAME, {}))
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping every server and load, writing what was measured",
              file=sys.stderr)
        procs.cleanup_all()
    finally:
        writer.close()
    wall = time.monotonic() - t_start
    if resumed is not None:
        wall += meta["resumed"][-1]["wall_s_before"]
    meta["status"] = "interrupted" if interrupted else "complete"
    meta["wall_s"] = round(wall, 1)
    meta["steal_pct_end"] = None if interrupted else _steal()
    from . import probes
    meta["loadavg_end"] = probes.loadavg()
    # How many times the CPUs halted during the run: 0 when the hold worked (this
    # machine's kernel only; an ssh server host's counters are its own).
    idle["halts"] = (capture.idle_exits_between(idle, capture.cpuidle_states())
                     if pl.server.kind != "ssh" else None)
    meta["unsupported"].update(env.unsupported)
    meta["checks"] = env.checks
    meta["failures"] = env.failures
    if meta.get("network"):
        meta["network"] = pl.network() or meta["network"]
    metamod.write(os.path.join(run_dir, "meta.json"), meta)
    try:
        report.write_run(run_dir)
    except Exception as e:  # the data is safe on disk; say what broke
        print("harness/run: the report could not be written: %r" % e, file=sys.stderr)
        raise
    latest = os.path.join(out_root, "latest")
    try:
        if os.path.islink(latest) or os.path.exists(latest):
            os.unlink(latest)
        os.symlink(os.path.basename(run_dir), latest)
    except OSError as e:
        print("harness/run: could not update %s: %s" % (latest, e), file=sys.stderr)
    _print_verdicts(run_dir)
    print("wrote %s/report.html (%d points%s, %d failed) in %s wall time"
          % (run_dir, total, "" if not interrupted and resumed is None else
             " planned, %d run in this sitting" % prog.i, len(env.failures), progress.clock(wall)))
    if interrupted:
        print("interrupted: every point finished so far is kept; finish the run with\n"
              "  harness/run --resume %s" % os.path.relpath(run_dir))
    return 130 if interrupted else 0


def _hold_cpu_idle(a, sampler):
    """Hold the server machine's idle CPUs at polling for the run (lib/capture.py
    says why), or leave them as they are with --cpu-idle halt; what was done goes
    into meta.json's `cpu_idle`.  Called before K is calibrated, so that K is measured
    with the CPUs idling the way they will during the points."""
    if a.cpu_idle == "halt":
        return dict(capture.cpuidle_states(), held=False, why="--cpu-idle halt")
    idle = sampler.hold_cpu_idle_poll()
    if not idle["held"]:
        print("harness/run: the idle CPUs are left to halt (%s): at low request rates a VM's "
              "wake-ups then count in the server's CPU per request (docs/methodology.md)"
              % idle["why"], file=sys.stderr)
    return idle


def _new_meta(a, argv, build, avail, plans, est, run_dir, pl, facts, sampler, seed, idle):
    """meta.json of a new run, and the calibration (K) it measured."""
    meta = metamod.collect(ROOT, build, a.mode, ["harness/run"] + list(argv))
    meta["cpu_idle"] = idle
    meta["fingerprint"] = resume.fingerprint(ROOT, build)
    meta["hosts"] = {"roles": pl.describe(), "facts": facts}
    meta["network"] = pl.network()
    meta["machine"] = metamod.machine_of_server(pl, facts, sampler)
    meta["models"] = {"available": avail, "selected": a.only,
                      "not_testable": models.not_testable(build)}
    meta["seed"] = seed
    meta["repetitions"] = exp.REPS[a.mode]
    meta["window_s"], meta["warmup_s"] = exp.WINDOW[a.mode], exp.WARMUP[a.mode]
    calib_raw = os.path.join(run_dir, "calibrate")
    os.makedirs(calib_raw)
    k, kinfo = calibrate.calibrate(build, "0", calib_raw, host=pl.server, bind=pl.server_bind())
    meta["cpu_iters_per_us"] = k
    meta["calibration"] = kinfo
    if k is None:
        print("harness/run: calibration failed (%s); servers will calibrate themselves"
              % kinfo, file=sys.stderr)
    else:
        print("calibrated K = %d work units per µs (samples %s, on %s)" % (k, kinfo["samples"], kinfo["model"]))
    for m, pts in plans:
        meta["experiments"][m.NAME] = {
            "title": m.TITLE, "claims": m.CLAIMS,
            # As placed on the hosts (the experiment's own sets unless the
            # generators have machines of their own).
            "server_cpus": pts[0].server_cpus if pts else m.SERVER_CPUS,
            "gen_cpus": pts[0].gen_cpus if pts else m.GEN_CPUS, "points": len(pts),
            "models": sorted({p.model for p in pts}, key=analysis.series_key),
            "missing_models": [x for x in exp.Ctx(a.mode, avail, a.only).missing(
                m.QUICK_MODELS if a.mode == "quick" else m.MODELS)
                if x not in meta["models"]["not_testable"]],
            "not_testable": {x: why for x, why in meta["models"]["not_testable"].items()
                             if x in (m.QUICK_MODELS if a.mode == "quick" else m.MODELS)
                             and (not a.only or x in a.only)},
            "estimate_s": round(est[m.NAME], 1),
            "budget_s": getattr(m, "QUICK_BUDGET_S", None) if a.mode == "quick" else None,
            # The order the points ran in, per repetition (x-values shuffled, models
            # rotated): the same as the points' `seq` in data.csv.
            "order": [[p.rep, p.describe()] for p in pts],
        }
    return meta, k


def _rounds(plans, done):
    """The points still to run, in the order they run: one round per repetition, each
    round one repetition of every experiment (in the plan's order), so that the three
    repetitions of a point lie minutes apart in every experiment.  A VM's speed moves
    from one minute to the next (methodology.md); with each experiment's repetitions
    back to back, a slow stretch of the host moved every repetition of the
    experiments it fell on, and so their medians, while now it moves one repetition
    of each point at most.  Within a round an experiment's points keep the plan's
    order (models interleaved, x-values shuffled, probes first).  A point without a
    repetition number runs in the first round.  Returns [[(module, [(i, point)])]]."""
    reps = sorted({p.rep or 1 for m, pts in plans for p in pts})
    out = []
    for r in reps:
        rnd = []
        for m, pts in plans:
            todo = [(i, p) for i, p in enumerate(pts, 1)
                    if (p.rep or 1) == r and i not in done.get(m.NAME, {})]
            if todo:
                rnd.append((m, todo))
        if rnd:
            out.append(rnd)
    return out


def _run_one(env, m, p, i, exp_dir, resumed, prog, index, hist_out, writer):
    """One point: run (again, once, when its generator stalled), write its rows and
    histograms, and its record in raw/points.jsonl."""
    base = "raw/%03d-%s-%s-c%d-r%d" % (i, p.series, p.variant, p.conns, p.rep)
    if resumed is not None:
        resume.clear_point_files(exp_dir, base)
    prog.begin(m.NAME, p.describe())
    rec = {"i": i, "base": base, "model": p.model, "series": p.series,
           "variant": p.variant, "conns": p.conns, "rep": p.rep,
           "what": p.describe()}
    t0 = time.monotonic()
    try:
        rows, info = runner.run_point(env, p, os.path.join(exp_dir, base))
        if info.get("gen_stall"):
            # verdict.GEN_STALL: the latencies are partly the generator's.
            # Run the repetition again, once, keeping the first attempt.
            prog.note("%s; %s: run again" % (_summary(rows, info), info["gen_stall"]))
            runner.keep_stalled_attempt(os.path.join(exp_dir, base))
            rec["stalled"] = {"why": info["gen_stall"], "summary": _summary(rows, info),
                              "files": base + ".stalled.*"}
            rows, info = runner.run_point(env, p, os.path.join(exp_dir, base))
            if info.get("gen_stall"):
                rec["stalled"]["again"] = info["gen_stall"]
        for r in rows:
            h = r.pop("_hist", None)
            if h is not None:
                hist_out.write(json.dumps({"seq": p.seq, "path": r["path"], "hist": h},
                                          separators=(",", ":")) + "\n")
            writer.write(r)
        hist_out.flush()
        rec.update(status="ok", info=_slim(info))
        prog.end(_summary(rows, info))
    except runner.PointSkipped as e:
        rec.update(status="skipped", why=str(e))
        prog.end("skipped: %s" % e)
    except (runner.PointFailed, procs.ChildError) as e:
        rec.update(status="failed", why=str(e))
        env.failures.append("%s %s: %s" % (m.NAME, p.describe(), e))
        prog.end("FAILED: %s" % e)
    rec["seconds"] = round(time.monotonic() - t0, 2)
    index.write(json.dumps(rec) + "\n")
    index.flush()


def _end_experiment(run_dir, m, meta, env, seconds, kept):
    """After an experiment's last point: its histograms compressed, its time (this
    sitting's, plus the kept points' of the sittings before), its report."""
    exp_dir = os.path.join(run_dir, m.NAME)
    os.makedirs(os.path.join(exp_dir, "raw"), exist_ok=True)
    exp.compress_hists(exp_dir)
    meta["experiments"][m.NAME]["seconds"] = round(
        seconds + sum(r.get("seconds") or 0 for r in kept.values()), 1)
    _finish_experiment(run_dir, m, meta, env)


def _experiment_k(m, meta, run_k, build, exp_dir, pl):
    """The K an experiment's servers get: the run's, except where the experiment's
    requests run /cpu work (its module says CPU_WORK = True).  Those measure K again
    right before their first round, so that W us of work takes W us at the speed of the minutes
    it runs in: a VM's speed moves by several per cent from one minute to the next
    (methodology.md), and with one K from the run's start two runs' /cpu points
    differed by the two calibrations' ratio.  Every model of the experiment still
    gets the same K; a resumed run keeps the K its experiment measured."""
    if not getattr(m, "CPU_WORK", False) or run_k is None:
        return run_k
    e = meta["experiments"][m.NAME]
    if e.get("cpu_iters_per_us"):
        return e["cpu_iters_per_us"]
    raw = os.path.join(exp_dir, "raw", "calibrate")
    os.makedirs(raw, exist_ok=True)
    k, info = calibrate.calibrate(build, "0", raw, host=pl.server, bind=pl.server_bind())
    if k is None:
        print("%s: calibration failed (%s); its servers get the run's K = %d"
              % (m.NAME, info, run_k), file=sys.stderr)
        return run_k
    e["cpu_iters_per_us"], e["calibration"] = k, info
    # On disk before any point runs with it: a run killed in this experiment
    # resumes with the K its kept points had.
    metamod.write(os.path.join(os.path.dirname(exp_dir), "meta.json"), meta)
    print("%s: K = %d work units per µs, measured again before it (samples %s; the run's %d)"
          % (m.NAME, k, info["samples"], run_k), flush=True)
    return k


def _resumed_meta(meta, plans, run_dir, total):
    """A resumed run's meta.json with this resumption recorded, its K, and the
    points it keeps ({experiment: {i: points.jsonl record}}), once what the cut
    point left is removed."""
    k = meta.get("cpu_iters_per_us")
    done = {m.NAME: resume.done_points(os.path.join(run_dir, m.NAME)) for m, _ in plans}
    for m, _ in plans:
        if meta["experiments"][m.NAME].get("seconds") is None:
            resume.drop_unfinished(run_dir, os.path.join(run_dir, m.NAME), m.NAME,
                                   {r["i"] for r in done[m.NAME].values()}, exp.HISTS)
    kept = sum(len(d) for d in done.values())
    meta.setdefault("resumed", []).append({
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "points_kept": kept, "wall_s_before": meta.get("wall_s") or 0,
        "steal_pct": _steal()})
    own = ["%s %s" % (n, e["cpu_iters_per_us"]) for n, e in meta["experiments"].items()
           if e.get("cpu_iters_per_us")]
    print("resuming: %d of %d points kept, %d to run; K = %s (the run's calibration%s)"
          % (kept, total, total - kept, k, "; measured before their experiment: " + ", ".join(own)
             if own else ""))
    return meta, k, done


class _WiredHosts:
    """The hosts of an experiment that sets the round trip point by point (its
    module says WIRE = True): wires on the client links for as long as it runs.
    In a run on namespace hosts they are put on the run's own links (and taken
    off after); in a run on this machine alone the experiment gets a lab of its
    own, ns:srv with one client ns:c1, recorded under its entry in meta.json.
    Where neither can be made (no root, ssh hosts) the points say why they are
    skipped."""

    def __init__(self, env, m, pts, meta, build, run_dir):
        self.env, self.m, self.pts, self.meta = env, m, pts, meta
        self.build, self.run_dir = build, run_dir
        self.saved = None
        self.own = None

    def open(self):
        if not getattr(self.m, "WIRE", False):
            return
        from . import wire
        pl, e = self.env.placement, self.meta["experiments"][self.m.NAME]
        say = lambda msg: print("hosts: " + msg, flush=True)
        base = pl.shaping or wire.Shaping()
        try:
            if pl.lab is not None:
                pl.use_wires(base)
            elif pl.is_local():
                own = placement.Placement.parse("ns:srv", ["ns:c1"], shaping=base,
                                                mechanism=pl.mechanism)
                own.open(build=self.build, run_dir=self.run_dir, say=say)
                self.own = own
                sm = Sampler(own.server)
                try:
                    sm.open()
                    facts = own.facts(lambda h: hosts.run_files(self.build))
                    for p in self.pts:
                        own.place(p, facts)
                except BaseException:
                    sm.close()
                    own.close()
                    self.own = None
                    raise
                self.saved = (pl, self.env.sampler)
                self.env.placement, self.env.sampler = own, sm
                e["hosts"] = {"roles": own.describe(), "facts": facts}
                print("hosts: %s runs in a namespace lab of its own: server ns:srv, load "
                      "generator ns:c1" % self.m.NAME)
        except (hosts.HostError, OSError, RuntimeError) as err:
            pl.wire_error = "%s" % err
            print("hosts: %s cannot put a delay on the wire: %s" % (self.m.NAME, err))
        net = self.env.placement.network()
        e["network"] = net
        if net:
            print("network: %s sets the round trip of each point, by %s (%s)"
                  % (self.m.NAME, net["mechanism"], net["why"]))

    def close(self):
        if not getattr(self.m, "WIRE", False):
            return
        net = self.env.placement.network()
        if net:     # now with how the points scheduled the wire
            self.meta["experiments"][self.m.NAME]["network"] = net
        if self.saved is not None:
            self.env.sampler.close()
            self.env.placement.close()
            self.env.placement, self.env.sampler = self.saved
            self.saved = None
        else:
            try:
                self.env.placement.drop_wires()
            except (hosts.HostError, OSError, RuntimeError) as err:
                print("hosts: taking the wires off: %s" % err, file=sys.stderr)


class _Database:
    """The database of an experiment that uses one (its module says USES_DB =
    True): a throwaway PostgreSQL (lib/pg.py) on this machine, its server and
    backends pinned to the module's DB_CPUS, made and filled before the
    experiment's first point of each round and stopped and removed after its last, whatever
    happened (an interrupt included); its log stays in the experiment's raw/.
    Its start counts in the experiment's time (lib/budget.py, DB_START_S).  A
    database on another host (--db-host), or one a server in a namespace or on
    another machine could reach, is not made: the points are skipped and say
    why."""

    def __init__(self, env, m, meta, exp_dir):
        self.env, self.m, self.meta, self.exp_dir = env, m, meta, exp_dir

    def open(self):
        if not getattr(self.m, "USES_DB", False):
            return
        env, e = self.env, self.meta["experiments"][self.m.NAME]
        if not env.placement.is_local():
            env.db_why = ("not testable here: %s starts its database on this machine, next to "
                          "a server on this machine only (the run's hosts: %s)"
                          % (self.m.NAME, ", ".join(h.spec for h in env.placement.hosts())))
            print("hosts: " + env.db_why, flush=True)
            return
        t0 = time.monotonic()
        db = pg.Cluster(max_connections=self.m.DB_MAX_CONNECTIONS, cpus=self.m.DB_CPUS,
                        keep_log=os.path.join(self.exp_dir, "raw", "postgres.log"))
        try:
            db.start()
        except pg.PgError as err:
            env.db_why = "PostgreSQL did not start: %s" % err
            print("harness/run: %s: %s" % (self.m.NAME, env.db_why), file=sys.stderr)
            return
        env.db = db
        e["database"] = {"cpus": self.m.DB_CPUS, "start_s": round(time.monotonic() - t0, 2),
                         "max_connections": self.m.DB_MAX_CONNECTIONS, "rows": pg.ROWS,
                         "postgres": pg.version()}
        print("database: PostgreSQL %s on cpus %s, %d rows, started in %.1f s"
              % (pg.version() or "?", self.m.DB_CPUS, pg.ROWS, e["database"]["start_s"]), flush=True)

    def close(self):
        if self.env.db is not None:
            self.env.db.stop()
        self.env.db = self.env.db_why = None


def _estimate_lines(a, mods, est):
    """The plan's time estimate: per experiment against its quick-mode budget."""
    if a.mode != "quick":
        return ["estimate: %.0f s of points (%s mode has no time budget)"
                % (sum(est.values()), a.mode)]
    out = []
    for line in budget.lines(mods):
        out.append(line)
    if a.only or any(est[m.NAME] + 1 < budget.estimate(m) for m in mods):
        out.append("(this run, with the models built here and selected: %.0f s of points)"
                   % sum(est.values()))
    return out


def _steal():
    from . import probes
    return probes.steal()


def _finish_experiment(run_dir, m, meta, env):
    meta["unsupported"].update(env.unsupported)
    metamod.write(os.path.join(run_dir, "meta.json"), meta)
    try:
        report.write_experiment(run_dir, m.NAME)
    except Exception as e:
        print("harness/run: figures/report for %s failed: %r" % (m.NAME, e), file=sys.stderr)


def _slim(info):
    return {k: v for k, v in info.items() if k not in ("point",)}


def _summary(rows, info):
    if not rows:
        if "instr" in info:
            return "%s instructions" % analysis.fmt_num(info["instr"]["ir_total"])
        return "ok"
    r = rows[0]
    s = "%s req/s" % analysis.fmt_num(csvio.num(r, "rps") if isinstance(r.get("rps"), str) else r.get("rps"))
    if r.get("p99_us") is not None:
        s += ", p99 %s" % analysis.fmt_us(r["p99_us"])
    if r.get("cpu_us_per_req") is not None:
        s += ", %.1f CPU µs/req" % r["cpu_us_per_req"]
    if r.get("unanswered"):
        s += ", %d unanswered" % r["unanswered"]
    if r.get("errors"):
        s += ", %d errors" % r["errors"]
    if r.get("invalid"):
        s += " [INVALID: %s]" % r["invalid"]
    if r.get("disturbed"):
        s += " [disturbed: others %s%%, steal %s%% of its CPUs]" % (r.get("others_pct"), r.get("steal_pct"))
    w = (info.get("wire") or {}).get("links") or {}
    for link in w.values():
        cpu = link.get("cpu_ns_per_packet")
        late = [d.get("late_us") or {} for d in (link.get("directions") or {}).values()]
        if cpu is not None:
            s += " [wire %.1f µs CPU/packet, late p99 %s µs]" % (
                cpu / 1000.0, "/".join("%.0f" % (x.get("p99") or 0) for x in late))
    for n in info.get("notes", []):
        s += " [%s]" % n
    return s


def _print_verdicts(run_dir):
    try:
        for line in report.verdict_lines(run_dir):
            print(line)
    except Exception as e:
        print("(verdicts unavailable: %r)" % e)
