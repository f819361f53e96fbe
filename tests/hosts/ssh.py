#!/usr/bin/python3
"""The ssh transport against a real sshd (make test-hosts; needs root and
Debian's openssh-server).

The test makes two namespaces joined by a link: `far`, where Debian's sshd runs
on a free port with a throwaway host key and a throwaway user key, and `ctl`,
which this process enters to play the machine that drives the run -- so every
command goes over a real TCP connection to a real sshd, and nothing touches the
machine's own network.

1. Opening the host: one master connection, a run directory there, the build
   copied (the same SHA-256 there as here), its libraries checked, the clock
   offset measured; facts collected there.
2. A run in miniature: srv-epoll on the ssh host, one load generator here and
   one there, started together, merged; the server's stats file fetched back and
   its count checked against the merged result.
3. Stopping: a command stopped through the transport gets its signal and is
   gone; closing removes the run directory.
4. Nothing left behind: a controller killed with SIGKILL takes its ssh
   connection with it, and lb-run there kills what it ran; the directory it left
   is removed by the next run that opens the host, or by `harness/hosts clean`.
   SIGINT cleans up at once.
5. harness/run with the server on the ssh host, named in a run configuration
   file: a smoke run completes, the server's /proc read there, its stats brought
   back, both hosts in meta.json, its directory there removed.
6. The sshd is stopped; nothing of the test runs in its namespace any more.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from common import (BUILD, ROOT, SSHD, InNetns, Sshd, aligned, begin, check, finish, smoke_run,
                    wait_gone)

from lib import generators, netlab, placement, procs, runlock


def open_host(spec, opts, tmp):
    pl = placement.Placement.parse(spec, ["local", spec], ssh_options=opts)
    pl.open(build=BUILD, run_dir=tmp)
    return pl


def miniature_run(spec, opts, tmp):
    pl = open_host(spec, opts, tmp)
    h = pl.server
    try:
        rdir = h.dir
        check(os.path.isdir(rdir) and open(os.path.join(rdir, "owner")).read().split()[1] == pl.lab_id(),
              "the host has a run directory of its own, owned by this run (%s)" % rdir)
        files = [os.path.join(BUILD, n) for n in ("loadgen", "srv-epoll")]
        facts = pl.facts(lambda host: files)
        here, there = facts["local"]["sha256"], facts[spec]["sha256"]
        check(here.get("loadgen") and here == there,
              "the binaries there are the ones built here (%s)" % ", ".join(sorted(there)))
        check(facts[spec]["remote_dir"] == rdir and facts[spec]["cores"] == os.cpu_count()
              and facts[spec]["kernel_release"] == os.uname().release, "the host's facts")
        check(abs(facts[spec]["clock_offset_ms"]) < 1000,
              "clock offset measured (%s ms, same clock)" % facts[spec]["clock_offset_ms"])
        check(h.path(os.path.join(BUILD, "loadgen")).startswith(rdir + "/kit/"),
              "the build maps into the host's kit")
        check(pl.target(pl.clients[0]) == h.address and pl.target(pl.clients[1]) == "127.0.0.1",
              "generators reach the server at its named address, or on loopback from the same host")
        stats = os.path.join(tmp, "exp", "srv.json")
        os.makedirs(os.path.dirname(stats), exist_ok=True)
        srv = h.spawn(["taskset", "-c", "0", h.path(os.path.join(BUILD, "srv-epoll")), "--proto",
                       "http", "--host", pl.server_bind(), "--port", "0", "--quiet",
                       "--stats-file", h.path(stats)], stdout=subprocess.PIPE)
        line = srv.stdout.readline().decode().strip()
        check(line.startswith("listening on "), "the server's first line comes back over ssh (%s)" % line)
        port = int(line.rsplit(":", 1)[1])
        shares = generators.shares(pl.clients, 10, rate=1000.0)

        def argv_for(sh, json_path, start_at):
            return ["taskset", "-c", "1", sh.host.path(os.path.join(BUILD, "loadgen")), "--proto",
                    "http", "--target", "%s:%d" % (pl.target(sh.host), port), "--allow-remote",
                    "-c", str(sh.conns), "--rate", "%g" % sh.rate, "-d", "1", "--warmup", "0.2",
                    "--quiet", "--json", json_path, "--start-at", "%.6f" % start_at]
        g = generators.Generators(shares, argv_for, os.path.join(tmp, "exp", "p"))
        g.start()
        while True:
            ev = g.next_event(60)
            if ev is None or ev[0] == "eof":
                break
        check(g.finish() == 0, "both generators exit 0 (one here, one over ssh)")
        m = g.merge(os.path.join(tmp, "exp", "p.loadgen.json"))
        check(m is not None, "the remote generator's JSON was fetched and merged")
        rc, killed = h.stop(srv, grace=25)
        check(rc == 0 and not killed, "the server stops through the transport (exit %s)" % rc)
        got = h.fetch([stats])
        check(got == [stats], "the server's stats file is brought back")
        with open(stats) as f:
            st = json.loads(f.read().strip().splitlines()[-1])
        lo = m["warmup_requests"] + m["requests"]
        hi = lo + m["abandoned"] + sum(m["errors"].values()) + sum(m["warmup_errors"].values())
        check(m["requests"] > 0 and all(x["requests"] > 0 for x in m["generators"])
              and lo <= st["requests"] <= hi,
              "the server counted %d, the two generators %d..%d" % (st["requests"], lo, hi))
        check(aligned(m), "the windows coincide, or a late start is reported (skew %s ms, late %s ms)"
              % (m.get("window_skew_ms"), m.get("start_late_ms")))
        # A command stopped through the transport gets its signal and is gone.
        p = h.spawn(["sleep", "300"])
        pids = remote_pids(rdir)
        rc, killed = h.stop(p, grace=10)
        check(len(pids) == 1 and not wait_gone(pids, 5) and rc == 128 + signal.SIGTERM,
              "a remote command is stopped by the signal sent through the transport (exit %s)" % rc)
    finally:
        pl.close()
    check(not os.path.exists(rdir), "closing removes the host's run directory")


def remote_pids(rdir, timeout=10.0):
    """PIDs of the commands lb-run runs from run directory rdir (same machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pids = [int(x) for x in os.listdir(os.path.join(rdir, "pids"))]
        except FileNotFoundError:
            pids = []
        if pids:
            return pids
        time.sleep(0.05)
    return []


def child(spec, opts_json):
    """A controller in miniature, for the interrupt cases."""
    procs.install_handlers()
    pl = placement.Placement.parse(spec, ["local"], ssh_options=json.loads(opts_json))
    pl.open(build=BUILD)
    try:
        pl.server.spawn(["sleep", "600"])
        print("ready %s" % pl.server.dir, flush=True)
        time.sleep(120)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        pl.close()


def write_config(tmp, spec, opts):
    conf = os.path.join(tmp, "rig.toml")
    with open(conf, "w") as f:
        f.write('[hosts]\nserver = "%s"\nclients = ["local"]\n\n[ssh]\noptions = [%s]\n'
                % (spec, ", ".join('"%s"' % o for o in opts)))
    return conf


def interrupted(spec, opts, sig, tmp=None):
    """sig to a controller in the middle of a run; with tmp (SIGKILL), the leftover
    is removed by `harness/hosts clean` instead of the next run."""
    name = signal.Signals(sig).name
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "child", spec, json.dumps(opts)],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    if not check(len(line) == 2 and line[0] == "ready", "%s: the child run started (%s)" % (name, line)):
        p.kill()
        return
    rdir = line[1]
    try:
        pids = remote_pids(rdir)
        check(len(pids) == 1, "%s: a command runs on the host" % name)
    finally:
        p.send_signal(sig)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
    check(not wait_gone(pids, 15), "%s: the command on the host is gone" % name)
    if sig == signal.SIGINT:
        check(not os.path.exists(rdir), "SIGINT: the run removed its directory there")
        return
    check(os.path.isdir(rdir), "SIGKILL: the run's directory is left there")
    if tmp:
        r = subprocess.run([os.path.join(ROOT, "harness", "hosts"), "clean", spec, "--config",
                            write_config(tmp, spec, opts)], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and not os.path.exists(rdir) and "left by a run that was killed"
              in r.stdout, "SIGKILL: harness/hosts clean removed it and said so (%s)"
              % (r.stdout + r.stderr).strip())
        return
    said = []
    pl = placement.Placement.parse(spec, ["local"], ssh_options=opts)
    pl.open(build=BUILD, say=said.append)
    pl.close()
    check(not os.path.exists(rdir) and any("left by a run that was killed" in s for s in said),
          "SIGKILL: the next run removed it and said so (%s)" % "; ".join(said))


def harness_run(spec, opts, tmp):
    """harness/run with its server on the ssh host, named in a run configuration
    file: a smoke run of one model, the generator here."""
    conf = write_config(tmp, spec, opts)
    got = smoke_run(os.path.join(tmp, "runs"), ["--config", conf], "with an ssh server host")
    if got is None:
        return
    rows, meta, _ = got
    check(len(rows) == 2 and all(float(x["rps"]) > 0 and x["cpu_us_per_req"] and x["rss_kb"]
                                 and x["server_requests"] for x in rows),
          "data.csv: both points, with the server's CPU and memory read on its host and its "
          "stats brought back")
    f = (meta.get("hosts") or {}).get("facts", {})
    check(set(f) == {spec, "local"} and f[spec]["sha256"] == f["local"]["sha256"]
          and meta["machine"]["server_host"] == spec and meta["machine"]["generators_apart"]
          and meta["machine"]["kernel_stack_kb_per_thread"],
          "meta.json: both hosts' facts, the same binaries, the server's machine measured there")
    check(not meta.get("checks"), "the server's counts agree with the generator's (%s)" % meta.get("checks"))
    left = [d for d in os.listdir(tempfile.gettempdir()) if d.startswith("loopbench-remote.")
            and os.path.exists(os.path.join(tempfile.gettempdir(), d, "owner"))]
    check(not left, "the run removed its directory on the host (%s)" % (" ".join(left) or "none"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        return child(sys.argv[2], sys.argv[3])
    why = None
    if not os.access(SSHD, os.X_OK):
        why = "no %s (make deps installs Debian's openssh-server)" % SSHD
    elif not shutil.which("ssh"):
        why = "no ssh client"
    t0, before = begin("hosts ssh", why)
    tmp = tempfile.mkdtemp(prefix="lb-ssh-test-")
    lock = runlock.RunLock("t%d" % os.getpid()).acquire()
    lab = netlab.Lab(lock.id).start()
    sshd = None
    try:
        lab.add("ctl")
        far_ns = lab.add("far")
        _, far = lab.link("ctl", "far")
        sshd = Sshd(far_ns, far, tmp).start()
        spec, opts = sshd.spec(), sshd.ssh_options()
        run_dir = os.path.join(tmp, "run")
        os.makedirs(run_dir)
        with InNetns(lab.ns("ctl")):
            miniature_run(spec, opts, run_dir)
            interrupted(spec, opts, signal.SIGINT)
            interrupted(spec, opts, signal.SIGKILL)
            interrupted(spec, opts, signal.SIGKILL, tmp)
            harness_run(spec, opts, tmp)
    finally:
        if sshd:
            sshd.stop()
            left = subprocess.run(["ip", "netns", "pids", far_ns], capture_output=True,
                                  text=True).stdout.split()
            check(not left, "nothing of the test runs in the sshd's namespace any more (%s)"
                  % (" ".join(left) or "none"))
        lab.close()
        lock.release()
        shutil.rmtree(tmp, ignore_errors=True)
    before.check_clean("after the ssh tests")
    finish("hosts ssh", t0)


if __name__ == "__main__":
    main()
