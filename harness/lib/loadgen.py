"""Driving build/loadgen: its command line from a point, and its stderr lines
(`measure start` / `measure end`) turned into events the runner aligns captures to.
"""
import json
import os
import queue
import subprocess
import threading
import time

from . import procs


def argv(build, point, port, json_path):
    a = ["taskset", "-c", point.gen_cpus, os.path.join(build, "loadgen"),
         "--proto", point.proto, "--target", "127.0.0.1:%d" % port,
         "-c", str(point.conns), "-t", str(point.gen_threads()),
         "--timeout-ms", str(point.timeout_ms), "--json", json_path]
    if point.proto == "http":
        if point.mix:
            a += ["--mix", point.mix]
        else:
            a += ["--path", point.path]
    if point.requests is not None:
        a += ["-n", str(point.requests)]
    else:
        a += ["-d", "%g" % point.duration]
    if point.warmup:
        a += ["--warmup", "%g" % point.warmup]
    if point.resolved_rate:
        a += ["--rate", "%d" % round(point.resolved_rate)]
    if point.pipeline and point.pipeline > 1:
        a += ["--pipeline", str(point.pipeline)]
    if point.size is not None:
        a += ["--size", str(point.size)]
    return a


def waiting_argv(build, point, port, json_path):
    """The generator of a point's waiting connections (Point.wait_conns): closed
    loop on wait_path, from before the point's generator starts (WAIT_WARMUP_S)
    until WAIT_MARGIN_S after its window ends."""
    from .plan import WAIT_MARGIN_S, WAIT_WARMUP_S
    # At the lowest priority on the generator's core: only the point's own
    # generator is timed, and its answers must not queue behind this one's.
    return ["taskset", "-c", point.gen_cpus, "nice", "-n", "19", os.path.join(build, "loadgen"),
            "--proto", "http", "--target", "127.0.0.1:%d" % port,
            "-c", str(point.wait_conns), "-t", "1", "--path", point.wait_path,
            "--timeout-ms", str(point.timeout_ms), "--json", json_path,
            "--warmup", "%g" % WAIT_WARMUP_S,
            "-d", "%g" % ((point.warmup or 0) + point.duration + WAIT_MARGIN_S)]


class Loadgen:
    def __init__(self, argv_, log_path):
        self.argv = argv_
        self.log_path = log_path
        self.events = queue.Queue()
        self.proc = None

    def start(self):
        self._log = open(self.log_path, "w")
        self._log.write("# %s\n" % " ".join(self.argv))
        self._log.flush()
        self.proc = procs.spawn(self.argv, stderr=subprocess.PIPE, stdout=self._log)

        def pump():
            for raw in self.proc.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                t = time.monotonic()
                self._log.write(line + "\n")
                self._log.flush()
                if line.strip() in ("measure start", "measure end"):
                    self.events.put((line.strip(), t))
            self.events.put(("eof", time.monotonic()))

        self._thread = threading.Thread(target=pump, daemon=True)
        self._thread.start()

    def next_event(self, timeout):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def finish(self, grace=2.0):
        """Returns the exit code (None if it had to be killed)."""
        rc = procs.wait(self.proc, grace)
        if rc is None:
            rc, _ = procs.stop(self.proc, grace=2.0)
            rc = None
        self._thread.join(timeout=2.0)
        self._log.close()
        return rc


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None
