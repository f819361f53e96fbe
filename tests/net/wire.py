#!/usr/bin/python3
"""The wire end to end (make test-net; the namespaces need root).

1. Options: build/delayline refuses a loss, a round trip or a rate out of range,
   and harness/run refuses --rtt-ms on hosts that are not namespaces -- any user.
2. Accuracy: a lab (ns:srv, ns:c1) whose client link carries a 20 ms round trip,
   by whichever mechanism this machine offers (lib/wire.py: netem, else the delay
   line): the load generator's p50 at a low load (100 requests/s) is 20 ms within
   10 %.  Set back to 0 ms on the same link, the round trip is gone.
3. --loss 10: the wire loses 10 % of the packets (5 standard deviations either
   way), and TCP still delivers the load.  --rate-mbit 20: an echo of 64 KiB
   messages moves at most 20 Mbit/s, and at least half of it.
4. harness/run rtt --smoke makes its own namespaces, records the mechanism, each
   row's round trip and the wire's counters; interrupted with SIGINT during a
   point, it exits 130.  After each part, no namespace, link or delay line of
   ours is left.
"""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "hosts"))
from common import (BUILD, RUN, MachineState, check, finish, processes_matching,  # noqa: E402
                    wait_gone)

from lib import netlab, placement, procs, wire  # noqa: E402

NAME = "wire"
RTT_MS = 20.0
ACCURACY = 0.10         # the acceptance: within 10 % of the round trip set


def options():
    dl = os.path.join(BUILD, "delayline")
    for args, what in ((["--loss", "101"], "a loss over 100 %"), (["--rtt-ms", "-1"], "a negative RTT"),
                       (["--rate-mbit", "x"], "a rate that is not a number"),
                       (["--ns-a", "a"], "a missing namespace B")):
        r = subprocess.run([dl, "--ns-a", "a", "--ns-b", "b"] + args if "--ns-a" not in args
                           else [dl] + args, capture_output=True, text=True, timeout=10)
        check(r.returncode in (1, 2) and ("delayline" in r.stderr or "usage" in r.stderr),
              "delayline refuses %s (exit %d: %s)" % (what, r.returncode, r.stderr.strip()[:60]))
    r = subprocess.run([RUN, "concurrency", "--smoke", "--rtt-ms", "10", "--list"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "namespace" in r.stderr,
          "harness/run refuses --rtt-ms with every role on this machine (%s)"
          % r.stderr.strip().splitlines()[-1][:90])
    r = subprocess.run([RUN, "concurrency", "--smoke", "--server-host", "ns:srv", "--client-hosts",
                        "ns:c1", "--loss", "200", "--list"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "--loss" in r.stderr, "harness/run refuses --loss 200")
    # The run configuration's [network], and the options over it.
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write('[hosts]\nserver = "ns:srv"\nclients = ["ns:c1"]\n'
                '[network]\nrtt_ms = 10\nloss = 0.5\nmechanism = "delayline"\n')
    try:
        pl = placement.from_args(config=f.name)
        check(pl.shaping == wire.Shaping(10, 0.5, 0) and pl.mechanism == "delayline",
              "[network] gives the client links their shaping (%s, %s)" % (pl.shaping, pl.mechanism))
        pl = placement.from_args(config=f.name, rtt_ms="5")
        check(pl.shaping.rtt_ms == 5 and pl.shaping.loss_pct == 0.5, "--rtt-ms overrides [network]")
        with open(f.name, "a") as g:
            g.write("jitter_ms = 1\n")
        try:
            placement.from_args(config=f.name)
            check(False, "an unknown [network] key is refused")
        except placement.HostError as e:
            check("jitter_ms" in str(e), "an unknown [network] key is refused (%s)" % e)
    finally:
        os.unlink(f.name)
    check(wire.netem_args(wire.Shaping(20, 1, 100)) ==
          ["netem", "limit", "1000", "delay", "10000us", "loss", "1%", "rate", "100000kbit"],
          "netem gets half the round trip each way, the loss and the rate")


def serve(pl, tmp, proto="http"):
    srv = pl.server.spawn(["taskset", "-c", "0", os.path.join(BUILD, "srv-epoll"), "--proto", proto,
                           "--host", pl.server_bind(), "--port", "0", "--quiet",
                           "--cpu-iters-per-us", "100",
                           "--stats-file", os.path.join(tmp, "srv.json")], stdout=subprocess.PIPE)
    port = int(srv.stdout.readline().decode().strip().rsplit(":", 1)[1])
    return srv, port


def load(pl, port, tmp, args, name):
    c = pl.clients[0]
    out = os.path.join(tmp, name + ".json")
    r = c.run(["taskset", "-c", "1", os.path.join(BUILD, "loadgen"),
               "--target", "%s:%d" % (pl.target(c), port), "--allow-remote", "--quiet",
               "--json", out] + args, timeout=120)
    check(r.returncode == 0, "%s: loadgen exits 0 (%s)" % (name, r.returncode))
    with open(out) as f:
        return json.load(f)


def accuracy(tmp):
    pl = placement.Placement.parse("ns:srv", ["ns:c1"], shaping=wire.Shaping(RTT_MS))
    pl.open(build=BUILD, run_dir=tmp)
    srv = None
    try:
        net = pl.network()
        check(net and net["mechanism"] in ("netem", "delayline"),
              "the client link carries a wire (%s: %s)" % (net and net["mechanism"], net and net["why"]))
        ok, _ = wire.netem_available()
        check(net["mechanism"] == ("netem" if ok else "delayline"),
              "the mechanism is netem where the kernel has it, else the delay line")
        srv, port = serve(pl, tmp)
        cpus, where = wire.pin_cpus(os.cpu_count() or 1, "0", "1")
        pl.wire_begin(cpus)
        j = load(pl, port, tmp, ["--proto", "http", "-c", "4", "--rate", "100", "-d", "2",
                                 "--warmup", "0.3"], "rtt20")
        st = pl.wire_end()["c1"]
        p50 = j["latency_us"]["p50"] / 1000.0
        check(abs(p50 - RTT_MS) <= ACCURACY * RTT_MS and j["requests"] >= 150,
              "RTT %g ms, measured by the load generator at 100 req/s: p50 %.2f ms, mean %.2f ms "
              "(within %d%%; %d requests)" % (RTT_MS, p50, j["latency_us"]["mean"] / 1000.0,
                                             round(100 * ACCURACY), j["requests"]))
        if st.get("mechanism") == "delayline":
            d = st["directions"]
            check(all(x["packets"] > 0 and x["late_us"]["max"] >= x["late_us"]["p99"] >= x["late_us"]["p50"]
                      for x in d.values()) and st["cpu_ns_per_packet"] > 0,
                  "the delay line counted its packets, lateness and CPU (%.1f µs/packet, late p50 "
                  "%s/%s µs, p99 %s/%s µs)" % (st["cpu_ns_per_packet"] / 1000.0,
                                              d["a->b"]["late_us"]["p50"], d["b->a"]["late_us"]["p50"],
                                              d["a->b"]["late_us"]["p99"], d["b->a"]["late_us"]["p99"]))
            pids = pl.wire_pids()
            check(pids and os.sched_getaffinity(pids[0]) == set(cpus),
                  "the delay line runs on CPU %s (%s)" % (cpus, where))
        pl.set_shaping(wire.Shaping(0.0))
        j = load(pl, port, tmp, ["--proto", "http", "-c", "4", "--rate", "100", "-d", "1"], "rtt0")
        check(j["latency_us"]["p50"] < 0.25 * RTT_MS * 1000,
              "set back to 0 ms, the round trip is gone (p50 %.2f ms)" % (j["latency_us"]["p50"] / 1000.0))

        pl.set_shaping(wire.Shaping(0.0, loss_pct=10.0))
        pl.wire_begin(cpus)
        # Each connection sends every 0.4 s: a lost packet's retransmission (the
        # timeout, 200 ms at least) mostly comes back before its next request is due.
        j = load(pl, port, tmp, ["--proto", "http", "-c", "200", "--rate", "500", "-d", "3",
                                 "--timeout-ms", "5000"], "loss")
        st = pl.wire_end()["c1"]
        if st.get("mechanism") == "delayline":
            d = st["directions"].values()
            lost, passed = sum(x["lost"] for x in d), sum(x["packets"] for x in d)
            n = lost + passed
            sd = (n * 0.1 * 0.9) ** 0.5
            check(n > 1000 and abs(lost - 0.1 * n) <= 5 * sd,
                  "--loss 10: %d of %d packets lost (%.1f%%; 10%% +- %.1f)"
                  % (lost, n, 100.0 * lost / max(n, 1), 500 * sd / max(n, 1)))
        check(j["requests"] >= 0.8 * 1500 and sum(j["errors"].values()) == 0,
              "TCP delivers the load through 10%% loss (%d of 1500 answered, errors %s)"
              % (j["requests"], j["errors"]))
        procs.stop(srv, grace=10)
        srv = None

        pl.set_shaping(wire.Shaping(0.0, rate_mbit=20.0))
        srv, port = serve(pl, tmp, proto="echo")
        j = load(pl, port, tmp, ["--proto", "echo", "--size", "64K", "-c", "4", "-d", "3"], "rate")
        mbit = j["requests"] * 65536 * 8 / j["duration_s"] / 1e6
        check(10.0 <= mbit <= 22.0 and sum(j["errors"].values()) == 0,
              "--rate-mbit 20: echo moves %.1f Mbit/s each way (at most 20, plus the one "
              "message per connection answered during the drain; at least half)" % mbit)
    finally:
        if srv is not None:
            procs.stop(srv, grace=10)
        pids = pl.wire_pids()
        pl.close()
    check(not wait_gone(pids, 10), "closing the lab stops the delay line")


def harness_run(tmp):
    out = os.path.join(tmp, "runs")
    r = subprocess.run([RUN, "rtt", "--smoke", "--models", "epoll", "--out", out, "--build", BUILD],
                       capture_output=True, text=True, timeout=300)
    if not check(r.returncode == 0, "harness/run rtt --smoke exits 0 (%s)" % r.returncode):
        print(r.stdout[-2000:], r.stderr[-2000:])
        return
    run = os.path.realpath(os.path.join(out, "latest"))
    with open(os.path.join(run, "meta.json")) as f:
        meta = json.load(f)
    e = meta["experiments"]["rtt"]
    check((e.get("network") or {}).get("mechanism") in ("netem", "delayline")
          and e.get("hosts", {}).get("roles", {}).get("server") == "ns:srv",
          "meta.json records the experiment's lab and its mechanism (%s)" % (e.get("network") or {}).get("mechanism"))
    with open(os.path.join(run, "data.csv")) as f:
        rows = [x for x in csv.DictReader(f) if x["experiment"] == "rtt"]
    check(rows and {x["rtt_ms"] for x in rows} == {"0", "10"},
          "every row has its round trip (%s)" % sorted({x["rtt_ms"] for x in rows}))
    light = [x for x in rows if x["variant"] == "light"]
    by = {x["rtt_ms"]: float(x["p50_us"]) for x in light}
    check(len(by) == 2 and 8000 <= by["10"] - by["0"] <= 12000,
          "the light load measures the 10 ms the wire adds (%.2f ms)"
          % ((by.get("10", 0) - by.get("0", 0)) / 1000.0))
    # A repetition whose generator stalled ran again, and its first attempt's files
    # were kept as <point>.stalled.* (methodology.md, GEN_STALL): its wire counters
    # are that attempt's, not a point's of data.csv.
    raw = os.path.join(run, "rtt", "raw")
    files = [f for f in os.listdir(raw) if f.endswith(".wire.json")]
    wires = [f for f in files if ".stalled." not in f]
    check(len(wires) == len(rows), "each point has the wire's counters (%d)" % len(wires))
    with open(os.path.join(raw, "points.jsonl")) as f:
        recs = [json.loads(x) for x in f if x.strip()]
    stalled = {r["base"].split("/")[-1] for r in recs if r.get("stalled")}
    extra = sorted(f for f in files if ".stalled." in f)
    check(sorted(f.split(".stalled.")[0] for f in extra) == sorted(stalled),
          "the only other wire counters are those of attempts recorded as stalled (%s)" % extra)
    with open(os.path.join(run, "rtt", "report.md")) as f:
        rep = f.read()
    check(e["network"]["mechanism"] in rep and "CPU µs/packet" in rep,
          "the report names the mechanism and the wire's cost")


def interrupted(tmp):
    out = os.path.join(tmp, "runs-int")
    p = subprocess.Popen([RUN, "rtt", "--smoke", "--models", "epoll", "--out", out, "--build", BUILD],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    seen = False
    for line in p.stdout:
        if "rtt " in line and "rep 1" in line and "..." in line:
            seen = True
            time.sleep(0.5)
            p.send_signal(signal.SIGINT)
            break
        if time.monotonic() > deadline:
            break
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    check(seen and rc == 130, "harness/run rtt interrupted with SIGINT during a point exits 130 (%s)" % rc)


def main():
    t0 = time.monotonic()
    options()
    why = netlab.untestable_reason()
    if why:
        print("%s: the options checked; the rest is not testable here (%s)" % (NAME, why))
        finish(NAME, t0)
    procs.install_handlers()
    tmp = tempfile.mkdtemp(prefix="loopbench-wire-")
    try:
        for part in (accuracy, harness_run, interrupted):
            before = MachineState()
            part(tmp)
            before.check_clean(part.__name__)
            left = processes_matching(os.path.join(BUILD, "delayline") + " --control")
            check(not wait_gone(left, 10), "%s: no delay line left" % part.__name__)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish(NAME, t0)


if __name__ == "__main__":
    main()
