"""A measurement point: one server configuration under one load, one repetition.

Experiments build lists of points; the runner turns each into data.csv rows.  A
point's offered rate may depend on a capacity measured earlier in the same run
(`rate_of=(key, fraction)`), so the plan stays a plain list whose length is known
before anything runs (the progress line needs it).
"""
import math
from dataclasses import dataclass, field
from typing import Optional

from . import palette

MODES = ("smoke", "quick", "full")

# What a point costs beyond its warm-up and window (seconds), measured on the 2-core
# machine in a quick run of every experiment: start and stop of the server, the
# generator's set-up and drain, the /proc snapshots (about 0.1 s; node starts its
# runtime first).  The constants are rounded up from the measured costs: est_seconds()
# is what the time budget (lib/budget.py) adds up, so it must not flatter, and
# `harness/run` records each experiment's real time beside its estimate in meta.json.
POINT_OVERHEAD_S = 0.15
START_EXTRA_S = {"node": 0.15, "nginx": 0.05}
CONNECTS_PER_S = 10000.0      # the generator's connect ramp (1,000 connections: +0.05 s)
CONNECTS_IN_FLIGHT = 256      # loadgen's connects at once (docs/loadgen.md, Phases)
IDLE_OPENS_PER_S = 3000.0     # the harness's idle connections, as threads and node take them
# Waiting connections beside the load (Point.wait_conns): their own generator starts
# first, connects, and warms up this long before the point's generator starts; it
# runs this much past the point's window, then drains (at most one wait).
WAIT_WARMUP_S = 0.3
WAIT_MARGIN_S = 0.2
CALLGRIND_START_S = 0.25      # valgrind's start-up, beyond the point's overhead
CALLGRIND_REQS_PER_S = 10000.0
# A crash point: the crash client, and a server the harness starts again when it
# died with no supervisor (node starts its runtime first).
CRASH_EXTRA_S = {"node": 0.6}
CRASH_EXTRA_DEFAULT_S = 0.25


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
    # Connections beside the load, each keeping one request to wait_path
    # outstanding (a second load generator, closed loop): experiment `wait`.
    wait_conns: int = 0
    wait_path: Optional[str] = None
    # What the generator's drain after the window costs: a point whose requests
    # wait declares it (the wait, or the timeout of a client the server starves).
    drain_s: float = 0.0
    # The generator's loop lag (p99, µs) this point tolerates before it counts as
    # generator-bound; None: loadgen's own rule (1 ms).  Only a point whose measure
    # cannot be moved by more says so (experiment wait: requests that wait 100 ms).
    gen_lag_tolerance_us: Optional[int] = None
    # The same for the generator of the waiting connections (wait_conns), whose
    # requests wait wait_path's time: None, loadgen's own rule.
    wait_lag_tolerance_us: Optional[int] = None
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
    crash: bool = False            # one GET /fail?kind=crash a third into the window
    enable_fail: bool = False      # the server runs with --enable-fail
    probe_key: Optional[str] = None
    fault_rate: float = 30.0
    rtt_ms: Optional[float] = None   # a round trip of the point's own on the client links
    db_conns: Optional[int] = None   # the server gets the run's database: --db URI --db-conns N
    seq: int = 0                   # position in its experiment's run order (1-based)
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
        if self.wait_conns:
            s += " waiting=%d" % self.wait_conns
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
        if self.rtt_ms is not None:
            s += " rtt=%gms" % self.rtt_ms
        if self.db_conns is not None:
            s += " %s db-conns=%d" % (self.path, self.db_conns)
        return s + " rep %d" % self.rep

    def est_seconds(self):
        """What this point costs, for the ETA and the time budget."""
        start = POINT_OVERHEAD_S + START_EXTRA_S.get(self.model, 0.0)
        if self.capture == "callgrind":
            return start + CALLGRIND_START_S + (self.requests or 0) / CALLGRIND_REQS_PER_S
        t = start + (self.warmup or 0) + (self.duration if self.requests is None else 1.0)
        t += self.drain_s
        t += self.conns / CONNECTS_PER_S + self.idle_conns / IDLE_OPENS_PER_S
        if self.wait_conns:
            t += self.wait_conns / CONNECTS_PER_S + WAIT_WARMUP_S + WAIT_MARGIN_S
        if self.rtt_ms:
            # Each batch of the generator's connects waits a round trip, and so does
            # the drain's last answer.
            t += (math.ceil(self.conns / CONNECTS_IN_FLIGHT) + 1) * self.rtt_ms / 1000.0
        if self.capture == "strace":
            t += 1.0            # attaching to every thread, and detaching
        elif self.capture == "syscalls" or self.faults:
            t += 0.1            # perf's start and stop; the fault client's
        if self.crash:
            t += CRASH_EXTRA_S.get(self.model, CRASH_EXTRA_DEFAULT_S)
        return t


def cpu_list(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def interleave(reps, sweep, series, rng=None, first=()):
    """(rep, x, s) in the order points run.  In each repetition: the x-values in
    `first` (probes that later points depend on) in their order, then the rest of
    the sweep shuffled anew (rng), so a slow drift of the machine never lines up
    with the variable under test; every series at one x before the next x, the
    series order rotated each repetition so the drift does not always land on the
    same model.  Without rng the sweep keeps its order (tests)."""
    out = []
    head = [x for x in sweep if x in first]
    rest = [x for x in sweep if x not in first]
    for r in range(1, reps + 1):
        rot = (r - 1) % max(1, len(series))
        order = series[rot:] + series[:rot]
        xs = list(rest)
        if rng is not None:
            rng.shuffle(xs)
        for x in head + xs:
            for s in order:
                out.append((r, x, s))
    return out
