"""What the side-by-side scripts (wrk-compare, gen-compare) share: a server pinned
to one CPU and wrk pinned to the other.

The harness proper (lib/runner.py) drives our own load generator with captures
aligned to its measure window; these scripts answer narrow questions -- our servers
against nginx under an outside generator, our generator against wrk -- so they stay
this small.  They start servers with the harness's one launcher (lib/server.py) and
read CPU time with its one sampler (lib/capture.py).
"""
import os
import re
import shutil
import subprocess
import tempfile

from . import capture, server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
SERVER_CPU, LOAD_CPU = "0", "1"


class Server(server.Server):
    """A server under test on SERVER_CPU, its stats and logs in a temporary
    directory that stop() removes; .pids() is every process that serves."""

    def __init__(self, model, extra):
        self.tmp = tempfile.mkdtemp(prefix="sidebyside-")
        super().__init__(BUILD, model, "http", SERVER_CPU, os.path.join(self.tmp, model),
                         extra=extra)
        try:
            self.start()
        except server.ServerError:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def pids(self):
        return capture.tree(self.pid)

    def stop(self):
        out = super().stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return out


def cpu(srv):
    """(CPU ns, user ticks, system ticks) of every process of the server: the total
    from the process CPU clocks, the user/system split from /proc's clock ticks."""
    s = capture.snapshot(srv.pid, with_ctx=False)
    return s["cpu_ns"], s["cpu_user_s"], s["cpu_sys_s"]


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
