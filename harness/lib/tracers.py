"""perf stat and strace, each switched on only for its own labelled repetition.

perf counts the syscall tracepoint between the load generator's `measure start` and
`measure end` lines: it starts disabled (-D -1) and is enabled and disabled through
a control FIFO, so its own start-up never lands in the window.  When the server has
CPUs of its own and we may (root or perf_event_paranoid <= 0) it counts per CPU
(-a -C), which costs one descriptor per CPU and follows every thread; otherwise per
thread (-p), which opens one descriptor per thread and fails on servers with
thousands of them.  Failures are returned as text for meta.json, never raised.
"""
import os
import select
import signal
import tempfile
import time

from . import procs


def perf_system_wide_allowed():
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return int(f.read()) <= 0
    except (OSError, ValueError):
        return False


class PerfStat:
    def __init__(self, out_path, events, cpus=None, pids=None):
        self.out_path = out_path
        self.events = events
        self.cpus, self.pids = cpus, pids
        self.proc = None
        self.error = None
        self._dir = tempfile.mkdtemp(prefix="lb-perf-")
        self._ctl = os.path.join(self._dir, "ctl")
        self._ack = os.path.join(self._dir, "ack")

    def start(self):
        os.mkfifo(self._ctl)
        os.mkfifo(self._ack)
        # O_RDWR on a FIFO never blocks on open, so a perf that dies at start-up
        # cannot hang the harness here.
        self._ctl_fd = os.open(self._ctl, os.O_RDWR)
        self._ack_fd = os.open(self._ack, os.O_RDWR | os.O_NONBLOCK)
        argv = ["perf", "stat", "-x", ",", "-o", self.out_path, "-D", "-1",
                "--control", "fifo:%s,%s" % (self._ctl, self._ack),
                "-e", ",".join(self.events)]
        if self.cpus is not None:
            argv += ["-a", "-C", self.cpus]
        else:
            argv += ["-p", ",".join(str(p) for p in self.pids)]
        self.argv = argv
        self._err = open(self.out_path + ".stderr", "w")
        try:
            self.proc = procs.spawn(argv, stderr=self._err)
        except procs.ChildError as e:
            self.error = str(e)
        return self.error is None

    def _command(self, word):
        if self.proc is None or self.proc.poll() is not None:
            self.error = self.error or "perf exited early (see %s.stderr)" % self.out_path
            return False
        os.write(self._ctl_fd, (word + "\n").encode())
        deadline = time.monotonic() + 3.0
        buf = b""
        # poll, not select: beside thousands of idle connections the FIFO's
        # descriptor is above FD_SETSIZE, which select() cannot watch.
        p = select.poll()
        p.register(self._ack_fd, select.POLLIN)
        while b"ack" not in buf and time.monotonic() < deadline:
            if p.poll(100):
                try:
                    buf += os.read(self._ack_fd, 64)
                except BlockingIOError:
                    pass
        if b"ack" not in buf:
            self.error = "perf did not acknowledge '%s'" % word
            return False
        return True

    def enable(self):
        return self._command("enable")

    def disable(self):
        return self._command("disable")

    def finish(self):
        """Stops perf and returns {event: count or None}; None means not counted."""
        if self.proc is not None:
            procs.stop(self.proc, signal.SIGINT, grace=5.0)
        self._err.close()
        for fd in (getattr(self, "_ctl_fd", None), getattr(self, "_ack_fd", None)):
            if fd is not None:
                os.close(fd)
        for p in (self._ctl, self._ack):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        os.rmdir(self._dir)
        counts = {e: None for e in self.events}
        try:
            with open(self.out_path) as f:
                for line in f:
                    f_ = line.strip().split(",")
                    if len(f_) >= 3 and f_[2] in counts and f_[0].replace(".", "").isdigit():
                        counts[f_[2]] = float(f_[0])
        except FileNotFoundError:
            self.error = self.error or "perf wrote no output"
        if all(v is None for v in counts.values()) and not self.error:
            self.error = "perf counted nothing (see %s)" % self.out_path
        return counts


class StraceProfile:
    """strace -c -f attached to every process of the server after it started, so
    the summary covers the load (warm-up, window, drain) and not the start-up."""

    def __init__(self, out_path, pids):
        self.out_path = out_path
        self.pids = pids
        self.proc = None
        self.error = None

    def start(self, timeout=10.0):
        argv = ["strace", "-c", "-f", "-o", self.out_path]
        for p in self.pids:
            argv += ["-p", str(p)]
        self._err_path = self.out_path + ".stderr"
        self._err = open(self._err_path, "w")
        try:
            self.proc = procs.spawn(argv, stderr=self._err)
        except procs.ChildError as e:
            self.error = str(e)
            return False
        # strace says "Process N attached" once per process it has seized.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self._err_path) as f:
                if f.read().count("attached") >= len(self.pids):
                    return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.error = "strace did not attach (see %s)" % self._err_path
        return False

    def finish(self):
        """Detaches and returns {syscall: calls} with 'total', or {} on failure."""
        if self.proc is not None:
            procs.stop(self.proc, signal.SIGINT, grace=10.0)
        self._err.close()
        return parse_strace_c(self.out_path)


def parse_strace_c(path):
    calls = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return calls
    for line in lines:
        f = line.split()
        if len(f) < 5 or f[0].startswith(("%", "-")):
            continue
        name = f[-1]
        try:
            n = int(f[3])
        except ValueError:
            continue
        calls[name] = n
    return calls
