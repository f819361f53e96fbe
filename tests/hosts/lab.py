#!/usr/bin/python3
"""The namespace transport end to end (make test-hosts; needs root).

1. A lab of three namespaces (ns:srv, ns:c1, ns:c2): srv-epoll in srv, one load
   generator in each client namespace, each over its own link to the server,
   started together and merged; the server's count against the merged result.
2. The guard: loopback and the lab's own addresses pass, anything else (another
   address of the same /16, a public address) is refused; combinations of hosts
   that cannot reach each other are refused before anything is made.
3. Nothing left behind: a run interrupted with SIGINT in the middle of its load
   removes its namespaces and processes itself; a run killed with SIGKILL leaves
   namespaces (no process: they die with it), and the next run removes them.
4. harness/run itself on ns:srv and ns:c1,ns:c2: a smoke run completes with the
   server's /proc read in its namespace, two generators at the point with enough
   connections, every host in meta.json; interrupted with SIGINT during a load, it
   exits 130 and leaves no namespace.
Before and after, `ip netns` shows nothing of ours and `ip link` nothing new.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from common import (BUILD, RUN, begin, check, finish, netns_list, processes_matching,
                    smoke_run, wait_gone)

from lib import generators, hosts, netlab, placement, procs


def end_to_end(tmp):
    pl = placement.Placement.parse("ns:srv", ["ns:c1", "ns:c2"])
    pl.open(build=BUILD, run_dir=tmp)
    try:
        lab_ns = sorted(pl.lab.describe()["namespaces"].values())
        check(lab_ns == sorted(n for n in netns_list() if n.startswith("loopbench-%s-" % pl.lab.id)),
              "the lab's namespaces exist (%s)" % " ".join(lab_ns))
        t1, t2 = pl.target(pl.clients[0]), pl.target(pl.clients[1])
        check(t1 != t2 and t1.startswith("10.99.") and t2.startswith("10.99."),
              "each client reaches the server over its own link (%s, %s)" % (t1, t2))
        check(pl.server_bind() == "0.0.0.0", "the server listens on its namespace's addresses")
        stats_path = os.path.join(tmp, "srv.json")
        srv = pl.server.spawn(["taskset", "-c", "0", os.path.join(BUILD, "srv-epoll"), "--proto", "http",
                               "--host", pl.server_bind(), "--port", "0", "--quiet",
                               "--stats-file", stats_path], stdout=subprocess.PIPE)
        port = int(srv.stdout.readline().decode().strip().rsplit(":", 1)[1])
        shares = generators.shares(pl.clients, 20, rate=2000.0)

        def argv_for(sh, json_path, start_at):
            return ["taskset", "-c", "1", os.path.join(BUILD, "loadgen"), "--proto", "http",
                    "--target", "%s:%d" % (pl.target(sh.host), port), "--allow-remote",
                    "-c", str(sh.conns), "--rate", "%g" % sh.rate, "-d", "1", "--warmup", "0.2",
                    "--quiet", "--json", json_path, "--start-at", "%.6f" % start_at]
        g = generators.Generators(shares, argv_for, os.path.join(tmp, "p"))
        g.start()
        while True:
            ev = g.next_event(60)
            if ev is None or ev[0] == "eof":
                break
        check(g.finish() == 0, "both generators exit 0")
        m = g.merge(os.path.join(tmp, "p.loadgen.json"))
        rc, killed = pl.server.stop(srv, grace=20)
        check(rc == 0 and not killed, "the server stops on SIGTERM (exit %s)" % rc)
        with open(stats_path) as f:
            stats = json.loads(f.read().strip().splitlines()[-1])
        gens = m["generators"]
        check([x["target"] for x in gens] == ["%s:%d" % (t1, port), "%s:%d" % (t2, port)]
              and all(x["requests"] > 0 for x in gens),
              "both generators loaded the server over their links (%s)"
              % ", ".join("%s %d" % (x["host"], x["requests"]) for x in gens))
        check(sum(m["errors"].values()) == 0, "no errors (%s)" % m["errors"])
        lo = m["warmup_requests"] + m["requests"]
        hi = lo + m["abandoned"] + sum(m["errors"].values()) + sum(m["warmup_errors"].values())
        check(lo <= stats["requests"] <= hi and stats["accepted"] == 20,
              "the server counted %d requests on %d connections; the generators %d..%d"
              % (stats["requests"], stats["accepted"], lo, hi))
        facts = pl.facts(lambda h: [os.path.join(BUILD, "loadgen")])
        check(set(facts) == {"ns:srv", "ns:c1", "ns:c2"}
              and all(f["cores"] == os.cpu_count() and f["sha256"].get("loadgen") for f in facts.values()),
              "every host's facts: cores, kernel, binaries (%s)" % ", ".join(facts))
        guard(pl)
    finally:
        pl.close()
    check(not [n for n in netns_list() if n.startswith("loopbench-%s-" % os.getpid())],
          "closing the run removes its namespaces")


def guard(pl):
    for addr in ("127.0.0.1", pl.target(pl.clients[0])):
        check(pl.check(addr) == addr, "the guard lets %s through" % addr)
    for addr in ("10.99.77.1", "192.0.2.1", "8.8.8.8"):
        try:
            pl.check(addr)
            check(False, "the guard refuses %s" % addr)
        except hosts.Refused:
            check(True, "the guard refuses %s" % addr)
    for server, clients in (("ns:srv", ["local"]), ("local", ["ssh:u@192.0.2.1"]),
                            ("ssh:u@192.0.2.1", ["ns:c1"])):
        try:
            placement.Placement.parse(server, clients)
            check(False, "server %s with clients %s is refused" % (server, clients))
        except hosts.HostError:
            check(True, "server %s with clients %s is refused" % (server, clients))


def child():
    """A run in miniature, for the interrupt cases: a lab, a server and a long
    load in it; says "ready" and waits for its fate."""
    procs.install_handlers()
    pl = placement.Placement.parse("ns:srv", ["ns:c1"])
    pl.open(build=BUILD)
    try:
        srv = pl.server.spawn([os.path.join(BUILD, "srv-epoll"), "--proto", "http", "--host",
                               "0.0.0.0", "--port", "0", "--quiet"], stdout=subprocess.PIPE)
        port = int(srv.stdout.readline().decode().strip().rsplit(":", 1)[1])
        pl.clients[0].spawn([os.path.join(BUILD, "loadgen"), "--proto", "http", "--target",
                             "%s:%d" % (pl.target(pl.clients[0]), port), "--allow-remote",
                             "-c", "4", "--rate", "200", "-d", "60", "--quiet"])
        print("ready %s %d" % (pl.lab.id, srv.pid), flush=True)
        time.sleep(120)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        pl.close()


def interrupted(sig):
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "child"],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    if not check(len(line) == 3 and line[0] == "ready", "the child run started (%s)" % line):
        p.kill()
        return
    lab_id, srv_pid = line[1], int(line[2])
    inside = subprocess.run(["ip", "netns", "pids", "loopbench-%s-srv" % lab_id],
                            capture_output=True, text=True).stdout.split()
    check(str(srv_pid) in inside, "the server runs inside its namespace")
    p.send_signal(sig)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
    left = wait_gone([srv_pid], 10)
    name = signal.Signals(sig).name
    check(not left, "%s: the server is gone" % name)
    ours = [n for n in netns_list() if n.startswith("loopbench-%s-" % lab_id)]
    if sig == signal.SIGINT:
        check(not ours, "SIGINT: the run removed its namespaces itself (%s)" % (" ".join(ours) or "none"))
    else:
        check(len(ours) == 2, "SIGKILL: the namespaces are left (%s)" % " ".join(ours))
        check(set(netlab.leftovers()) >= set(ours), "SIGKILL: they are recognised as leftovers")
        said = []
        pl = placement.Placement.parse("ns:x", ["ns:y"])
        pl.open(build=BUILD, say=said.append)
        pl.close()
        check(not [n for n in netns_list() if n.startswith("loopbench-%s-" % lab_id)]
              and len([s for s in said if "left by a run that was killed" in s]) >= 2,
              "SIGKILL: the next run removed them and said so (%s)" % "; ".join(said))


HOSTS_ARGS = ["--server-host", "ns:srv", "--client-hosts", "ns:c1,ns:c2"]


def harness_run(tmp):
    """harness/run itself on namespace hosts: a smoke run of one model."""
    got = smoke_run(os.path.join(tmp, "runs"), HOSTS_ARGS, "on ns hosts")
    if got is None:
        return
    rows, meta, run = got
    check(sorted(x["conns"] for x in rows) == ["1", "10"] and all(float(x["rps"]) > 0 for x in rows)
          and all(x["cpu_us_per_req"] and x["rss_kb"] for x in rows),
          "data.csv: both points with requests/s, and the server's CPU and memory from its /proc")
    raw = os.path.join(run, "concurrency", "raw")
    two = [n for n in os.listdir(raw) if "-c10-" in n and ".loadgen-g" in n and n.endswith(".json")]
    check(len(two) == 2, "the 10-connection point ran one generator in each client namespace (%s)"
          % " ".join(sorted(two)))
    h = meta.get("hosts") or {}
    check(set(h.get("facts", {})) == {"ns:srv", "ns:c1", "ns:c2"}
          and (h.get("roles") or {}).get("server") == "ns:srv"
          and meta.get("machine", {}).get("server_host") == "ns:srv"
          and meta.get("calibration", {}).get("host") == "ns:srv",
          "meta.json: every host's facts, the roles, the server's machine, K measured there")
    check(not meta.get("checks"), "the server's counts agree with the merged generators' (%s)"
          % meta.get("checks"))


def harness_interrupted(tmp):
    """harness/run on namespace hosts, interrupted with SIGINT during a load."""
    out = os.path.join(tmp, "runs-int")
    p = subprocess.Popen([RUN, "concurrency", "--smoke", "--models", "epoll", "--out", out,
                          "--build", BUILD] + HOSTS_ARGS, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    lab = "loopbench-%d-" % p.pid
    deadline = time.monotonic() + 120
    running = False
    while time.monotonic() < deadline and p.poll() is None:
        inside = subprocess.run(["ip", "netns", "pids", lab + "c1"], capture_output=True,
                                text=True).stdout.split()
        if any(b"loadgen" in open("/proc/%s/cmdline" % x, "rb").read() for x in inside
               if os.path.exists("/proc/%s/cmdline" % x)):
            running = True
            break
        time.sleep(0.05)
    check(running, "harness/run: a load was running in a client namespace when interrupted")
    p.send_signal(signal.SIGINT)
    try:
        p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
    check(p.returncode == 130, "harness/run interrupted exits 130 (got %s)" % p.returncode)
    left = [n for n in netns_list() if n.startswith(lab)]
    check(not left, "harness/run interrupted: its namespaces are gone (%s)" % (" ".join(left) or "none"))
    procs_left = wait_gone(processes_matching(out), 5)
    check(not procs_left, "harness/run interrupted: no server or generator left (%s)"
          % (procs_left or "none"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        return child()
    t0, before = begin("hosts lab")
    tmp = tempfile.mkdtemp(prefix="lb-lab-")
    try:
        end_to_end(tmp)
        interrupted(signal.SIGINT)
        interrupted(signal.SIGKILL)
        harness_run(tmp)
        harness_interrupted(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    before.check_clean("after the lab tests")
    finish("hosts lab", t0)


if __name__ == "__main__":
    main()
