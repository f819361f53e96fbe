"""Several load generators as one: their shares of a point, one shared start,
and one result merged exactly from theirs.

Each generator gets an even share of the connections, and the rate and the
request count in proportion to its connections (so each connection is offered
the same load as with one generator); a generator with no connection is not
started.  All are given the same `--start-at`, a moment ahead -- time enough for
each to start and connect -- and given to each in its own host's clock; loadgen
connects, then waits for that instant, so the windows coincide (`window_unix`
says how well: the merged result records the skew).

The merged result has the same fields as one loadgen's JSON, so everything
downstream (rows, the server's counting rule) reads it unchanged: counts and
errors are added, histograms added bucket by bucket and their percentiles read
off the sum (lib/hist.py), requests/s is the sum of the generators' rates, and
`generator_bound` is true if any generator was.  Per generator figures stay in
`generators`.
"""
import json
import queue
import threading
import time

from . import hist, loadgen

COUNT_KEYS = ("requests", "warmup_requests", "abandoned", "late", "unsent", "started",
              "warmup_started", "bytes_in", "bytes_out", "reconnects", "connect_local_errors")
# Objects of counts, added key by key.
COUNT_OBJECTS = ("errors", "warmup_errors", "conns_at_window")
# Windows further apart than this share of the window do not measure one load.
MAX_SKEW_SHARE = 0.02


class Share:
    """One generator's part of a point."""

    def __init__(self, index, host, conns, rate=None, requests=None):
        self.index, self.host, self.conns = index, host, conns
        self.rate, self.requests = rate, requests

    def __repr__(self):
        return "Share(%d, %s, c=%d, rate=%s, n=%s)" % (self.index, self.host, self.conns,
                                                     self.rate, self.requests)


def shares(hosts, conns, rate=None, requests=None):
    """Splits a point over generator hosts: connections as evenly as they go,
    rate and request count in proportion."""
    k = min(len(hosts), conns, requests if requests is not None else conns)
    out = []
    n_left = requests
    for i in range(k):
        c = conns // k + (1 if i < conns % k else 0)
        r = rate * c / conns if rate else None
        n = None
        if requests is not None:
            n = requests * c // conns if i < k - 1 else n_left
            n = max(1, n)
            n_left -= n
        out.append(Share(i, hosts[i], c, r, n))
    return out


# How far ahead the shared start is set: every generator must have been started
# and have opened its connections by then.  Starting one takes milliseconds here;
# over ssh a command is a round trip and a remote shell, well under a second on a
# LAN.  loadgen ramps 256 connects at a time: a few thousand connections take
# well under a second.  A generator that is late anyway says so (start_late_ms),
# and its point is invalid (skew_problem).
START_LEAD_S = 0.75
SSH_START_S = 1.0
CONNECTS_PER_S = 2000


def start_lead_s(shares_):
    most = max(s.conns for s in shares_)
    far = any(s.host.kind == "ssh" for s in shares_)
    return START_LEAD_S + most / CONNECTS_PER_S + (SSH_START_S if far else 0.0)


class Generators:
    """The generators of a point, standing in for one Loadgen: next_event() gives
    `measure start` when the first window opens and `measure end` when the last
    one closes (the union of the windows: the server's captures cover every
    measured request), then `eof` when all have exited.

    One generator is run exactly as before: no shared start, its files named
    `<base>.loadgen.json` and `.loadgen.log`.  With several, generator i writes
    `<base>.loadgen-g<i>.json` and `.log`, and merge() writes the merged result
    as `<base>.loadgen.json`."""

    def __init__(self, shares_, argv_for, raw_base, lead_s=None):
        """argv_for(share, json_path_on_its_host, start_at_in_its_clock) -> argv."""
        self.shares = shares_
        self.argv_for = argv_for
        self.raw_base = raw_base
        self.single = len(shares_) == 1
        self.lead_s = 0.0 if self.single else (lead_s if lead_s is not None
                                               else start_lead_s(shares_))
        self.events = queue.Queue()
        self.loadgens = []
        self.start_at = None
        self._seen = {"measure start": 0, "measure end": 0, "eof": 0}
        self._sink = _Counting(self)

    def _base(self, share):
        return self.raw_base + (".loadgen" if self.single else ".loadgen-g%d" % (share.index + 1))

    def json_path(self, share):
        return self._base(share) + ".json"

    def start(self):
        self.start_at = None if self.single else time.time() + self.lead_s
        for sh in self.shares:
            at = None
            if self.start_at is not None:
                at = self.start_at + getattr(sh.host, "clock_offset_s", 0.0)
            lg = loadgen.Loadgen(self.argv_for(sh, sh.host.path(self.json_path(sh)), at),
                                 self._base(sh) + ".log", host=sh.host, events=self._sink)
            self.loadgens.append(lg)
            lg.start()

    def _count(self, ev):
        """An event of one generator; passed on once for all of them."""
        name, t = ev
        self._seen[name] += 1
        if (name == "measure start" and self._seen[name] == 1) or \
                (name != "measure start" and self._seen[name] == len(self.shares)):
            self.events.put((name, t))

    def pids(self):
        """PIDs of the generators running on this machine (local or in a namespace)."""
        return [lg.proc.pid for lg in self.loadgens if lg.proc and lg.host.kind in ("local", "ns")]

    def next_event(self, timeout):
        return loadgen.next_event(self.events, timeout)

    def finish(self, grace=2.0):
        """Waits for every generator; returns 0 if all exited 0, else the first
        other code (None if one had to be killed)."""
        rc_all = 0
        for lg in self.loadgens:
            rc = lg.finish(grace)
            if rc != 0 and rc_all == 0:
                rc_all = rc
        self.loadgens = []
        return rc_all

    def stop(self):
        """On an error or an interrupt: stops whatever still runs."""
        for lg in self.loadgens:
            lg.stop(grace=1.0)
        self.loadgens = []

    def merge(self, out_path):
        """Brings each generator's JSON here and, with several, merges them into
        out_path.  Returns the (merged) result, None if a generator wrote none."""
        parts = []
        for sh in self.shares:
            path = self.json_path(sh)
            sh.host.fetch([path])
            j = loadgen.read_json(path)
            if j is None:
                return None
            parts.append(j)
        if self.single:
            return parts[0]
        offsets = [getattr(sh.host, "clock_offset_s", 0.0) for sh in self.shares]
        m = merge(parts, [sh.host.spec for sh in self.shares], offsets)
        m["start_at"] = self.start_at
        with open(out_path, "w") as f:
            json.dump(m, f, indent=1)
            f.write("\n")
        return m


class _Counting:
    """What each Loadgen puts its events on (the one method of a queue it uses)."""

    def __init__(self, gens):
        self.gens = gens
        self.lock = threading.Lock()

    def put(self, ev):
        with self.lock:
            self.gens._count(ev)


def _sum_counts(parts, key):
    out = {}
    for p in parts:
        for k, v in (p.get(key) or {}).items():
            out[k] = out.get(k, 0) + v
    return out


def merge(parts, hosts=None, clock_offsets=None):
    """One loadgen result from several (see the module's docstring)."""
    if not parts:
        raise ValueError("nothing to merge")
    if len({p.get("mode") for p in parts}) != 1:
        raise ValueError("cannot merge open- and closed-loop results")
    hosts = hosts or ["g%d" % (i + 1) for i in range(len(parts))]
    offsets = clock_offsets or [0.0] * len(parts)
    first = parts[0]
    m = {"schema": first.get("schema", 1)}
    cfg = dict(first.get("config") or {})
    for k in ("conns", "threads"):
        cfg[k] = sum((p.get("config") or {}).get(k) or 0 for p in parts)
    for k in ("rate", "requests"):
        vals = [(p.get("config") or {}).get(k) for p in parts]
        cfg[k] = None if any(v is None for v in vals) else sum(vals)
    cfg["target"] = [(p.get("config") or {}).get("target") for p in parts]
    cfg["json"] = None
    m["config"] = cfg
    m["target_addr"] = [p.get("target_addr") for p in parts]
    m["mode"] = first.get("mode")
    for k in COUNT_KEYS:
        vals = [p.get(k) for p in parts]
        m[k] = None if all(v is None for v in vals) else sum(v or 0 for v in vals)
    for k in COUNT_OBJECTS:
        if any(k in p for p in parts):
            m[k] = _sum_counts(parts, k)
    m["ended_early"] = any(p.get("ended_early") for p in parts)
    # Windows on one clock (ours): each host's edges minus its clock's offset.
    wins = [[w - off for w in p.get("window_unix") or (None, None)] if p.get("window_unix") else None
            for p, off in zip(parts, offsets)]
    known = [w for w in wins if w]
    if known:
        m["window_unix"] = [min(w[0] for w in known), max(w[1] for w in known)]
        m["window_skew_ms"] = round(1e3 * max(max(w[0] for w in known) - min(w[0] for w in known),
                                              max(w[1] for w in known) - min(w[1] for w in known)), 3)
    durs = [p.get("duration_s") or 0 for p in parts]
    m["duration_s"] = max(durs)
    # Each generator's rate over its own window, summed: the load the server saw.
    m["rps"] = sum((p.get("requests") or 0) / d for p, d in zip(parts, durs) if d)
    lates = [p.get("start_late_ms") for p in parts]
    m["start_late_ms"] = None if all(v is None for v in lates) else max(v or 0 for v in lates)

    total = hist.merged((p.get("histogram"), p.get("latency_us")) for p in parts)
    m["latency_us"] = total.summary()
    m["histogram"] = total.buckets()
    if all("histogram_uncorrected" in p for p in parts):
        unc = hist.merged((p["histogram_uncorrected"], p.get("latency_uncorrected_us"))
                          for p in parts)
        m["latency_uncorrected_us"] = unc.summary()
        m["histogram_uncorrected"] = unc.buckets()
    paths = {}
    for name in (first.get("paths") or {}):
        ps = [(p.get("paths") or {}).get(name) for p in parts]
        if any(x is None or "histogram" not in x for x in ps):
            continue       # a loadgen too old to write per-path histograms
        h = hist.merged((x["histogram"], x["latency_us"]) for x in ps)
        paths[name] = {"requests": sum(x["requests"] for x in ps), "latency_us": h.summary(),
                       "histogram": h.buckets()}
    m["paths"] = paths

    selfs = [p.get("self") or {} for p in parts]
    cpu_u = sum(s.get("cpu_user_s") or 0 for s in selfs)
    cpu_s = sum(s.get("cpu_sys_s") or 0 for s in selfs)
    lag = {}
    for k in ("p50", "p99", "max"):
        vals = [(s.get("loop_lag_us") or {}).get(k) for s in selfs]
        vals = [v for v in vals if v is not None]
        lag[k] = max(vals) if vals else None
    m["self"] = {"cpu_user_s": cpu_u, "cpu_sys_s": cpu_s,
                 "cpu_us_per_request": (cpu_u + cpu_s) * 1e6 / m["requests"] if m["requests"] else None,
                 # The loop lag of the worst generator (its own percentiles: a
                 # maximum over generators, not an average of percentiles).
                 "loop_lag_us": lag, "loop_lag_of": "the worst generator",
                 "busy": [b for s in selfs for b in (s.get("busy") or [])],
                 "generator_bound": any(s.get("generator_bound") for s in selfs)}
    m["generators"] = [{
        "host": h, "target": (p.get("config") or {}).get("target"),
        "conns": (p.get("config") or {}).get("conns"), "rate": (p.get("config") or {}).get("rate"),
        "requests": p.get("requests"), "rps": p.get("rps"), "duration_s": p.get("duration_s"),
        "window_unix": w, "start_late_ms": p.get("start_late_ms"),
        "latency_us": p.get("latency_us"), "errors": p.get("errors"),
        "generator_bound": (p.get("self") or {}).get("generator_bound"),
        "cpu_us_per_request": (p.get("self") or {}).get("cpu_us_per_request")}
        for p, h, w in zip(parts, hosts, wins)]
    return m


def skew_problem(m):
    """A sentence if the generators' windows did not coincide, else None."""
    skew = m.get("window_skew_ms")
    d = m.get("duration_s") or 0
    if skew is not None and d and skew / 1e3 > MAX_SKEW_SHARE * d:
        return ("the generators' windows were %.0f ms apart (more than %d%% of the %.1f s window)"
                % (skew, 100 * MAX_SKEW_SHARE, d))
    late = m.get("start_late_ms")
    if late and late / 1e3 > MAX_SKEW_SHARE * d:
        return "a generator began %.0f ms after the shared start (still connecting)" % late
    return None
