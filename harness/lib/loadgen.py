"""Driving build/loadgen: its command line from a point, and its stderr lines
(`measure start` / `measure end`) turned into events the runner aligns captures to.
"""
import json
import os
import queue
import subprocess
import threading
import time

from . import hosts


def argv(build, point, port, json_path, target="127.0.0.1", start_at=None, binary=None):
    """loadgen's command line for a point (or one generator's share of it: a
    point with its connections, rate and count).  `target` is the server's address
    as this generator reaches it; anything but loopback has passed the run's guard
    (lib/placement.py) before it comes here, so loadgen's own guard is lifted for it."""
    a = ["taskset", "-c", point.gen_cpus, binary or os.path.join(build, "loadgen"),
         "--proto", point.proto, "--target", "%s:%d" % (target, port),
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
        r = point.resolved_rate
        a += ["--rate", "%d" % round(r) if abs(r - round(r)) < 5e-4 else "%.3f" % r]
    if point.pipeline and point.pipeline > 1:
        a += ["--pipeline", str(point.pipeline)]
    if point.size is not None:
        a += ["--size", str(point.size)]
    if not hosts.is_loopback(target):
        a += ["--allow-remote"]
    if start_at is not None:
        a += ["--start-at", "%.6f" % start_at]
    return a


def waiting_argv(build, point, port, json_path, target="127.0.0.1", binary=None):
    """The generator of a point's waiting connections (Point.wait_conns): closed
    loop on wait_path, from before the point's generator starts (WAIT_WARMUP_S)
    until WAIT_MARGIN_S after its window ends."""
    from .plan import WAIT_MARGIN_S, WAIT_WARMUP_S
    # At the lowest priority on the generator's core: only the point's own
    # generator is timed, and its answers must not queue behind this one's.
    a = ["taskset", "-c", point.gen_cpus, "nice", "-n", "19",
         binary or os.path.join(build, "loadgen"),
         "--proto", "http", "--target", "%s:%d" % (target, port),
         "-c", str(point.wait_conns), "-t", "1", "--path", point.wait_path,
         "--timeout-ms", str(point.timeout_ms), "--json", json_path,
         "--warmup", "%g" % WAIT_WARMUP_S,
         "-d", "%g" % ((point.warmup or 0) + point.duration + WAIT_MARGIN_S)]
    if not hosts.is_loopback(target):
        a += ["--allow-remote"]
    return a


class Loadgen:
    """One loadgen process on a host.  Its `measure start`/`measure end` lines
    and its end become events (name, monotonic time) on `events` (its own queue,
    or one shared by several generators)."""

    def __init__(self, argv_, log_path, host=None, events=None):
        self.argv = argv_
        self.log_path = log_path
        self.host = host or hosts.LocalHost()
        self.events = events if events is not None else queue.Queue()
        self.proc = None

    def start(self):
        self._log = open(self.log_path, "w")
        self._log.write("# %s%s\n" % ("" if self.host.kind == "local" else self.host.spec + ": ",
                                       " ".join(self.argv)))
        self._log.flush()
        self.proc = self.host.spawn(self.argv, stderr=subprocess.PIPE, stdout=self._log)

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
        return next_event(self.events, timeout)

    def finish(self, grace=2.0):
        """Returns the exit code (None if it had to be killed)."""
        rc = self.host.wait(self.proc, grace)
        if rc is None:
            self.host.stop(self.proc, grace=2.0)
        self._thread.join(timeout=2.0)
        self._log.close()
        return rc

    def stop(self, grace=1.0):
        self.host.stop(self.proc, grace=grace)
        self._thread.join(timeout=2.0)
        if not self._log.closed:
            self._log.close()


def next_event(events, timeout):
    """The next (name, time) on a queue of events, or None after timeout seconds."""
    try:
        return events.get(timeout=timeout)
    except queue.Empty:
        return None


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None
