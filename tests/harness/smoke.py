#!/usr/bin/python3
"""Harness smoke test (make test-harness-smoke).

1. Runs one tiny experiment end to end (`harness/run concurrency --smoke`, two
   models, two connection counts, one repetition) into a temporary --out and checks
   what a reader relies on: data.csv has the contract's columns in the contract's order and
   plausible values; every figure the report lists exists, as SVG and PNG, non-empty;
   report.md gives each claim of the experiment a verdict from the allowed set, and the
   run report's table names every claim; report.html embeds every figure; meta.json
   has the fields docs/contract.md asks for; `latest` points at the run.
2. Interrupts a second run with SIGINT in the middle of its second point and checks
   that it exits 130 and leaves no server or load generator behind; then finishes it
   with `harness/run --resume`: refused for a copy that names other code, with other
   options, or once complete; otherwise the point done before is kept as it was,
   the cut one runs again, and every planned point is in points.jsonl and data.csv
   exactly once.
3. Runs `harness/run wait --smoke` on epoll: the waiting connections a point keeps
   beside its own load (a second load generator) are counted as the contract says.
   Then trims that run as `harness/reference` does and checks that `harness/report`
   redraws the same reports from the trimmed copy (a committed reference can be
   re-reported without the raw files it dropped).
4. Runs `harness/run cpu --smoke` on epoll: an experiment whose requests run /cpu
   measures K again right before it and gives every one of its servers that K.
5. Runs against a server that cannot start and checks the harness says why, records
   the failed points in the report, and still finishes.

No timing assertions: a slow machine passes, a broken harness does not.
"""
import csv
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "harness"))
from lib import capture, procs  # noqa: E402
RUN = os.path.join(ROOT, "harness", "run")
BUILD = os.path.join(ROOT, "build")

# docs/contract.md, "Harness": the data.csv columns, in this order.  Written out here, not
# imported from the harness, so a change on either side fails this test.
CONTRACT_COLUMNS = """schema,experiment,model,variant,proto,offload,reactors,conns,idle_conns,pipeline,size,rate,
work_path,work_us,path,rep,duration_s,requests,rps,mbps,p50_us,p90_us,p99_us,p999_us,max_us,
errors,timeouts,abandoned,late,cpu_user_s,cpu_sys_s,cpu_us_per_req,ctx_switches,syscalls,
syscalls_per_req,rss_kb,hwm_kb,threads,kernel_stack_kb,sock_mem_kb,gen_cpu_us_per_req,gen_bound,
seq,valid,invalid,timeout_ms,unanswered,unsent,mean_us,warmup_requests,warmup_errors,
reconnects,conns_gen,conns_kernel,conns_server,server_requests,server_rps,server_alive,
cpu_s,busy_pct,steal_pct,others_pct,disturbed,rtt_ms,db_conns,db_cpu_s,db_cpu_us_per_req""".replace("\n", "").split(",")
TEXT_COLUMNS = {"experiment", "model", "variant", "proto", "work_path", "path", "gen_bound",
                "valid", "invalid", "server_alive", "disturbed"}
BOOL_COLUMNS = {"gen_bound", "valid", "server_alive", "disturbed"}
VERDICTS = ("confirmed", "refuted", "mixed", "not decided", "not testable here")

failures = []
passed = []


def check(cond, what):
    """Records one check; prints failures at once, passes only as a count (set
    SMOKE_VERBOSE=1 to see every check)."""
    if cond:
        passed.append(what)
        if os.environ.get("SMOKE_VERBOSE"):
            print("  ok   " + what)
    else:
        print("  FAIL " + what)
        failures.append(what)
    return cond


def pick_models():
    have = [m for m in ("epoll", "threads", "pool", "libuv", "libev", "iterative")
            if os.access(os.path.join(BUILD, "srv-" + m), os.X_OK)]
    return have[:2]


def leftovers(tag):
    """Processes whose command line mentions our temporary directory (every server
    gets --stats-file there, every loadgen --json)."""
    return ["%d: %s" % (pid, cmd[:120]) for pid, cmd in procs.matching(tag) if "smoke.py" not in cmd]


def end_to_end(tmp, ms):
    print("harness/run concurrency --smoke --models %s" % ",".join(ms))
    t0 = time.monotonic()
    r = subprocess.run([RUN, "concurrency", "--smoke", "--models", ",".join(ms), "--out", tmp],
                       capture_output=True, text=True, timeout=180)
    print("  (%.0f s)" % (time.monotonic() - t0))
    if not check(r.returncode == 0, "harness/run exits 0 (got %s)" % r.returncode):
        print(r.stdout[-3000:], r.stderr[-3000:])
        return
    latest = os.path.join(tmp, "latest")
    check(os.path.islink(latest), "results/latest is a symlink")
    run = os.path.realpath(latest)
    check(re.match(r"\d{8}T\d{6}Z-concurrency$", os.path.basename(run)) is not None,
          "run directory is named <UTC timestamp>-<name> (%s)" % os.path.basename(run))

    with open(os.path.join(run, "data.csv"), newline="") as f:
        rows = list(csv.reader(f))
    check(rows and rows[0] == CONTRACT_COLUMNS, "data.csv header is the contract's columns, in order")
    recs = [dict(zip(rows[0], r)) for r in rows[1:]]
    check(all(len(r) == len(CONTRACT_COLUMNS) for r in rows), "every row has every column")
    tot = [r for r in recs if r["path"] == "*"]
    check(len(tot) == 2 * len(ms), "one total row per model and point (%d rows)" % len(tot))
    check({r["model"] for r in tot} == set(ms), "both models are in data.csv")
    check({r["conns"] for r in tot} == {"1", "10"}, "both points (1 and 10 connections)")
    for r in recs:
        for c in CONTRACT_COLUMNS:
            if c not in TEXT_COLUMNS and r[c] != "":
                try:
                    float(r[c])
                except ValueError:
                    check(False, "%s is a number or empty (got %r)" % (c, r[c]))
    check(all(r["schema"] == "4" and r["experiment"] == "concurrency" for r in recs),
          "schema 4, experiment concurrency")
    check(all(r["rtt_ms"] == "" for r in recs), "no round trip on loopback: rtt_ms empty")
    for r in recs:
        for c in BOOL_COLUMNS:
            check(r[c] in ("true", "false", ""), "%s is true, false or empty (got %r)" % (c, r[c]))
    for r in tot:
        f = lambda c: float(r[c]) if r[c] != "" else None
        tag = "%s c=%s" % (r["model"], r["conns"])
        check((f("requests") or 0) > 0 and (f("rps") or 0) > 0, "%s: requests and rps > 0" % tag)
        check(f("duration_s") is not None and 0.5 < f("duration_s") < 5, "%s: duration_s plausible" % tag)
        check(None not in (f("p50_us"), f("p99_us"), f("max_us"))
              and 0 < f("p50_us") <= f("p99_us") <= f("max_us"), "%s: 0 < p50 <= p99 <= max" % tag)
        check(f("cpu_user_s") is not None and f("cpu_sys_s") is not None
              and f("cpu_user_s") + f("cpu_sys_s") > 0, "%s: the server used CPU" % tag)
        check(f("cpu_us_per_req") is not None and 0 < f("cpu_us_per_req") < 100000,
              "%s: CPU per request plausible" % tag)
        check((f("rss_kb") or 0) > 100 and (f("threads") or 0) >= 1, "%s: RSS and threads measured" % tag)
        check(f("errors") is not None and f("errors") >= 0, "%s: errors counted" % tag)
        check(r["gen_bound"] in ("true", "false"), "%s: gen_bound true/false" % tag)
        check(r["syscalls"] == "" and r["late"] == "",
              "%s: not-captured columns are empty, not zero" % tag)
        check(r["valid"] in ("true", "false") and (r["valid"] == "true") == (r["invalid"] == ""),
              "%s: valid, and a reason exactly when invalid" % tag)
        check(f("cpu_s") is not None and 0 < f("cpu_s") < 10, "%s: server CPU (ns clock) measured" % tag)
        check(f("unanswered") is not None and f("unanswered") >= 0, "%s: unanswered counted" % tag)
        check(f("conns_gen") == f("conns") and f("conns_kernel") is not None
              and f("conns_server") is not None, "%s: connections counted from both sides" % tag)
        check(f("server_requests") is not None and f("server_requests") >= f("requests"),
              "%s: the server's own count beside the client's" % tag)
        check(r["disturbed"] in ("true", "false") and f("busy_pct") is not None,
              "%s: the CPUs' busy share and the disturbed flag recorded" % tag)
        check(f("seq") is not None and f("seq") >= 1, "%s: the point's run order (seq)" % tag)

    exp_dir = os.path.join(run, "concurrency")
    import gzip
    with gzip.open(os.path.join(exp_dir, "hist.jsonl.gz"), "rt") as f:
        hists = {(str(h["seq"]), h["path"]): h["hist"] for h in map(json.loads, f)}
    for r in tot:
        h = hists.get((r["seq"], "*"))
        check(h is not None and sum(c for _, c in h) == int(r["requests"]) + int(r["unanswered"]),
              "%s c=%s: hist.jsonl has its histogram, unanswered included" % (r["model"], r["conns"]))
    with open(os.path.join(exp_dir, "summary.json")) as f:
        summ = json.load(f)
    figs = summ["figures"]
    check(len(figs) >= 2, "the experiment drew figures (%d)" % len(figs))
    for fig in figs:
        check(not fig["error"], "figure %s drawn without error" % fig["name"])
        for ext in ("svg", "png"):
            p = os.path.join(exp_dir, "%s.%s" % (fig["name"], ext))
            check(os.path.exists(p) and os.path.getsize(p) > 1000, "%s.%s exists, non-empty" % (fig["name"], ext))
    with open(os.path.join(exp_dir, "report.md")) as f:
        md = f.read()
    for claim in ("C1", "C3"):
        m = re.search(r"\*\*%s: (%s)( \(provisional\))?\.\*\*" % (claim, "|".join(VERDICTS)), md)
        check(m is not None, "experiment report gives %s a verdict" % claim)
    with open(os.path.join(run, "report.md")) as f:
        runmd = f.read()
    for n in range(1, 8):
        check(re.search(r"^\| C%d \|" % n, runmd, re.M) is not None, "run report's table names C%d" % n)
    with open(os.path.join(run, "report.html")) as f:
        html = f.read()
    check(html.count("data:image/png;base64,") == len(figs), "report.html embeds every figure")
    check(runmd.count("Reproduce: `harness/run concurrency --smoke") >= len(figs),
          "every figure's caption gives the command that reproduces it")
    check(re.search(r"\*\*\d+ of \d+ checks were decided\*\*", runmd) is not None,
          "the run report says how many checks were decided")
    with open(os.path.join(run, "meta.json")) as f:
        meta = json.load(f)
    for k in ("schema", "git", "date_utc", "kernel", "cpu", "steal_pct_start", "thp", "limits",
              "compiler", "cpu_iters_per_us", "experiments", "tools", "unsupported", "libraries",
              "machine", "seed", "repetitions"):
        check(k in meta, "meta.json has %s" % k)
    lib = meta.get("libraries") or {}
    check(all(lib.get(k) for k in ("libuv", "libev")) and (lib.get("http_parser") or {}).get("version"),
          "meta.json records the versions of libuv, libev and the HTTP parser")
    check((meta.get("machine") or {}).get("cores") and
          (meta.get("machine") or {}).get("kernel_stack_kb_per_thread"),
          "meta.json records the machine facts the rules use")
    # The idle CPUs poll for the whole run where the harness may ask for it
    # (lib/capture.py): then not one halt, or the servers' CPU per request would
    # include the VM's wake-ups.
    ci = meta.get("cpu_idle") or {}
    if os.access(capture.CPU_DMA_LATENCY, os.W_OK):
        check(ci.get("held") is True and ci.get("halts") == 0,
              "the idle CPUs polled for the whole run (cpu_idle %s)"
              % {k: ci.get(k) for k in ("held", "why", "halts")})
    else:
        check(ci.get("held") is False and ci.get("why"),
              "meta.json says why the idle CPUs were left to halt (cpu_idle %s)" % ci)
    e = meta.get("experiments", {}).get("concurrency", {})
    check(e.get("server_cpus") == "0" and e.get("gen_cpus") == "1", "meta.json records the CPU sets")
    check(isinstance(meta.get("cpu_iters_per_us"), int) and meta["cpu_iters_per_us"] > 0,
          "K was calibrated")


def interrupted(tmp, ms):
    """Interrupted in the middle of its second point, then finished with
    --resume: the first point kept as it was, the cut one run again, none twice."""
    print("harness/run interrupted by SIGINT, then --resume")
    p = subprocess.Popen([RUN, "concurrency", "--smoke", "--models", ",".join(ms[:2]), "--out", tmp],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    deadline = time.monotonic() + 60
    # Wait until the first point is recorded and the second one's load is running,
    # then interrupt as a terminal's Ctrl-C would.
    index = lambda: glob.glob(os.path.join(tmp, "*", "concurrency", "raw", "points.jsonl"))
    while time.monotonic() < deadline:
        if index() and _lines(index()[0]) >= 1 and any("loadgen" in x for x in leftovers(tmp)):
            break
        time.sleep(0.02)
    check(any("loadgen" in x for x in leftovers(tmp)), "a load was running when interrupted")
    p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    seen += out
    check(p.returncode == 130, "interrupted run exits 130 (got %s)" % p.returncode)
    check("harness/run --resume " in seen, "the interrupted run says how to resume it")
    time.sleep(0.5)
    left = leftovers(tmp)
    check(not left, "no server or load generator left behind%s" % ("" if not left else ": " + "; ".join(left)))
    for pid_cmd in left:
        try:
            os.kill(int(pid_cmd.split(":")[0]), signal.SIGKILL)
        except OSError:
            pass
    runs = glob.glob(os.path.join(tmp, "2*"))
    if not check(len(runs) == 1, "the interrupted run left its directory (%s)" % runs):
        return
    run = runs[0]
    meta = _json(os.path.join(run, "meta.json"))
    check(meta.get("status") == "interrupted", "meta.json says interrupted (%s)" % meta.get("status"))
    with open(index()[0]) as f:
        first = f.readline()
    # Resuming with other code is refused: a copy whose fingerprint names another build.
    other = run + "-other-code"
    shutil.copytree(run, other)
    m2 = _json(os.path.join(other, "meta.json"))
    m2["fingerprint"]["build/loadgen"] = "0" * 16
    with open(os.path.join(other, "meta.json"), "w") as f:
        json.dump(m2, f)
    r = subprocess.run([RUN, "--resume", other], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "build/loadgen" in r.stderr,
          "--resume refuses a run made with other code, naming the file (exit %s: %s)"
          % (r.returncode, r.stderr.strip()[-200:]))
    shutil.rmtree(other)
    r = subprocess.run([RUN, "--resume", run, "--models", ms[0]], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2, "--resume with other options is refused (exit %s)" % r.returncode)
    r = subprocess.run([RUN, "--resume", run], capture_output=True, text=True, timeout=180)
    if not check(r.returncode == 0, "--resume finishes the run (exit %s)" % r.returncode):
        print(r.stdout[-3000:], r.stderr[-3000:])
        return
    check(re.search(r"resuming: [1-9]\d* of \d+ points kept", r.stdout) is not None,
          "--resume keeps the points already done (%s)" % (re.findall(r"resuming: .*", r.stdout) or ["?"])[0])
    meta = _json(os.path.join(run, "meta.json"))
    planned = meta["experiments"]["concurrency"]["points"]
    check(meta.get("status") == "complete" and len(meta.get("resumed") or []) == 1,
          "meta.json: complete, one resumption recorded")
    with open(index()[0]) as f:
        recs = [json.loads(x) for x in f if x.strip()]
    check(sorted(x["i"] for x in recs) == list(range(1, planned + 1)),
          "points.jsonl: every planned point once (%s)" % sorted(x["i"] for x in recs))
    with open(index()[0]) as f:
        check(f.readline() == first, "the point done before the interruption is kept as it was")
    with open(os.path.join(run, "data.csv"), newline="") as f:
        seqs = sorted(int(x["seq"]) for x in csv.DictReader(f) if x["path"] == "*")
    check(seqs == list(range(1, planned + 1)), "data.csv: one row per planned point, none twice (%s)" % seqs)
    r = subprocess.run([RUN, "--resume", run], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "complete" in r.stderr, "--resume refuses a complete run (exit %s)" % r.returncode)


def _lines(path):
    with open(path) as f:
        return sum(1 for x in f if x.endswith("\n"))


def _json(path):
    with open(path) as f:
        return json.load(f)


def _smoke_run(tmp, name):
    """`harness/run NAME --smoke --models epoll` into tmp: the run's directory, or None
    (a failed check, with the run's output) when it did not exit 0."""
    print("harness/run %s --smoke --models epoll" % name)
    r = subprocess.run([RUN, name, "--smoke", "--models", "epoll", "--out", tmp],
                       capture_output=True, text=True, timeout=180)
    if not check(r.returncode == 0, "%s: harness/run exits 0 (got %s)" % (name, r.returncode)):
        print(r.stdout[-3000:], r.stderr[-3000:])
        return None
    return os.path.realpath(os.path.join(tmp, "latest"))


def waiting_beside(tmp):
    """The runner's waiting connections (experiment wait): a second generator keeps
    1,000 /sleep requests outstanding beside a point's own load; its requests count in
    the counting rule, and the row says how many waited (idle_conns)."""
    run = _smoke_run(tmp, "wait")
    if run is None:
        return
    with open(os.path.join(run, "data.csv"), newline="") as f:
        recs = [r for r in csv.DictReader(f) if r["path"] == "*"]
    check({r["variant"] for r in recs} == {"closed", "alone", "beside"},
          "wait: closed, alone and beside rows (%s)" % sorted({r["variant"] for r in recs}))
    beside = [r for r in recs if r["variant"] == "beside"]
    check(beside and all(r["idle_conns"] == "1000" for r in beside),
          "wait: a beside row counts its 1,000 waiting connections in idle_conns")
    check(all(float(r["rps"] or 0) > 0 for r in beside), "wait: the GET / stream was answered beside them")
    raw = os.path.join(run, "wait", "raw")
    wj = [f for f in os.listdir(raw) if f.endswith(".waiting.loadgen.json")]
    check(len(wj) == len(beside), "wait: one waiting generator's JSON per beside point (%d)" % len(wj))
    for f in wj:
        with open(os.path.join(raw, f)) as fh:
            j = json.load(fh)
        check(j.get("requests", 0) > 0 and sum(j["errors"].values()) == 0,
              "wait: the waiting connections' requests were answered, without errors (%s)" % f)
    with open(os.path.join(run, "meta.json")) as f:
        meta = json.load(f)
    check(not meta.get("checks"), "wait: the counting rule holds with the waiting connections' "
          "requests counted (%s)" % (meta.get("checks") or "")[:2])
    with open(os.path.join(run, "report.md")) as f:
        md = f.read()
    check(re.search(r"^\| C8 \|", md, re.M) is not None, "wait: the run report gives C8 a row")
    trimmed_reports(run, os.path.join(tmp, "reference"))


def trimmed_reports(run, ref):
    """harness/reference keeps what harness/report needs: the reports redrawn from the
    trimmed copy are the run's own, byte for byte."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("reference", os.path.join(ROOT, "harness", "reference"))
    reference = importlib.util.module_from_spec(importlib.util.spec_from_loader("reference", loader))
    loader.exec_module(reference)
    reference.trim(run, ref)
    r = subprocess.run([os.path.join(ROOT, "harness", "report"), ref],
                       capture_output=True, text=True, timeout=120)
    if not check(r.returncode == 0, "harness/report on a trimmed copy exits 0 (got %s)" % r.returncode):
        print(r.stdout[-2000:], r.stderr[-2000:])
        return
    mds = sorted(os.path.relpath(p, run) for p in glob.glob(os.path.join(run, "*", "report.md")))
    check(mds, "the run has experiment reports to compare")
    for md in mds + ["report.md"]:
        with open(os.path.join(run, md)) as a, open(os.path.join(ref, md)) as b:
            x, y = a.read(), b.read()
        if md == "report.md":   # its title names the run's directory
            x, y = x.split("\n", 1)[1], y.split("\n", 1)[1]
        check(x == y, "the trimmed copy's %s redraws as the run's" % md)


def own_k(tmp):
    """An experiment whose requests run /cpu (cpu) measures K again right before it,
    records it beside the run's, and every one of its servers gets that K."""
    run = _smoke_run(tmp, "cpu")
    if run is None:
        return
    meta = _json(os.path.join(run, "meta.json"))
    e = meta.get("experiments", {}).get("cpu", {})
    k = e.get("cpu_iters_per_us")
    check(isinstance(k, int) and k > 0 and len((e.get("calibration") or {}).get("samples") or []) == 5,
          "cpu: meta.json records the K measured before it, with its five samples (%s)" % k)
    got = {_json(f).get("cpu_iters_per_us") for f in glob.glob(os.path.join(run, "cpu", "raw", "*.stats.json"))}
    check(got == {k}, "cpu: every server got the experiment's K (%s; stats say %s)" % (k, sorted(got)))
    with open(os.path.join(run, "cpu", "report.md")) as f:
        check("K = %s (measured again before this experiment" % k in f.read(),
              "cpu: its report names the K it ran with")


def stalled_generator(tmp):
    """An open-loop generator that stops for 150 ms in its first point's window (SIGSTOP
    from a wrapper, as a host that takes its core away would) has that repetition run
    again: the first attempt's files kept as <point>.stalled.*, its record saying why,
    one row per point in data.csv, and the report listing it.  The wrapper stalls only
    the first generator it starts."""
    print("harness/run idle --smoke --models epoll, its first generator stalled")
    build = os.path.join(tmp, "build")
    os.makedirs(build)
    for f in os.listdir(BUILD):
        if f.startswith("srv-"):
            os.symlink(os.path.join(BUILD, f), os.path.join(build, f))
    mark = os.path.join(tmp, "stalled-once")
    with open(os.path.join(build, "loadgen"), "w") as f:
        f.write("#!/bin/sh\n"
                "# The real loadgen; the first one started is stopped for 150 ms in its window\n"
                "# (warm-up 0.3 s, window 1 s in smoke mode).\n"
                "[ -e %s ] && exec %s \"$@\"\n"
                "touch %s\n"
                "%s \"$@\" &\n"
                "pid=$!\n"
                "sleep 0.7; kill -STOP $pid; sleep 0.15; kill -CONT $pid\n"
                "wait $pid\n" % (mark, os.path.join(BUILD, "loadgen"), mark, os.path.join(BUILD, "loadgen")))
    os.chmod(os.path.join(build, "loadgen"), 0o755)
    out = os.path.join(tmp, "out")
    r = subprocess.run([RUN, "idle", "--smoke", "--models", "epoll", "--build", build, "--out", out],
                       capture_output=True, text=True, timeout=180)
    if not check(r.returncode == 0, "stalled: harness/run exits 0 (got %s)" % r.returncode):
        print(r.stdout[-3000:], r.stderr[-3000:])
        return
    check("the generator stalled" in r.stdout and "run again" in r.stdout,
          "stalled: the progress line says the repetition is run again")
    run = os.path.realpath(os.path.join(out, "latest"))
    recs = [json.loads(x) for x in open(os.path.join(run, "idle", "raw", "points.jsonl"))]
    st = [x for x in recs if x.get("stalled")]
    # (The second attempt may stall by itself on a busy host: then it is kept, and says so.)
    check(len(st) == 1 and st[0]["status"] == "ok" and "0.7" not in str(st[0]["stalled"].get("again")),
          "stalled: the stopped point, and only it, run again (%s)" % [x.get("stalled") for x in recs])
    if st:
        kept = glob.glob(os.path.join(run, "idle", st[0]["base"]) + ".stalled.*")
        check(any(k.endswith(".stalled.loadgen.json") for k in kept) and
              os.path.exists(os.path.join(run, "idle", st[0]["base"]) + ".loadgen.json"),
              "stalled: both attempts' generator JSON are kept (%s)" % [os.path.basename(k) for k in kept])
    with open(os.path.join(run, "data.csv"), newline="") as f:
        seqs = [r["seq"] for r in csv.DictReader(f) if r["path"] == "*"]
    check(len(seqs) == len(recs) == len(set(seqs)), "stalled: one row per point in data.csv (%s)" % seqs)
    with open(os.path.join(run, "idle", "report.md")) as f:
        check("run again: " in f.read(), "stalled: the experiment's report lists the repetition")


def rounds(tmp):
    """Quick mode runs in rounds, one per repetition: every experiment's repetition 1,
    then every experiment's repetition 2, ...; each experiment still ends with all its
    rows, its histograms and its report."""
    print("harness/run wait,idle --quick --models epoll (rounds)")
    r = subprocess.run([RUN, "wait,idle", "--quick", "--models", "epoll", "--out", tmp],
                       capture_output=True, text=True, timeout=300)
    if not check(r.returncode == 0, "rounds: harness/run exits 0 (got %s)" % r.returncode):
        print(r.stdout[-3000:], r.stderr[-3000:])
        return
    run = os.path.realpath(os.path.join(tmp, "latest"))
    seen = re.findall(r"\] (wait|idle) .* rep (\d) \.\.\. ", open(os.path.join(run, "progress.log")).read())
    # The run's sequence of (experiment, repetition) blocks.
    blocks = [x for i, x in enumerate(seen) if i == 0 or x != seen[i - 1]]
    check(blocks == [("wait", "1"), ("idle", "1"), ("wait", "2"), ("idle", "2"), ("wait", "3"),
                     ("idle", "3")], "rounds: one repetition of each experiment per round (%s)" % blocks)
    check(_json(os.path.join(run, "meta.json")).get("rounds") == 3, "rounds: meta.json says 3 rounds")
    with open(os.path.join(run, "data.csv"), newline="") as f:
        recs = [x for x in csv.DictReader(f) if x["path"] == "*"]
    for name in ("wait", "idle"):
        n = sum(1 for x in recs if x["experiment"] == name)
        pts = [json.loads(x) for x in open(os.path.join(run, name, "raw", "points.jsonl"))]
        check(n == len(pts) > 0 and os.path.exists(os.path.join(run, name, "hist.jsonl.gz"))
              and os.path.exists(os.path.join(run, name, "report.md")),
              "rounds: %s has a row per point (%d of %d), its histograms and its report" % (name, n, len(pts)))


def broken_server(tmp):
    print("harness/run with a server that cannot start")
    build = os.path.join(tmp, "build")
    os.makedirs(build)
    os.symlink(os.path.join(BUILD, "loadgen"), os.path.join(build, "loadgen"))
    with open(os.path.join(build, "srv-epoll"), "w") as f:
        f.write("#!/bin/sh\necho 'srv-epoll: bind 127.0.0.1:0: simulated failure' >&2\nexit 1\n")
    os.chmod(os.path.join(build, "srv-epoll"), 0o755)
    r = subprocess.run([RUN, "concurrency", "--smoke", "--models", "epoll", "--build", build,
                        "--out", os.path.join(tmp, "out")], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "a run whose points all fail still finishes (exit %s)" % r.returncode)
    check("did not start" in r.stdout and "simulated failure" in r.stdout,
          "the progress line says the server did not start, and why")
    try:
        with open(os.path.join(tmp, "out", "latest", "report.md")) as f:
            md = f.read()
    except OSError:
        md = ""
    check("Points that failed" in md and "simulated failure" in md, "the report lists the failed points")


def main():
    # A shell that starts a command in the background ignores SIGINT for it, and an
    # ignored signal stays ignored across exec: so the interrupted run would never see
    # its Ctrl-C.  A handled signal goes back to its default at exec, as a terminal's is.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    ms = pick_models()
    if len(ms) < 2 or not os.access(os.path.join(BUILD, "loadgen"), os.X_OK):
        print("test-harness-smoke: FAILED: needs build/loadgen and two server models (have %s)" % ms)
        return 1
    tmp = tempfile.mkdtemp(prefix="lb-harness-smoke-")
    try:
        end_to_end(tmp, ms)
        interrupted(os.path.join(tmp, "int"), ms)
        waiting_beside(os.path.join(tmp, "wait"))
        own_k(os.path.join(tmp, "k"))
        stalled_generator(os.path.join(tmp, "stalled"))
        rounds(os.path.join(tmp, "rounds"))
        broken_server(os.path.join(tmp, "broken"))
    finally:
        for x in leftovers(tmp):
            failures.append("left behind: " + x)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("test-harness-smoke: %d check(s) failed:" % len(failures))
        for f in failures:
            print("  - " + f)
        return 1
    print("test-harness-smoke: all %d checks passed" % len(passed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
