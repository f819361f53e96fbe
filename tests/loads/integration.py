#!/usr/bin/env python3
"""Integration tests of build/loadgen (docs/loadgen.md), against the project's C servers
and tests/loads/lg_testsrv.c.

    python3 tests/loads/integration.py [--build build] [-k SUBSTRING]

Each case prints PASS or FAIL with the numbers it judged; the exit status is 1 if
any case failed.  A project server that is missing is a failure, never a skip; one
that cannot run on this machine (tests/usable.sh: srv-uring without io_uring) makes
its case NOT TESTABLE HERE, with the server's reason.
Every process started here is killed on the way out, also on failure.  Only the
standard library is used.
"""

import argparse
import json
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time

C_MODELS = ["iterative", "threads", "pool", "prefork", "select", "poll", "epoll", "libev", "libuv", "uring"]

BUILD = "build"
TMP = tempfile.mkdtemp(prefix="lg-integ-")
PROCS = []


class Fail(Exception):
    pass


class NotTestable(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


# --- processes ------------------------------------------------------------------

def start_server(argv, what):
    """Starts a server that prints 'listening on 127.0.0.1:PORT' first; returns
    (process, port)."""
    if not os.access(argv[0], os.X_OK):
        raise Fail(f"{argv[0]} does not exist: build it ({what}) before this test")
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    PROCS.append(p)
    ready, _, _ = select.select([p.stdout], [], [], 15)
    line = p.stdout.readline() if ready else ""
    if not line.startswith("listening on "):
        p.kill()
        raise Fail(f"{what}: no 'listening on' line (got {line!r})")
    return p, int(line.rsplit(":", 1)[1])


def stop_server(p, timeout=20):
    """SIGTERM (SIGCONT first, in case it was stopped); returns its stdout rest."""
    try:
        p.send_signal(signal.SIGCONT)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise Fail("server did not exit within %d s of SIGTERM" % timeout)
    return out


def project_server(model, proto="http"):
    stats = os.path.join(TMP, f"stats-{model}-{time.monotonic_ns()}.json")
    p, port = start_server([f"{BUILD}/srv-{model}", "--proto", proto, "--port", "0",
                            "--stats-file", stats, "--quiet"], f"srv-{model}")
    return p, port, stats


def test_server(mode):
    return start_server([f"{BUILD}/lg-testsrv", mode], f"lg-testsrv {mode}")


def test_server_stats(p):
    out = stop_server(p).strip().splitlines()
    check(out, "lg-testsrv printed no counters")
    return json.loads(out[-1])


def loadgen(args, timeout=60, on_start=None, nofile=None):
    """Runs loadgen with --json; returns (rc, result or None, stderr, seconds).
    on_start(proc) is called once 'measure start' appears on stderr."""
    out = os.path.join(TMP, f"lg-{time.monotonic_ns()}.json")
    argv = [f"{BUILD}/loadgen", "--quiet", "--json", out] + args
    pre = None
    if nofile:
        pre = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=pre)
    PROCS.append(p)
    err_lines = []
    if on_start:
        while True:
            ready, _, _ = select.select([p.stderr], [], [], timeout)
            line = p.stderr.readline() if ready else ""
            if not line:
                break
            err_lines.append(line)
            if line.strip() == "measure start":
                on_start(p)
                break
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise Fail(f"loadgen did not finish within {timeout} s: {' '.join(args)}")
    secs = time.monotonic() - t0
    err = "".join(err_lines) + err
    res = None
    if p.returncode == 0:
        with open(out) as f:
            res = json.load(f)
    return p.returncode, res, err, secs


def run_ok(args, **kw):
    rc, res, err, secs = loadgen(args, **kw)
    check(rc == 0, f"loadgen exited {rc}: {err.strip()}")
    lines = [l for l in err.splitlines() if l.startswith("measure ")]
    check(lines == ["measure start", "measure end"], f"stderr edge lines {lines}")
    return res, secs


def errors_total(res, key="errors"):
    return sum(res[key].values())


# --- cases ----------------------------------------------------------------------

def case_usage():
    rc, _, err, _ = loadgen(["--proto", "http", "--target", "127.0.0.1:1", "-c", "1"])
    check(rc == 2 and "usage:" in err, f"missing -d/-n: rc {rc}")
    rc, _, err, _ = loadgen(["--proto", "http", "--target", "127.0.0.1:1", "-c", "1", "-d",
                             "1", "--bogus"])
    check(rc == 2 and "--bogus" in err, f"unknown option: rc {rc}")
    p = subprocess.run([f"{BUILD}/loadgen", "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "--timeline" in p.stdout, "--help")
    return "usage errors exit 2, --help exits 0"


def case_guard():
    # Refused before any socket is made: nothing is sent to 10.0.0.1 or 8.8.8.8.
    for target in ["10.0.0.1:80", "8.8.8.8:53", "[2001:db8::1]:80", "0.0.0.0:80"]:
        rc, _, err, secs = loadgen(["--proto", "http", "--target", target, "-c", "1",
                                    "-d", "1"], timeout=10)
        check(rc == 2 and "refusing" in err, f"{target}: rc {rc}, {err.strip()}")
        check(secs < 5, f"{target}: took {secs:.1f} s")
    return "non-loopback targets refused (exit 2)"


def case_file_limit():
    rc, _, err, secs = loadgen(["--proto", "http", "--target", "127.0.0.1:9", "-c", "2000",
                                "-d", "1"], nofile=256, timeout=10)
    check(rc == 1 and "file descriptors" in err, f"rc {rc}: {err.strip()}")
    return "-c 2000 with ulimit -n 256: " + err.strip().splitlines()[-1][:70] + "..."


def counting_rule(res, srv):
    """docs/contract.md: warmup + requests <= server.requests <= that + abandoned + errors."""
    low = res["warmup_requests"] + res["requests"]
    high = low + res["abandoned"] + errors_total(res) + errors_total(res, "warmup_errors")
    check(low <= srv["requests"] <= high,
          f"counting rule: {low} <= server {srv['requests']} <= {high} "
          f"(abandoned {res['abandoned']}, errors {res['errors']}, "
          f"warmup_errors {res['warmup_errors']})")
    return f"{low} <= {srv['requests']} <= {high}"


def usable(model):
    """Raises NotTestable when srv-MODEL cannot run here (tests/usable.sh)."""
    u = subprocess.run(["tests/usable.sh", f"{BUILD}/srv-{model}"], capture_output=True,
                       text=True)
    if u.returncode == 3:
        raise NotTestable(u.stdout.strip())
    check(u.returncode == 0, u.stdout.strip())


def make_counting_case(model, extra, label):
    def case():
        usable(model)
        p, port, stats = project_server(model)
        try:
            res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "8",
                             "-d", "1", "--warmup", "0.3", "--timeout-ms", "1000"] + extra)
        finally:
            stop_server(p)
        with open(stats) as f:
            srv = json.load(f)
        check(res["requests"] > 0, f"no requests answered by srv-{model}")
        return counting_rule(res, srv)
    case.__name__ = f"counting rule vs srv-{model}{label}"
    return case


def case_sigstop():
    """Open loop at 2000/s; the server is stopped for 1 s mid-run.  The corrected
    latency (from the due time) must show the stall at p99; the uncorrected one
    (from the send) must not."""
    p, port, _ = project_server("epoll")
    tl = os.path.join(TMP, "stop-timeline.csv")

    def stall(_lg):
        time.sleep(1.5)
        p.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        p.send_signal(signal.SIGCONT)

    try:
        res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "20",
                         "--rate", "2000", "-d", "4", "--timeout-ms", "3000",
                         "--timeline", tl], on_start=stall)
    finally:
        stop_server(p)
    cor, unc = res["latency_us"], res["latency_uncorrected_us"]
    check(cor["p99"] >= 500000, f"corrected p99 {cor['p99']} us < 500 ms: stall hidden")
    check(cor["max"] >= 900000, f"corrected max {cor['max']} us < 900 ms")
    check(unc["p99"] < 200000, f"uncorrected p99 {unc['p99']} us >= 200 ms")
    check(res["late"] > 0, "no request counted late")
    with open(tl) as f:
        rows = [l.split(",") for l in f.read().split()[1:]]
    worst = max(int(r[4]) for r in rows if r[4])
    check(worst >= 500000, f"no timeline second shows the stall (worst p99 {worst})")
    return (f"corrected p99 {cor['p99']} us, uncorrected p99 {unc['p99']} us, "
            f"late {res['late']}, worst second p99 {worst} us")


def status_case(code, kind):
    """A server that answers every request with `code`: each answer is one error of
    `kind` (500: status; 503: unavailable, counted apart), none a request."""
    def case():
        p, port = test_server(str(code))
        try:
            res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "10",
                             "-d", "1"])
        finally:
            srv = test_server_stats(p)
        e = res["errors"]
        check(res["requests"] == 0, f"requests {res['requests']} from a server that answers {code}")
        check(e[kind] > 0, f"no {kind} errors")
        check(e[kind] + res["abandoned"] == srv["responses"],
              f"{kind} {e[kind]} + abandoned {res['abandoned']} != server responses "
              f"{srv['responses']}")
        check(errors_total(res) == e[kind], f"other errors: {e}")
        return f"{kind} errors {e[kind]} = server's {code} responses {srv['responses']}"
    case.__name__ = f"case_status_{code}"
    return case


case_status_500 = status_case(500, "status")
case_status_503 = status_case(503, "unavailable")


def case_close_every():
    p, port = test_server("close")
    try:
        res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "10",
                         "-d", "1"])
    finally:
        srv = test_server_stats(p)
    e = res["errors"]
    lost = e["read"] + e["write"] + res["abandoned"]
    check(res["requests"] == 0, f"requests {res['requests']}")
    check(e["read"] > 0, "no read errors")
    check(lost == srv["unanswered"],
          f"read {e['read']} + write {e['write']} + abandoned {res['abandoned']} != "
          f"server's unanswered {srv['unanswered']}")
    check(e["status"] == 0 and e["connect"] == 0 and e["timeout"] == 0, f"errors {e}")
    # Back-off: a server that closes everything is probed, not hammered.
    check(srv["accepted"] < 10 * 1000, f"{srv['accepted']} connections in 1 s: no back-off")
    return f"read errors {e['read']} = server's unanswered {srv['unanswered']}"


def case_echo_corrupt():
    p, port = test_server("echo-corrupt")
    try:
        res, _ = run_ok(["--proto", "echo", "--target", f"127.0.0.1:{port}", "-c", "4",
                         "-d", "1"])
    finally:
        srv = test_server_stats(p)
    e = res["errors"]
    check(e["echo"] > 0, "no echo errors from a corrupting server")
    check(e["echo"] + res["abandoned"] >= srv["corrupted"] - 4 and e["echo"] <= srv["corrupted"],
          f"echo errors {e['echo']} vs {srv['corrupted']} corrupted")
    check(res["requests"] > 0, "no good message (the first of each connection is intact)")
    return f"echo errors {e['echo']}, server corrupted {srv['corrupted']}"


def case_echo_large(server):
    def case():
        if server == "epoll":
            p, port, _ = project_server("epoll", "echo")
        else:
            p, port = test_server("echo")
        try:
            res, secs = run_ok(["--proto", "echo", "--target", f"127.0.0.1:{port}", "-c", "2",
                                "-d", "1", "--size", "10M", "--timeout-ms", "10000"],
                               timeout=40)
        finally:
            stop_server(p)
        check(res["requests"] >= 1, "no 10 MiB message came back")
        check(errors_total(res) == 0, f"errors {res['errors']}")
        return f"{res['requests']} x 10 MiB echoed, {secs:.1f} s"
    case.__name__ = f"echo 10 MiB messages vs {server}"
    return case


def case_dead_server():
    p, port = test_server("ok")
    stop_server(p)  # nothing listens on port now
    res, secs = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "4",
                        "-d", "1", "--timeout-ms", "500"], timeout=20)
    check(res["errors"]["connect"] > 0, "no connect errors")
    check(res["requests"] == 0, "requests from a dead server")
    check(secs < 6, f"took {secs:.1f} s")
    # Back-off: at most ~1 + 1000/1 doubling attempts per connection, not thousands.
    total = res["errors"]["connect"] + res["warmup_errors"]["connect"]
    check(total < 4 * 50, f"{total} connect attempts in 1 s: no back-off")
    return f"connect errors {total}, ended after {secs:.1f} s"


def case_hung_server():
    p, port = test_server("ok")
    p.send_signal(signal.SIGSTOP)  # the kernel still completes connects
    try:
        res, secs = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "4",
                            "-d", "1", "--timeout-ms", "400"], timeout=20)
    finally:
        stop_server(p)
    check(res["requests"] == 0, "requests from a stopped server")
    check(res["errors"]["timeout"] + res["abandoned"] > 0, "nothing timed out or abandoned")
    check(secs < 6, f"took {secs:.1f} s")
    return (f"timeouts {res['errors']['timeout']}, abandoned {res['abandoned']}, "
            f"ended after {secs:.1f} s")


def case_n_requests():
    p, port = test_server("ok")
    try:
        res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "7",
                         "-t", "2", "-n", "5001"])
    finally:
        srv = test_server_stats(p)
    check(res["started"] == 5001, f"started {res['started']} != 5001")
    check(res["requests"] == 5001, f"requests {res['requests']} != 5001")
    check(srv["responses"] == 5001, f"server answered {srv['responses']}")
    return "exactly 5001 requests over 2 threads"


def case_n_stalled():
    p, port = test_server("ok")
    p.send_signal(signal.SIGSTOP)
    try:
        res, secs = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "2",
                            "-n", "1000000", "--timeout-ms", "300"], timeout=20)
    finally:
        stop_server(p)
    check(res["ended_early"] is True, "ended_early not set")
    check(secs < 6, f"took {secs:.1f} s")
    return f"-n against a stopped server ended early after {secs:.1f} s"


def case_open_loop_count():
    p, port = test_server("ok")
    tl = os.path.join(TMP, "open-timeline.csv")
    try:
        res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "10",
                         "--rate", "1000", "-d", "2", "--timeline", tl])
    finally:
        test_server_stats(p)
    due = res["requests"] + errors_total(res) + res["abandoned"] + res["unsent"]
    check(due == 2000, f"requests+errors+abandoned+unsent = {due}, want exactly 2000 due")
    check(res["started"] == res["requests"] + errors_total(res) + res["abandoned"],
          f"started {res['started']}")
    with open(tl) as f:
        lines = f.read().split()
    check(lines[0] == "t_s,requests,errors,p50_us,p99_us", f"CSV header {lines[0]}")
    rows = [l.split(",") for l in lines[1:]]
    check(len(rows) >= 2, f"{len(rows)} timeline rows for 2 s")
    check(sum(int(r[1]) for r in rows) == res["requests"], "timeline requests != requests")
    # Rows count answers by arrival: a preempted loop may shift some across a
    # second's edge, but each second still carries most of its 1000.
    check(all(abs(int(r[1]) - 1000) <= 200 for r in rows[:2]), f"rows {rows}")
    return f"2000 due in 2 s at 1000/s; late {res['late']}; timeline {len(rows)} rows"


def case_mix_pipeline():
    p, port = test_server("ok")
    try:
        res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "4",
                         "-d", "1", "--pipeline", "8", "--mix", "/:3,/bytes?n=100:1"])
    finally:
        srv = test_server_stats(p)
    paths = res["paths"]
    a, b = paths["/"]["requests"], paths["/bytes?n=100"]["requests"]
    check(a + b == res["requests"], f"per-path {a}+{b} != {res['requests']}")
    check(2.6 < a / max(b, 1) < 3.4, f"mix ratio {a}/{b}")
    check(errors_total(res) == 0, f"errors {res['errors']}")
    counting_rule(res, {"requests": srv["responses"]})
    return f"pipeline 8, mix 3:1 -> {a}:{b}"


def case_mix_exact():
    """--mix deals paths from a shuffled deck: every W1+W2 requests of a thread hold
    each path exactly its weight's number of times.  One thread, one connection,
    -n 2000: 1:1 gives 1000 and 1000, 99:1 gives 1980 and 20.  A random draw per
    request would hit both exactly about once in 600 runs."""
    got = []
    for weights, want in [((1, 1), (1000, 1000)), ((99, 1), (1980, 20))]:
        p, port = test_server("ok")
        try:
            res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "1",
                             "-t", "1", "-n", "2000",
                             "--mix", "/:%d,/bytes?n=100:%d" % weights])
        finally:
            srv = test_server_stats(p)
        paths = res["paths"]
        ab = (paths["/"]["requests"], paths["/bytes?n=100"]["requests"])
        check(ab == want, f"mix {weights[0]}:{weights[1]} over 2000 requests gave {ab}, want {want}")
        counting_rule(res, {"requests": srv["responses"]})
        got.append("%d:%d -> %d:%d" % (weights + ab))
    return ", ".join(got)


def case_close_mode():
    p, port = test_server("ok")
    try:
        res, _ = run_ok(["--proto", "http", "--target", f"localhost:{port}", "-c", "4",
                         "-d", "1", "--close"])
    finally:
        srv = test_server_stats(p)
    check(res["requests"] > 100, f"only {res['requests']} requests")
    check(errors_total(res) == 0, f"errors {res['errors']}")
    served = res["requests"] + res["warmup_requests"]
    check(srv["accepted"] >= served, f"{srv['accepted']} connections for {served} requests")
    return f"{res['requests']} requests, {srv['accepted']} connections"


def case_10k():
    p, port = test_server("ok")
    try:
        res, secs = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "10000",
                            "-t", "2", "-d", "1"], timeout=60)
    finally:
        srv = test_server_stats(p)
    check(srv["accepted"] >= 10000, f"server accepted {srv['accepted']}")
    check(errors_total(res) + errors_total(res, "warmup_errors") == 0,
          f"errors {res['errors']} {res['warmup_errors']}")
    check(res["requests"] >= 10000, f"{res['requests']} requests")
    return f"10000 connections, {res['requests']} requests, {secs:.1f} s"


def case_json_schema():
    p, port = test_server("ok")
    try:
        res, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "2",
                         "-d", "0.5", "--rate", "500"])
    finally:
        test_server_stats(p)
    for k in ["schema", "config", "duration_s", "requests", "warmup_requests", "abandoned",
              "late", "rps", "bytes_in", "bytes_out", "errors", "latency_us",
              "latency_uncorrected_us", "paths", "self", "histogram"]:
        check(k in res, f"missing key {k}")
    check(res["schema"] == 1, "schema")
    check(set(res["errors"]) == {"connect", "read", "write", "timeout", "status", "echo",
                                 "unavailable"},
          f"error kinds {list(res['errors'])}")
    for k in ["p50", "p90", "p99", "p999", "p9999", "max", "mean", "stdev"]:
        check(k in res["latency_us"], f"latency_us.{k}")
    for k in ["cpu_user_s", "cpu_sys_s", "cpu_us_per_request", "loop_lag_us",
              "generator_bound"]:
        check(k in res["self"], f"self.{k}")
    check(set(res["self"]["loop_lag_us"]) >= {"p99", "max"}, "loop_lag_us keys")
    cfg = res["config"]
    for k in ["proto", "target", "path", "mix", "conns", "threads", "duration_s", "requests",
              "rate", "pipeline", "size", "close", "warmup_s", "timeout_ms", "json",
              "timeline", "quiet", "allow_remote"]:
        check(k in cfg, f"config.{k}")
    check(cfg["start_at"] is None and res["start_late_ms"] is None, "start_at without --start-at")
    w = res["window_unix"]
    check(abs(w[1] - w[0] - res["duration_s"]) < 1e-3 and abs(w[0] - time.time()) < 60,
          f"window_unix {w} for a {res['duration_s']} s window")
    # Every latency figure comes with its whole histogram, so that the results of
    # several generators can be merged exactly.
    for name, h, n in [("histogram", res["histogram"], res["requests"]),
                       ("histogram_uncorrected", res["histogram_uncorrected"], res["requests"]),
                       ("paths./.histogram", res["paths"]["/"]["histogram"],
                        res["paths"]["/"]["requests"])]:
        check(sum(c for _, c in h) == n, f"{name}: counts add up to {sum(c for _, c in h)}, want {n}")
        check(all(h[i][0] < h[i + 1][0] for i in range(len(h) - 1)), f"{name} not sorted")
    due = res["requests"] + errors_total(res) + res["abandoned"] + res["unsent"]
    check(due == 250, f"{due} requests due at 500/s in 0.5 s, want 250")
    return f"all docs/contract.md keys; {len(h)} histogram buckets"


def case_start_at():
    """Two generators given the same --start-at run the same window: each connects
    first, then waits for the instant, so their windows begin together (within a
    scheduling delay, not a set-up time).  One given an instant already past starts
    at once and says how late it is."""
    p, port = test_server("ok")
    try:
        at = time.time() + 1.0
        args = ["--proto", "http", "--target", f"127.0.0.1:{port}", "-d", "0.3",
                "--warmup", "0.2", "--start-at", "%.6f" % at]
        # Different set-up work (1 and 200 connections) so that, without the wait,
        # the windows would not line up.
        procs = [subprocess.Popen([f"{BUILD}/loadgen", "--quiet", "--json", out, "-c", c] + args,
                                  stderr=subprocess.DEVNULL)
                 for out, c in [(os.path.join(TMP, "start-a.json"), "1"),
                                (os.path.join(TMP, "start-b.json"), "200")]]
        PROCS.extend(procs)
        for q in procs:
            check(q.wait(timeout=30) == 0, "loadgen --start-at failed")
        a, b = (json.load(open(os.path.join(TMP, n))) for n in ("start-a.json", "start-b.json"))
        past, _ = run_ok(["--proto", "http", "--target", f"127.0.0.1:{port}", "-c", "1",
                          "-d", "0.1", "--start-at", "%.6f" % (time.time() - 2)])
    finally:
        test_server_stats(p)
    for r in (a, b):
        check(r["config"]["start_at"] == round(at, 6), f"config.start_at {r['config']['start_at']}")
        check(r["start_late_ms"] == 0, f"start_late_ms {r['start_late_ms']} with time to spare")
        check(abs(r["window_unix"][0] - (at + 0.2)) < 0.1,
              f"window began at {r['window_unix'][0] - at:.4f} s after start_at, want 0.2")
    skew = abs(a["window_unix"][0] - b["window_unix"][0])
    check(skew < 0.1, f"windows {skew * 1e3:.1f} ms apart")
    check(past["start_late_ms"] >= 1900, f"start_late_ms {past['start_late_ms']} for an instant 2 s past")
    return f"windows {skew * 1e6:.0f} us apart; late start reported"


def main():
    global BUILD
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", default="")
    args = ap.parse_args()
    BUILD = args.build

    cases = [case_usage, case_guard, case_file_limit]
    cases += [make_counting_case(m, [], "") for m in C_MODELS]
    cases += [make_counting_case("epoll", ["--pipeline", "4"], " (pipeline 4)"),
              make_counting_case("epoll", ["--rate", "3000"], " (open loop)"),
              make_counting_case("epoll", ["--close"], " (--close)")]
    cases += [case_sigstop, case_status_500, case_status_503, case_close_every, case_echo_corrupt,
              case_echo_large("lg-testsrv"), case_echo_large("epoll"), case_dead_server,
              case_hung_server, case_n_requests, case_n_stalled, case_open_loop_count,
              case_mix_pipeline, case_mix_exact, case_close_mode, case_10k, case_json_schema, case_start_at]
    failed = 0
    ran = 0
    untestable = 0
    for case in cases:
        name = case.__name__.replace("case_", "").replace("_", " ")
        if args.k not in name:
            continue
        ran += 1
        t0 = time.monotonic()
        try:
            note = case()
            print(f"PASS  {name}: {note} [{time.monotonic() - t0:.1f} s]", flush=True)
        except Fail as e:
            failed += 1
            print(f"FAIL  {name}: {e} [{time.monotonic() - t0:.1f} s]", flush=True)
        except NotTestable as e:
            untestable += 1
            print(f"NOT TESTABLE HERE  {name}: {e}", flush=True)
        finally:
            for p in PROCS:
                if p.poll() is None:
                    p.send_signal(signal.SIGCONT)
                    p.kill()
                    p.wait()
            PROCS.clear()
    print(f"loadgen integration: {ran - failed - untestable} passed, {failed} failed, "
          f"{untestable} not testable here")
    return 1 if failed or not ran else 0


if __name__ == "__main__":
    sys.exit(main())
