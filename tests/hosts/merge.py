#!/usr/bin/python3
"""Several generators merged equal the sum of their parts (make test-hosts).

1. The harness reads loadgen's histograms as loadgen does: for every histogram of
   a real run (total, uncorrected, per path), the percentiles, min and max that
   lib/hist.py reads off the buckets are exactly the ones loadgen printed.
2. A synthetic case where averaging percentiles would be wrong: the merged p99.9
   is read off the summed buckets, not the mean of the parts' p99.9s.
3. Two generators with different shares (connections, rates, a path mix), started
   together with --start-at against one server: every count of the merged result
   is the sum of the parts' counts, every histogram the bucket-by-bucket sum,
   requests/s the sum of the rates, and the server's own count satisfies the
   contract's counting rule against the merged result.

Runs on loopback: no root needed.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

from common import BUILD, aligned, check, finish

from lib import generators, hist, hosts, procs


def synthetic():
    def part(values):
        h = hist.Hist()
        for v, n in values:
            h.counts[v] = h.counts.get(v, 0) + n
            h.total += n
        lo, hi = min(v for v, _ in values), max(v for v, _ in values)
        mean = sum(v * n for v, n in values) / h.total
        var = sum(n * (v - mean) ** 2 for v, n in values) / h.total
        h.min, h.max, h.sum = lo, hi, mean * h.total
        s = h.summary()
        s["stdev"] = var ** 0.5
        return {"mode": "closed", "requests": h.total, "duration_s": 1.0, "histogram": h.buckets(),
                "latency_us": s, "errors": {"read": 1}, "config": {"conns": 1}}
    a = part([(100, 1000)])
    b = part([(5000, 10)])
    m = generators.merge([a, b])
    check(m["requests"] == 1010 and m["errors"] == {"read": 2}, "synthetic: counts and errors add up")
    check(m["histogram"] == [[100, 1000], [5000, 10]], "synthetic: buckets add up")
    check(m["latency_us"]["p99"] == 100 and m["latency_us"]["p999"] == 5000,
          "synthetic: p99 %d (want 100) and p99.9 %d (want 5000) read off the sum, where the mean "
          "of the parts' p99.9s would say 2550" % (m["latency_us"]["p99"], m["latency_us"]["p999"]))
    check(abs(m["latency_us"]["mean"] - (100 * 1000 + 5000 * 10) / 1010) < 0.01,
          "synthetic: the mean is the mean of every value")
    check(m["latency_us"]["min"] == 100 and m["latency_us"]["max"] == 5000, "synthetic: min and max")
    try:
        hist.Hist.from_loadgen([[100, 5]], {"count": 6, "min": 1, "max": 100, "mean": 1, "stdev": 0})
        check(False, "a histogram whose buckets disagree with its count is refused")
    except hist.HistError:
        check(True, "a histogram whose buckets disagree with its count is refused")


def same_reading(name, buckets, summary):
    """lib/hist.py reads these buckets exactly as loadgen did."""
    h = hist.Hist.from_loadgen(buckets, summary)
    s = h.summary()
    keys = ("p50", "p90", "p99", "p999", "p9999", "min", "max", "count")
    diff = {k: (s[k], summary[k]) for k in keys if s[k] != summary[k]}
    check(not diff, "%s: percentiles read as loadgen reads them%s" % (name, " (%s)" % diff if diff else ""))
    check(abs(s["mean"] - summary["mean"]) < 1e-3 and abs(s["stdev"] - summary["stdev"]) < 1e-2,
          "%s: mean and stdev round-trip" % name)


def bucket_sum(*lists):
    out = {}
    for lst in lists:
        for u, c in lst:
            out[u] = out.get(u, 0) + c
    return sorted([u, c] for u, c in out.items())


def two_generators(tmp):
    srv_stats = os.path.join(tmp, "server.json")
    srv = procs.spawn(["taskset", "-c", "0", os.path.join(BUILD, "srv-epoll"), "--proto", "http",
                       "--port", "0", "--quiet", "--stats-file", srv_stats], stdout=subprocess.PIPE)
    try:
        port = int(srv.stdout.readline().decode().strip().rsplit(":", 1)[1])
        local = hosts.LocalHost()
        # Unequal shares on purpose: 3 and 5 connections, the rate in proportion.
        shares = [generators.Share(0, local, 3, rate=900.0), generators.Share(1, local, 5, rate=1500.0)]

        def argv_for(sh, json_path, start_at):
            return ["taskset", "-c", "1", os.path.join(BUILD, "loadgen"), "--proto", "http",
                    "--target", "127.0.0.1:%d" % port, "-c", str(sh.conns), "--rate", "%g" % sh.rate,
                    "--mix", "/:3,/bytes?n=100:1", "-d", "1", "--warmup", "0.2", "--quiet",
                    "--json", json_path, "--start-at", "%.6f" % start_at]
        g = generators.Generators(shares, argv_for, os.path.join(tmp, "p"))
        g.start()
        names = []
        while True:
            ev = g.next_event(60)
            if ev is None:
                break
            names.append(ev[0])
            if ev[0] == "eof":
                break
        check(names == ["measure start", "measure end", "eof"],
              "one window's edges for the pair, then the end (%s)" % names)
        check(g.finish() == 0, "both generators exit 0")
        m = g.merge(os.path.join(tmp, "p.loadgen.json"))
    finally:
        procs.stop(srv, grace=20)
    with open(srv_stats) as f:
        stats = json.loads(f.read().strip().splitlines()[-1])
    parts = []
    for i in (1, 2):
        with open(os.path.join(tmp, "p.loadgen-g%d.json" % i)) as f:
            parts.append(json.load(f))
    a, b = parts
    for i, p in enumerate(parts, 1):
        same_reading("generator %d total" % i, p["histogram"], p["latency_us"])
        same_reading("generator %d uncorrected" % i, p["histogram_uncorrected"], p["latency_uncorrected_us"])
        for path, pj in p["paths"].items():
            same_reading("generator %d %s" % (i, path), pj["histogram"], pj["latency_us"])
    check(m is not None, "the merged result was written")
    for k in generators.COUNT_KEYS:
        check(m[k] == a[k] + b[k], "merged %s = %s + %s (got %s)" % (k, a[k], b[k], m[k]))
    for k in ("errors", "warmup_errors"):
        check(all(m[k][e] == a[k][e] + b[k][e] for e in a[k]), "merged %s add up" % k)
    check(m["histogram"] == bucket_sum(a["histogram"], b["histogram"]),
          "merged histogram = bucket-by-bucket sum (%d buckets)" % len(m["histogram"]))
    check(m["histogram_uncorrected"] == bucket_sum(a["histogram_uncorrected"], b["histogram_uncorrected"]),
          "merged uncorrected histogram = bucket sum")
    check(sum(c for _, c in m["histogram"]) == m["requests"] == m["latency_us"]["count"],
          "merged histogram holds every request (%d)" % m["requests"])
    for path in a["paths"]:
        mp = m["paths"][path]
        check(mp["requests"] == a["paths"][path]["requests"] + b["paths"][path]["requests"]
              and mp["histogram"] == bucket_sum(a["paths"][path]["histogram"], b["paths"][path]["histogram"]),
              "path %s: requests and histogram add up" % path)
    same_reading("merged total", m["histogram"], m["latency_us"])
    check(abs(m["rps"] - (a["rps"] + b["rps"])) < 0.01 * (a["rps"] + b["rps"]),
          "merged requests/s = sum of the rates (%.0f = %.0f + %.0f)" % (m["rps"], a["rps"], b["rps"]))
    check(m["latency_us"]["max"] == max(a["latency_us"]["max"], b["latency_us"]["max"])
          and m["latency_us"]["min"] == min(a["latency_us"]["min"], b["latency_us"]["min"]),
          "merged min and max")
    check(m["config"]["conns"] == 8 and len(m["generators"]) == 2, "merged config: 8 connections, 2 generators")
    lo = m["warmup_requests"] + m["requests"]
    hi = lo + m["abandoned"] + sum(m["errors"].values()) + sum(m["warmup_errors"].values())
    check(lo <= stats["requests"] <= hi,
          "the server's count %d is within the merged %d..%d" % (stats["requests"], lo, hi))
    check(aligned(m), "the windows coincide, or a late start is reported (skew %s ms, late %s ms)"
          % (m.get("window_skew_ms"), m.get("start_late_ms")))


def shares_split():
    hs = ["a", "b", "c"]
    s = generators.shares(hs, 10, rate=1000.0, requests=None)
    check([x.conns for x in s] == [4, 3, 3] and abs(sum(x.rate for x in s) - 1000.0) < 1e-9,
          "shares: 10 connections over 3 generators are 4+3+3, the rate in proportion")
    s = generators.shares(hs, 2, requests=101)
    check(len(s) == 2 and sum(x.requests for x in s) == 101,
          "shares: a generator without a connection is not started; -n adds up")
    s = generators.shares(hs, 10, requests=2)
    check(len(s) == 2 and [x.requests for x in s] == [1, 1] and sum(x.conns for x in s) == 10,
          "shares: no generator is given zero requests")


def main():
    t0 = time.monotonic()
    procs.install_handlers()
    synthetic()
    shares_split()
    tmp = tempfile.mkdtemp(prefix="lb-merge-")
    try:
        two_generators(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish("hosts merge", t0)


if __name__ == "__main__":
    main()
