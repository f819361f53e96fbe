"""Delay on the wire: a round-trip time, a loss rate and a bandwidth on the links
between the server's namespace and each client's (lib/netlab.py).

Two mechanisms, one model -- netem's: each direction of a link holds every packet
for half the round-trip time, loses it with the given probability, and if a rate
is set serialises it after the packets ahead of it (a FIFO of at most 1,000
packets):

  netem      `tc qdisc ... netem` on both ends of the link's veth pair, where the
             kernel has it (CONFIG_NET_SCH_NETEM).  The delay is the kernel's own
             work (a timer and a softirq); its CPU cannot be told apart, so a run
             records the qdisc's counters and no CPU per packet.
  delayline  build/delayline (harness/net/delayline.c), where the kernel has no
             netem: a process that replaces the veth pair by two TUN devices and
             holds the packets itself.  It costs CPU, which it measures (per
             packet, per point), and it may be late, which it measures too (how
             long after its due time each packet left).  The harness pins it to a
             CPU of its own where the machine has one -- else to the load
             generator's, never to the server's (pin_cpus below says why).

`mechanism()` says which one this machine offers (`harness/doctor` prints it); a
run records the one it used in meta.json and the report names it.
"""
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass

from . import procs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# netem's default queue (its `limit`); the delay line uses the same.
LIMIT = 1000


class WireError(RuntimeError):
    pass


@dataclass(frozen=True)
class Shaping:
    """What a link does to the packets, in each direction: rtt_ms is the round
    trip (half of it each way), loss_pct the percentage of packets lost, rate_mbit
    the bandwidth (0: none)."""
    rtt_ms: float = 0.0
    loss_pct: float = 0.0
    rate_mbit: float = 0.0

    def describe(self):
        s = "RTT %g ms" % self.rtt_ms
        if self.loss_pct:
            s += ", %g %% loss each way" % self.loss_pct
        if self.rate_mbit:
            s += ", %g Mbit/s each way" % self.rate_mbit
        return s

    def as_dict(self):
        return {"rtt_ms": self.rtt_ms, "loss_pct": self.loss_pct, "rate_mbit": self.rate_mbit}

    def with_rtt(self, rtt_ms):
        return Shaping(rtt_ms, self.loss_pct, self.rate_mbit)


def shaping_from(rtt_ms=None, loss=None, rate_mbit=None):
    """A Shaping from the options (--rtt-ms, --loss PCT, --rate-mbit), or None when
    none is given.  Raises ValueError with the option's name for a bad value."""
    if rtt_ms is None and loss is None and rate_mbit is None:
        return None

    def val(name, v, hi):
        if v is None:
            return 0.0
        try:
            x = float(str(v).rstrip("%"))
        except ValueError:
            raise ValueError("%s %s: not a number" % (name, v)) from None
        if not 0 <= x <= hi or x != x:
            raise ValueError("%s %s: expected a number in [0, %g]" % (name, v, hi))
        return x
    return Shaping(val("--rtt-ms", rtt_ms, 10000), val("--loss", loss, 100),
                   val("--rate-mbit", rate_mbit, 1e6))


@dataclass(frozen=True)
class Spec:
    """A delay to put on a link: the mechanism (mechanism()), the shaping, where
    build/delayline is, and where its messages go (a directory, or None)."""
    mechanism: str
    shaping: Shaping
    build: str
    log_dir: str = None


def make(spec, ns_a, dev_a, ns_b, dev_b):
    """The wire of one link between namespaces: for the delay line its devices,
    for netem the qdiscs on the veth pair's ends (which must exist); started."""
    if spec.mechanism == "delayline":
        log = os.path.join(spec.log_dir, "delayline-%s.log" % dev_b) if spec.log_dir else None
        return DelayLine(spec.build, ns_a, dev_a, ns_b, dev_b, spec.shaping, log).start()
    if spec.mechanism == "netem":
        return Netem(ns_a, dev_a, ns_b, dev_b, spec.shaping).start()
    raise WireError("unknown mechanism %r" % spec.mechanism)


# ---- which mechanism this machine offers -------------------------------------

def _qdisc_works(args):
    """Whether `tc qdisc add dev lo root ARGS` works, tried in a network namespace
    of its own that vanishes with the command (unshare; an unprivileged user gets
    one with a user namespace).  Returns (True/False/None, detail)."""
    if not shutil.which("tc") or not shutil.which("unshare"):
        return None, "tc or unshare is not installed (iproute2, util-linux)"
    for pre in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        try:
            r = subprocess.run(pre + ["tc", "qdisc", "add", "dev", "lo", "root"] + args,
                               capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, str(e)
        err = (r.stderr or r.stdout).strip()
        if err.startswith("Error: "):
            err = "tc: " + err[len("Error: "):].rstrip(".")
        if r.returncode == 0:
            return True, ""
        if "unknown" in err.lower() or "not supported" in err.lower():
            return False, err
        # Not allowed to make a namespace: try the next way, else say so.
        last = err
    return None, "could not try (%s)" % last


_CACHE = {}


def netem_available():
    """(True/False/None, detail): whether the kernel has netem."""
    if "netem" not in _CACHE:
        _CACHE["netem"] = _qdisc_works(["netem", "delay", "1ms"])
    return _CACHE["netem"]


def fq_available():
    if "fq" not in _CACHE:
        _CACHE["fq"] = _qdisc_works(["fq"])
    return _CACHE["fq"]


def delayline_available(build):
    """(True/False, detail): whether build/delayline can run here."""
    b = os.path.join(build, "delayline")
    if not os.access(b, os.X_OK):
        return False, "%s is not built (make)" % b
    if not os.path.exists("/dev/net/tun"):
        return False, "/dev/net/tun is missing (CONFIG_TUN)"
    return True, ""


def mechanism(build, prefer=None):
    """(name, why): the mechanism a run uses here -- netem where the kernel has
    it, else the delay line -- or (None, why not).  prefer: 'netem' or
    'delayline' to insist on one."""
    ok, detail = netem_available()
    if prefer in (None, "auto", "netem") and ok:
        return "netem", "the kernel has netem"
    if prefer == "netem":
        return None, "netem is not available here: %s" % (detail or "unknown")
    dl, why = delayline_available(build)
    if dl:
        return "delayline", ("chosen" if prefer == "delayline" else
                             "the kernel has no netem (%s)" % (detail or "not found"))
    return None, "no netem (%s) and no delay line (%s)" % (detail or "unknown", why)


def pin_cpus(cores, server_cpus, gen_cpus):
    """The CPUs the delay line runs on: one the server and the generator do not
    use, where there is one; else the generator's.  Never the server's: the
    server is what is measured, and the generator measures itself (its busy share
    and loop lag, `generator_bound`), so the wire's competition shows up there as a
    flagged point instead of hiding in the server's figures."""
    from .plan import cpu_list
    used = set(cpu_list(server_cpus)) | set(cpu_list(gen_cpus))
    free = [c for c in range(cores) if c not in used]
    if free:
        return [free[-1]], "a CPU of its own"
    return sorted(set(cpu_list(gen_cpus)) - set(cpu_list(server_cpus))) or cpu_list(gen_cpus), \
        "the load generator's CPU: none is free of the server and the generator"


# ---- the delay line ------------------------------------------------------------

class DelayLine:
    """One build/delayline process: the link between namespaces ns_a and ns_b,
    its devices dev_a (in ns_a) and dev_b (in ns_b).  Driven over its stdin
    (--control): `set` changes the shaping, `stats` returns and restarts its
    counters.  Ends when its stdin closes, and with the harness (PR_SET_PDEATHSIG):
    its devices vanish with it."""
    kind = "delayline"

    def __init__(self, build, ns_a, dev_a, ns_b, dev_b, shaping, log_path=None):
        self.argv = [os.path.join(build, "delayline"), "--control",
                     "--ns-a", ns_a, "--dev-a", dev_a, "--ns-b", ns_b, "--dev-b", dev_b,
                     "--rtt-ms", "%g" % shaping.rtt_ms, "--loss", "%g" % shaping.loss_pct,
                     "--rate-mbit", "%g" % shaping.rate_mbit, "--limit", str(LIMIT)]
        self.ends = {"a": (ns_a, dev_a), "b": (ns_b, dev_b)}
        self.shaping = shaping
        self.log_path = log_path
        self.proc = None
        self.cpus = None
        self.sched = None

    def start(self, timeout=10.0):
        err = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = procs.spawn(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err)
        finally:
            if self.log_path:
                err.close()
        line = self._line(timeout)
        if not line.startswith("ready "):
            self.stop()
            raise WireError("delayline did not start: %s" % (line or self._why()))
        return self

    def _why(self):
        if self.log_path and os.path.exists(self.log_path):
            with open(self.log_path, errors="replace") as f:
                return f.read().strip()[-300:] or "no message"
        return "no message"

    def _line(self, timeout):
        """One line of its stdout within timeout seconds ('' at its end)."""
        fd = self.proc.stdout.fileno()
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            raise WireError("delayline did not answer within %.0f s" % timeout)
        return self.proc.stdout.readline().decode(errors="replace").strip()

    def _ask(self, cmd, timeout=5.0):
        if self.proc is None or self.proc.poll() is not None:
            raise WireError("delayline is not running (%s)" % self._why())
        try:
            self.proc.stdin.write((cmd + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            raise WireError("delayline: %s" % e) from None
        line = self._line(timeout)
        if not line:
            raise WireError("delayline ended: %s" % self._why())
        return line

    def set(self, shaping):
        if shaping == self.shaping:
            return
        a = self._ask("set rtt_ms=%g loss_pct=%g rate_mbit=%g"
                      % (shaping.rtt_ms, shaping.loss_pct, shaping.rate_mbit))
        if a != "ok":
            raise WireError("delayline refused the shaping: %s" % a)
        self.shaping = shaping

    def stats(self):
        """Its counters since the last call (or its start), and they restart."""
        return json.loads(self._ask("stats"))

    def pin(self, cpus):
        """Onto `cpus`, at the lowest real-time priority where allowed: a wire's
        timing must not wait for whatever else runs on its CPU (a packet due
        behind a busy generator or another process's time slice would be late by
        milliseconds), and the kernel's real-time throttling still leaves others
        5 % of the CPU however busy the wire gets."""
        if list(cpus) == self.cpus:
            return
        os.sched_setaffinity(self.proc.pid, set(cpus))
        self.cpus = list(cpus)
        try:
            os.sched_setscheduler(self.proc.pid, os.SCHED_FIFO, os.sched_param(1))
            self.sched = "SCHED_FIFO 1"
        except OSError as e:
            self.sched = "SCHED_OTHER (real-time priority refused: %s)" % e.strerror

    def pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        procs.wait(self.proc, 5.0) is not None or procs.stop(self.proc, grace=2.0)
        self.proc = None


# ---- netem ---------------------------------------------------------------------

def netem_args(shaping):
    """tc's words for one direction of a link (half the round trip)."""
    a = ["netem", "limit", str(LIMIT), "delay", "%gus" % (shaping.rtt_ms * 1000 / 2)]
    if shaping.loss_pct:
        a += ["loss", "%g%%" % shaping.loss_pct]
    if shaping.rate_mbit:
        a += ["rate", "%gkbit" % (shaping.rate_mbit * 1000)]
    return a


class Netem:
    """netem on both ends of an existing veth pair (the lab made it): each end
    delays what it sends.  The kernel does the work; the counters are the qdiscs'."""
    kind = "netem"

    def __init__(self, ns_a, dev_a, ns_b, dev_b, shaping):
        self.ends = {"a": (ns_a, dev_a), "b": (ns_b, dev_b)}
        self.shaping = None
        self.cpus = None
        self.sched = "the kernel's (timers and softirqs)"
        self._base = {}
        self._t = time.monotonic()
        self._pending = shaping

    def start(self):
        self._apply(self._pending)
        self.stats()
        return self

    def _apply(self, shaping):
        for ns, dev in self.ends.values():
            r = subprocess.run(["tc", "-n", ns, "qdisc", "replace", "dev", dev, "root"]
                               + netem_args(shaping), capture_output=True, text=True, timeout=10)
            if r.returncode != 0:
                raise WireError("tc netem on %s in %s: %s" % (dev, ns, r.stderr.strip()))
        self.shaping = shaping

    def set(self, shaping):
        if shaping != self.shaping:
            self._apply(shaping)

    def _counters(self, ns, dev):
        r = subprocess.run(["tc", "-n", ns, "-s", "-j", "qdisc", "show", "dev", dev],
                           capture_output=True, text=True, timeout=10)
        try:
            q = next(x for x in json.loads(r.stdout or "[]") if x.get("kind") == "netem")
        except (StopIteration, ValueError):
            return {}
        return {k: q.get(k) for k in ("packets", "bytes", "drops", "overlimits", "backlog", "qlen")}

    def stats(self):
        """The qdiscs' counters since the last call, in the delay line's shape
        where they mean the same: a->b is what dev_a sends."""
        now = time.monotonic()
        out = {"schema": 2, "mechanism": "netem", "devices": {k: v[1] for k, v in self.ends.items()},
               "wall_s": round(now - self._t, 3), "cpu_s": None, "cpu_ns_per_packet": None,
               "directions": {}}
        out.update(self.shaping.as_dict() if self.shaping else {})
        total = 0
        for side, name in (("a", "a->b"), ("b", "b->a")):
            c = self._counters(*self.ends[side])
            b = self._base.get(side, {})
            d = {k: (c[k] - b.get(k, 0)) if isinstance(c.get(k), int) and k in ("packets", "bytes", "drops", "overlimits")
                 else c.get(k) for k in c}
            out["directions"][name] = {"packets": d.get("packets"), "bytes": d.get("bytes"),
                                       "overflow": d.get("drops"), "queue_now": d.get("qlen"),
                                       "late_us": None}
            total += d.get("packets") or 0
            self._base[side] = c
        out["packets"] = total
        self._t = now
        return out

    def pin(self, cpus):
        """The kernel's timers and softirqs run where they run: nothing to pin."""

    def pids(self):
        return []

    def stop(self):
        for ns, dev in self.ends.values():
            subprocess.run(["tc", "-n", ns, "qdisc", "del", "dev", dev, "root"],
                           capture_output=True, timeout=10)
