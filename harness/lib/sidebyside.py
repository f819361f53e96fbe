"""What the side-by-side scripts (wrk-compare, gen-compare) share: a server pinned
to one CPU and wrk pinned to the other, as the foundation issue measures them.

The harness proper (lib/server.py, lib/runner.py) drives our own load generator
with captures aligned to its measure window; these scripts answer the issues'
one-off questions with an outside generator, so they stay this small.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NGINX_CONF = os.path.join(ROOT, "harness", "anchors", "nginx-plaintext.conf")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, LOAD_CPU = "0", "1"


def cpu_ticks(pid):
    """utime and stime of every thread of pid, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server under test, pinned to SERVER_CPU; .pid is the process that serves."""

    def __init__(self, model, extra):
        self.model = model
        self.tmp = tempfile.mkdtemp(prefix="wrkcmp-")
        if model == "nginx":
            self.port = free_port()
            conf = open(os.path.realpath(NGINX_CONF)).read()
            conf = conf.replace("127.0.0.1:18080", f"127.0.0.1:{self.port}")
            path = os.path.join(self.tmp, "nginx.conf")
            open(path, "w").write(conf)
            self.proc = subprocess.Popen(
                ["taskset", "-c", SERVER_CPU, "nginx", "-p", self.tmp, "-c", path],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.pid = self._nginx_worker()
        else:
            binary = os.path.join(ROOT, "build", f"srv-{model}")
            self.proc = subprocess.Popen(
                ["taskset", "-c", SERVER_CPU, binary, "--proto", "http", "--port", "0",
                 "--idle-timeout-ms", "0", "--quiet",
                 "--stats-file", os.path.join(self.tmp, "stats.json")] + extra,
                stdout=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline()
            m = re.match(r"listening on [\d.]+:(\d+)", line)
            if not m:
                self.stop()
                sys.exit(f"wrk-compare: srv-{model} did not start: {line!r}")
            self.port = int(m.group(1))
            self.pid = self.proc.pid

    def _nginx_worker(self):
        for _ in range(100):
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                                 capture_output=True, text=True).stdout.split()
            if out:
                return int(out[0])
            time.sleep(0.05)
        self.stop()
        sys.exit("wrk-compare: nginx worker did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def wrk(port, conns, seconds):
    """Runs wrk pinned to LOAD_CPU; returns (requests, rps, errors text)."""
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=seconds + 60).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    err = re.search(r"Socket errors:.*|Non-2xx.*", out)
    return reqs, rps, err.group(0) if err else ""


def median(xs):
    """The median of the values that are not None, or None."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
