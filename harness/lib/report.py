"""report.md (per experiment and for the run) and the run's self-contained
report.html, rebuilt from data.csv, raw/ and meta.json alone, so `harness/report
RUN_DIR` can redo them at any time."""
import json
import os

from . import analysis
from . import doc as docmod
from . import exp, meta as metamod, plots, verdict
from .verdict import CLAIMS


def _mods(meta):
    from experiments import ORDER, get
    return [get(n) for n in ORDER if n in meta.get("experiments", {})]


def experiment_summary(run_dir, mod, meta, draw=True):
    """Figures drawn (or not), tables, verdicts and context of one experiment;
    also written to <experiment>/summary.json."""
    d = exp.load(run_dir, mod.NAME, meta)
    os.makedirs(d.exp_dir, exist_ok=True)
    if hasattr(mod, "derive"):
        mod.derive(d)
    figs = []
    try:
        fig_objs = mod.figures(d)
    except Exception as e:  # a broken figure builder must not lose the report
        fig_objs = []
        figs.append({"name": "(figures)", "caption": "", "error": "figure builder failed: %r" % e})
    for f in fig_objs:
        err = plots.render(f, d.exp_dir) if draw else None
        figs.append({"name": f.name, "caption": f.caption, "error": err})
    try:
        verdicts = (mod.verdicts(d) if d.rows or getattr(mod, "VERDICT_WITHOUT_ROWS", mod.NAME == "instr")
                    else [])
    except Exception as e:
        verdicts = [verdict.Verdict(c, verdict.NOT_DECIDED, "the verdict rule failed: %r" % e,
                                    mod.NAME) for c in mod.CLAIMS]
    points = d.points
    tot = [r for r in d.rows if r["path"] == "*"]
    s = {
        "name": mod.NAME, "title": mod.TITLE, "claims": mod.CLAIMS, "about": mod.ABOUT,
        "server_cpus": mod.SERVER_CPUS, "gen_cpus": mod.GEN_CPUS,
        "figures": figs, "tables": mod.tables(d), "context": mod.context(d),
        "verdicts": [v.__dict__ for v in verdicts],
        "rows": len(tot),
        "points": {"ok": sum(1 for p in points if p["status"] == "ok"),
                   "failed": [p["what"] + ": " + p.get("why", "") for p in points if p["status"] == "failed"],
                   "skipped": [p["what"] + ": " + p.get("why", "") for p in points if p["status"] == "skipped"],
                   "notes": sorted({"%s: %s" % (p["what"], n) for p in points
                                    for n in (p.get("info") or {}).get("notes", [])}),
                   "invalid": ["%s: %s" % (_row_what(r), r["invalid"]) for r in tot
                               if r.get("valid") == "false"],
                   "stalled": ["%s: %s (%s)%s" % (p["what"], p["stalled"]["why"], p["stalled"]["summary"],
                                                  "; it stalled again, and that attempt is kept: %s"
                                                  % p["stalled"]["again"] if p["stalled"].get("again") else "")
                               for p in points if p.get("stalled")],
                   "disturbed": ["%s: others %s%%, steal %s%% of its CPUs"
                                 % (_row_what(r), r.get("others_pct"), r.get("steal_pct"))
                                 for r in tot if r.get("disturbed") == "true"]},
        "reproduce": reproduce_command(meta, mod.NAME),
        "thresholds": [[t.name, t.value, t.unit, t.kind] for t in getattr(mod, "THRESHOLDS", [])],
        "provisional": d.provisional,
    }
    with open(os.path.join(d.exp_dir, "summary.json"), "w") as f:
        json.dump(s, f, indent=1)
    return s


def _row_what(r):
    s = "%s %s c=%s" % (analysis.series(r), r["variant"], r["conns"])
    for col, lab in (("idle_conns", "idle"), ("rate", "rate"), ("work_us", "W"), ("size", "size")):
        if r.get(col) not in ("", "0", None):
            s += " %s=%s" % (lab, r[col])
    return s + " rep " + r["rep"]


def reproduce_command(meta, name):
    """The command that redoes an experiment's points (its figures then come from
    `harness/report RUN`): the experiment, the run's mode, its --models filter and
    its seed (the order of the points)."""
    cmd = "harness/run %s --%s" % (name, meta.get("mode", "quick"))
    sel = (meta.get("models") or {}).get("selected")
    if sel:
        cmd += " --models " + ",".join(sel)
    if meta.get("seed") is not None:
        cmd += " --seed %s" % meta["seed"]
    roles = (meta.get("hosts") or {}).get("roles") or {}
    if roles and (roles.get("server") != "local" or roles.get("clients") != ["local"]):
        cmd += " --server-host %s --client-hosts %s" % (roles["server"], ",".join(roles["clients"]))
    if roles.get("db"):
        cmd += " --db-host %s" % roles["db"]
    sh = roles.get("shaping") or {}
    for opt, key in (("--rtt-ms", "rtt_ms"), ("--loss", "loss_pct"), ("--rate-mbit", "rate_mbit")):
        if sh.get(key):
            cmd += " %s %g" % (opt, sh[key])
    return cmd


def network_line(net, every_point=False):
    """The delay on the wire and the mechanism that made it (None without one)."""
    if not net:
        return None
    sh = net.get("shaping") or {}
    what = ("the round trip each point sets" if every_point else
            "; ".join(x for x in ("RTT %g ms" % sh.get("rtt_ms", 0),
                                  "%g %% loss each way" % sh["loss_pct"] if sh.get("loss_pct") else "",
                                  "%g Mbit/s each way" % sh["rate_mbit"] if sh.get("rate_mbit") else "")
                      if x))
    mech = {"delayline": "build/delayline, a TUN wire between the namespaces",
            "netem": "tc netem on the veth pairs"}.get(net.get("mechanism"), net.get("mechanism"))
    where = (" on CPU %s" % ",".join(map(str, net["cpus"]))) if net.get("cpus") else ""
    return ("%s on the client links, by %s (%s), run%s, scheduled %s"
            % (what, mech, net.get("why"), where,
               ", ".join(net.get("scheduling") or []) or "as the kernel does"))


def hosts_line(meta):
    """Where the roles ran, and on what (None for a run with every role local)."""
    h = meta.get("hosts") or {}
    roles, facts = h.get("roles") or {}, h.get("facts") or {}
    if not roles or (roles.get("server") == "local" and roles.get("clients") == ["local"]
                     and not roles.get("db")):
        return None

    def what(spec):
        f = facts.get(spec) or {}
        if f.get("kind") == "ns":
            return "%s (namespace %s on this machine)" % (spec, f.get("namespace"))
        return "%s (%s cores, %s, kernel %s)" % (spec, f.get("cores"), f.get("cpu_model"),
                                                f.get("kernel_release"))
    out = "server %s; load generators %s" % (what(roles["server"]),
                                             ", ".join(what(c) for c in dict.fromkeys(roles["clients"])))
    if roles.get("db"):
        out += "; database %s" % what(roles["db"])
    return out


def _experiment_doc(s, meta, base_dir, fig_prefix=""):
    dd = docmod.Doc(base_dir)
    claims = ", ".join(s["claims"]) or "context"
    dd.h(2, "%s — %s" % (s["name"], s["title"]), anchor="exp-" + s["name"])
    dd.p("**Evidence for:** %s. **CPU sets:** server `taskset -c %s`, load generator "
         "`taskset -c %s`." % (claims, s["server_cpus"], s["gen_cpus"]))
    dd.p(s["about"].replace("\n", " "))
    e = meta.get("experiments", {}).get(s["name"], {})
    nl = network_line(e.get("network") or meta.get("network"), every_point=bool(e.get("network")))
    if nl:
        dd.p("**Network:** %s." % nl)
    if e.get("hosts"):
        dd.p("**Hosts:** %s, in namespaces of the experiment's own." % hosts_line(
            {"hosts": e["hosts"]}))
    if e.get("models") or e.get("not_testable"):
        line = "**Models run:** %s." % (", ".join(e.get("models") or []) or "none")
        if e.get("missing_models"):
            line += " **Not built here (not run):** %s." % ", ".join(e["missing_models"])
        for m, why in sorted((e.get("not_testable") or {}).items()):
            line += " **%s: not testable here** (%s)." % (m, why)
        dd.p(line)
    for v in s["verdicts"]:
        checks = [verdict.Check.from_list(c) for c in v.get("checks") or []]
        if checks and any(c.testable for c in checks):
            head = ("%s (a check is decided when it comes out the same in every repetition "
                    "and rests on valid points; every decided check must hold to confirm, "
                    "none to refute; otherwise mixed):" % verdict.summary_line(checks))
            dd.verdict(v["claim"], verdict.label(v["verdict"], s["provisional"]), head)
            dd.items([_check_line(c) for c in checks])
            if v.get("note"):
                dd.p(v["note"])
        else:
            dd.verdict(v["claim"], verdict.label(v["verdict"], s["provisional"]), v["why"])
    if s.get("thresholds"):
        dd.p("**Thresholds** (each with its reason in `docs/methodology.md`): " + "; ".join(
            "`%s` = %g %s (%s)" % tuple(t) for t in s["thresholds"]) + ".")
    if s["context"]:
        dd.items(["Context: " + c for c in s["context"]])
    for f in s["figures"]:
        cap = f["caption"]
        if s.get("reproduce"):
            cap += " Reproduce: `%s` (then `harness/report RUN_DIR` redraws it)." % s["reproduce"]
        dd.fig(os.path.join(fig_prefix, f["name"] + ".png"),
               os.path.join(fig_prefix, f["name"] + ".svg"), cap, f["error"])
    for title, headers, rows in s["tables"]:
        dd.table(headers, rows, caption=title)
    pts = s["points"]
    inv, dis = pts.get("invalid") or [], pts.get("disturbed") or []
    stl = pts.get("stalled") or []
    if pts["failed"] or pts["skipped"] or pts["notes"] or inv or dis or stl:
        dd.p("**Points:** %d measured, %d failed, %d skipped; %d rows invalid (the load "
             "generator failed to offer what the point says: no check rests on them), %d "
             "disturbed (other processes used their CPUs); %d repetitions run again because "
             "the generator stalled in the first attempt (`GEN_STALL`; the first attempt's "
             "files are kept as raw/<point>.stalled.*)." %
             (pts["ok"], len(pts["failed"]), len(pts["skipped"]), len(inv), len(dis), len(stl)))
        dd.items(["failed: " + x for x in pts["failed"]] + ["skipped: " + x for x in pts["skipped"]]
                 + ["invalid: " + x for x in inv] + ["disturbed: " + x for x in dis]
                 + ["run again: " + x for x in stl] + ["note: " + x for x in pts["notes"]])
    return dd


def _check_line(c):
    mark = {True: "✔", False: "✘"}.get(c.outcome, "–")
    if not c.testable:
        return "%s %s: not testable here (%s)" % (mark, c.text, c.detail)
    if c.decided:
        return "%s %s (%s)" % (mark, c.text, c.detail)
    return "%s %s: **not decided** (%s)" % (mark, c.text, c.detail)


def write_experiment(run_dir, name, draw=True):
    meta = metamod.read(os.path.join(run_dir, "meta.json"))
    from experiments import get
    mod = get(name)
    s = experiment_summary(run_dir, mod, meta, draw)
    d = _experiment_doc(s, meta, os.path.join(run_dir, name))
    top = docmod.Doc(d.base_dir)
    top.h(1, "loopbench — experiment %s" % name)
    top.p(_machine_line(meta, name))
    top.extend(d)
    with open(os.path.join(run_dir, name, "report.md"), "w") as f:
        f.write(top.markdown())
    return s


def experiment_k(meta, name):
    """(K the experiment's servers got, True when it measured its own)."""
    own = (meta.get("experiments", {}).get(name) or {}).get("cpu_iters_per_us")
    return (own, True) if own else (meta.get("cpu_iters_per_us"), False)


def _machine_line(meta, name=None):
    k, own = experiment_k(meta, name) if name else (meta.get("cpu_iters_per_us"), False)
    c = meta.get("cpu", {})
    g = meta.get("git", {})
    hl = hosts_line(meta)
    nl = network_line(meta.get("network"))
    return ("%s mode, %s; commit %s%s; kernel %s; %s, %s cores; K = %s work units/µs.%s%s"
            % (meta.get("mode"), meta.get("date_utc"), (g.get("commit") or "?")[:12],
               " (dirty tree)" if g.get("dirty") else "", meta.get("kernel", {}).get("release"),
               c.get("model"), c.get("cores"),
               "%s (measured again before this experiment; the run's %s)"
               % (k, meta.get("cpu_iters_per_us")) if own else k,
               " Hosts: %s." % hl if hl else "", " Network: %s." % nl if nl else ""))


def decided_counts(summaries):
    """(testable, decided, held) over every check of every experiment."""
    cs = [verdict.Check.from_list(c) for s in summaries for v in s["verdicts"]
          for c in v.get("checks") or []]
    return verdict.counts(cs)


def claim_rows(summaries, provisional):
    ran = [s["name"] for s in summaries]
    vs = [verdict.Verdict(**v) for s in summaries for v in s["verdicts"]]
    rows = []
    for cid, (text, evidence) in CLAIMS.items():
        v, why = verdict.combine(cid, vs, ran)
        rows.append((cid, text, verdict.label(v, provisional), ", ".join(evidence), why, v))
    return rows


def write_run(run_dir, redo=False):
    meta = metamod.read(os.path.join(run_dir, "meta.json"))
    mods = _mods(meta)
    summaries = []
    for m in mods:
        sp = os.path.join(run_dir, m.NAME, "summary.json")
        if redo or not os.path.exists(sp):
            summaries.append(write_experiment(run_dir, m.NAME))
        else:
            with open(sp) as f:
                summaries.append(json.load(f))
    provisional = exp.run_reps(meta) < verdict.MIN_REPS
    d = docmod.Doc(run_dir)
    name = os.path.basename(os.path.realpath(run_dir))
    d.h(1, "loopbench report — %s" % name)
    d.p("Equivalent servers, one per concurrency model, driven by one load generator and "
        "measured with /proc, perf, strace and callgrind, to test the usual claims about "
        "event-driven servers. Every number below comes from `data.csv` in this directory; "
        "`docs/harness.md` says how each is measured and how each verdict is decided.")
    d.table(["", ""], _meta_rows(meta), caption="Machine and run")
    if provisional:
        d.p("**%s run: every verdict is provisional** (%d repetition(s) per point: too few to "
            "see the spread a threshold must be judged against). `make bench` runs %d."
            % (meta.get("mode", "quick").capitalize(), exp.run_reps(meta), exp.REPS["quick"]))
    else:
        d.p("%s mode: %d repetitions of every point, %g s windows after %g s of warm-up, "
            "models interleaved and the x-values in a new shuffled order each repetition "
            "(seed %s)." % (meta.get("mode", "quick").capitalize(),
                            exp.run_reps(meta),
                            meta.get("window_s") or exp.WINDOW.get(meta.get("mode"), 1),
                            meta.get("warmup_s") or exp.WARMUP.get(meta.get("mode"), 1),
                            meta.get("seed")))
    busy = meta.get("cpu_busy_start")
    if busy is not None and 100 * busy > verdict.DISTURBED.value:
        # Measured over one second just before the first point, the same bound as a
        # point's `disturbed` flag.  Not the load average: it remembers the build `make
        # bench` just ran, and during the run the thread-per-connection points keep the
        # benchmark's own threads runnable.
        d.p("**Other work was running on this machine** (%.0f%% of its CPUs busy in the "
            "second before the run started): timings, latencies and the system-wide kernel "
            "memory figures may be disturbed; instruction counts are not." % (100 * busy))
    if meta.get("status") != "complete":
        d.p("**This run did not complete (%s): some experiments are missing or partial.**"
            % meta.get("status"))
    d.h(2, "Verdicts", anchor="verdicts")
    rows = claim_rows(summaries, provisional)
    t, dec, held = decided_counts(summaries)
    d.p("**%d of %d checks were decided** in this run (%d of them hold); a check that is not "
        "decided came out differently between repetitions, lacked a value, or rested on an "
        "invalid point. Verdicts rest on the decided checks only, so compare runs by their "
        "decided counts as well as their verdicts." % (dec, t, held))
    d.table(["claim", "as the literature puts it", "verdict", "evidence", "how it was reached"],
            [[r[0], r[1], "**%s**" % r[2], r[3], r[4]] for r in rows])
    n_rows = sum(s["rows"] for s in summaries)
    n_inv = sum(len(s["points"].get("invalid") or []) for s in summaries)
    n_dis = sum(len(s["points"].get("disturbed") or []) for s in summaries)
    n_stl = sum(len(s["points"].get("stalled") or []) for s in summaries)
    d.p("Of the run's %d rows, %d are invalid (the load generator failed to offer what the "
        "point says; each experiment lists them and no check rests on them) and %d disturbed "
        "(other processes or the hypervisor used more than 5 %% of the point's CPUs). %d "
        "repetitions were run again because the open-loop generator stalled in the first "
        "attempt (`GEN_STALL`); each experiment lists them."
        % (n_rows, n_inv, n_dis, n_stl))
    unsup = meta.get("unsupported") or {}
    if unsup:
        d.h(3, "What this machine could not measure")
        d.items(["`%s`: %s" % (k, v) for k, v in sorted(unsup.items())])
    if meta.get("checks"):
        d.h(3, "Counting-rule violations (server vs load generator)")
        d.items(meta["checks"][:50])
    if meta.get("failures"):
        d.h(3, "Points that failed")
        d.items(meta["failures"][:50])
    d.h(2, "Experiments")
    d.items(["[%s](#exp-%s): %s" % (s["name"], s["name"], s["title"]) for s in summaries])
    for s in summaries:
        d.extend(_experiment_doc(s, meta, run_dir, fig_prefix=s["name"]))
    md = d.markdown()
    with open(os.path.join(run_dir, "report.md"), "w") as f:
        f.write(md)
    with open(os.path.join(run_dir, "report.html"), "w") as f:
        f.write(d.html("loopbench report — %s" % name))
    return summaries


def cpu_idle_line(meta):
    """What the idle CPUs did during the run (meta.json's `cpu_idle`)."""
    ci = meta.get("cpu_idle")
    if not ci:
        return "not recorded (a run before the harness held them)"
    if ci.get("held"):
        txt = "polling (the harness held %s at 0 µs)" % ci.get("path")
    else:
        txt = "halting, as the machine is set (%s)" % ci.get("why")
    if ci.get("halts") is not None:
        txt += "; %d halt%s during the run" % (ci["halts"], "" if ci["halts"] == 1 else "s")
    return txt + "; cpuidle driver %s" % ci.get("driver")


def _meta_rows(meta):
    c = meta.get("cpu", {})
    g = meta.get("git", {})
    lim = meta.get("limits", {})
    comp = meta.get("compiler", {})
    tools = meta.get("tools", {})
    exps = meta.get("experiments", {})
    cpus = "; ".join("%s: server %s, generator %s" % (n, e["server_cpus"], e["gen_cpus"])
                     for n, e in exps.items())
    return [
        ["date (UTC)", meta.get("date_utc")],
        ["mode", "%s (%s)" % (meta.get("mode"), meta.get("status"))],
        ["wall time", "%s s" % meta.get("wall_s") if meta.get("wall_s") is not None else "—"],
        ["commit", "%s%s" % (g.get("commit"), " + uncommitted changes" if g.get("dirty") else "")],
        ["kernel", meta.get("kernel", {}).get("release")],
        ["CPU", "%s, %s cores (online %s), %s MiB RAM" % (c.get("model"), c.get("cores"),
                                                         c.get("online"),
                                                         (c.get("mem_total_kb") or 0) // 1024)],
        ["steal time", "%s%% at start, %s%% at end" % (meta.get("steal_pct_start"),
                                                      meta.get("steal_pct_end"))],
        ["libraries", ", ".join("%s %s" % (k, (v or {}).get("version") if isinstance(v, dict) else v)
                                for k, v in (meta.get("libraries") or {}).items())],
        ["machine facts the rules use", ", ".join("%s %s" % kv for kv in
                                                  sorted((meta.get("machine") or {}).items()))],
        ["repetitions, window, seed", "%s, %s s after %s s warm-up, seed %s" % (
            meta.get("repetitions"), meta.get("window_s"), meta.get("warmup_s"), meta.get("seed"))],
        ["load average (1, 5, 15 min)", "%s at start, %s at end" % (meta.get("loadavg_start"),
                                                                   meta.get("loadavg_end"))],
        ["CPU busy before the run", "-" if meta.get("cpu_busy_start") is None
         else "%.0f%% (over 1 s)" % (100 * meta["cpu_busy_start"])],
        ["idle CPUs", cpu_idle_line(meta)],
        ["transparent huge pages", "%s (defrag %s)" % (meta.get("thp", {}).get("enabled"),
                                                       meta.get("thp", {}).get("defrag"))],
        ["limits", "nofile %s/%s, somaxconn %s, ports %s, pid_max %s" % (
            lim.get("nofile_soft"), lim.get("nofile_hard"), lim.get("somaxconn"),
            " ".join(str(lim.get("ip_local_port_range")).split()), lim.get("pid_max"))],
        ["compiler", "%s; `%s`" % (comp.get("cc"), comp.get("cflags"))],
        ["K (cpu-iters-per-us)", "%s (samples %s)%s" % (
            meta.get("cpu_iters_per_us"), (meta.get("calibration") or {}).get("samples"),
            "".join("; %s, measured again before it: %s (samples %s)"
                    % (n, e["cpu_iters_per_us"], (e.get("calibration") or {}).get("samples"))
                    for n, e in meta.get("experiments", {}).items() if e.get("cpu_iters_per_us")))],
        ["hosts", hosts_line(meta) or "every role on this machine"],
        ["CPU sets", cpus],
        ["tools", ", ".join("%s: %s" % (k, v) for k, v in tools.items() if v)],
        ["tools missing", ", ".join(k for k, v in tools.items() if not v) or "none"],
    ]


def verdict_lines(run_dir):
    meta = metamod.read(os.path.join(run_dir, "meta.json"))
    sums = []
    for m in _mods(meta):
        sp = os.path.join(run_dir, m.NAME, "summary.json")
        if os.path.exists(sp):
            with open(sp) as f:
                sums.append(json.load(f))
    out = []
    for r in claim_rows(sums, exp.run_reps(meta) < verdict.MIN_REPS):
        out.append("%s %-30s %s" % (r[0], r[2], r[4][:150]))
    t, dec, held = decided_counts(sums)
    out.append("%d of %d checks decided, %d of them hold" % (dec, t, held))
    return out
