"""A measurement point: one server configuration under one load, one repetition.

Experiments build lists of points; the runner turns each into data.csv rows.  A
point's offered rate may depend on a capacity measured earlier in the same run
(`rate_of=(key, fraction)`), so the plan stays a plain list whose length is known
before anything runs (the progress line needs it).
"""
from dataclasses import dataclass, field
from typing import Optional

from . import palette

# Sweep sizes per mode.  `smoke` is the harness self-test's: tiny and fast.
MODES = ("smoke", "quick", "full")


@dataclass
class Point:
    experiment: str
    model: str
    variant: str = "closed"
    proto: str = "http"
    offload: Optional[int] = None
    reactors: Optional[int] = None
    pool_threads: Optional[int] = None
    conns: int = 1
    idle_conns: int = 0
    pipeline: Optional[int] = None
    size: Optional[int] = None
    rate: Optional[float] = None
    rate_of: Optional[tuple] = None
    path: str = "/"
    mix: Optional[str] = None
    work_path: str = "/"
    work_us: Optional[int] = None
    rep: int = 1
    duration: float = 2.0
    warmup: float = 0.5
    requests: Optional[int] = None
    timeout_ms: int = 2000
    server_cpus: str = "0"
    gen_cpus: str = "1"
    capture: str = "proc"          # proc | syscalls | strace | callgrind
    faults: bool = False
    probe_key: Optional[str] = None
    fault_rate: float = 30.0
    resolved_rate: Optional[float] = field(default=None, repr=False)

    @property
    def series(self):
        return palette.series_label(self.model, self.offload, self.reactors)

    def gen_threads(self):
        n = len(cpu_list(self.gen_cpus))
        return max(1, min(n, self.conns))

    def describe(self):
        s = "%s %s c=%d" % (self.series, self.variant, self.conns)
        if self.idle_conns:
            s += " idle=%d" % self.idle_conns
        if self.pipeline and self.pipeline > 1:
            s += " pipe=%d" % self.pipeline
        if self.size is not None:
            s += " size=%d" % self.size
        if self.work_us is not None:
            s += " %s=%dus" % (self.work_path, self.work_us)
        if self.rate_of:
            s += " rate=%d%%cap" % round(100 * self.rate_of[1])
        elif self.rate:
            s += " rate=%d" % self.rate
        if self.requests is not None:
            s += " n=%d" % self.requests
        return s + " rep %d" % self.rep

    def est_seconds(self):
        """A rough cost, for the ETA before any point has run."""
        if self.capture == "callgrind":
            return 6.0 + (self.requests or 0) / 4000.0
        base = 0.8 + self.warmup + (self.duration if self.requests is None else 1.0)
        return base + self.idle_conns / 4000.0 + self.conns / 4000.0


def cpu_list(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def interleave(reps, sweep, series):
    """(rep, x, s) in the order points run: every series at one x before the next
    x, and the series order rotated each repetition, so a slow drift of the
    machine does not always land on the same model."""
    out = []
    for r in range(1, reps + 1):
        rot = (r - 1) % max(1, len(series))
        order = series[rot:] + series[:rot]
        for x in sweep:
            for s in order:
                out.append((r, x, s))
    return out
