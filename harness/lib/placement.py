"""A run's roles on their hosts: the server, one or more load generators, the
database (lib/hosts.py says what a host is).

A Placement opens the hosts (the namespaces and their links, the ssh
connections), says which address each role uses to reach another, and refuses
any address that is not loopback, not in the run's own namespaces and not a host
the user named.  It is made from the command line (--server-host, --client-hosts,
--db-host) and a run configuration file (--config, docs/contract.md "Hosts").
"""
import os
import time

from . import netlab, runlock, wire
from .hosts import ROOT, HostError, Refused, is_loopback, parse
from .plan import cpu_list


def read_config(path):
    """A run configuration file (docs/contract.md, "Hosts"), as Placement.parse's
    keyword arguments."""
    import tomllib
    try:
        with open(path, "rb") as f:
            c = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise HostError("%s: %s" % (path, e)) from None
    known = {"hosts", "ssh", "address", "network"}
    extra = set(c) - known
    if extra:
        raise HostError("%s: unknown section %s (known: %s)" % (path, ", ".join(sorted(extra)),
                                                               ", ".join(sorted(known))))
    h = c.get("hosts", {})
    bad = set(h) - {"server", "clients", "db"}
    if bad:
        raise HostError("%s: [hosts] knows server, clients and db, not %s" % (path, ", ".join(sorted(bad))))
    clients = h.get("clients", ["local"])
    if isinstance(clients, str):
        clients = [clients]
    opts = c.get("ssh", {}).get("options", [])
    if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
        raise HostError("%s: [ssh] options is a list of strings" % path)
    net = c.get("network", {})
    bad = set(net) - {"rtt_ms", "loss", "rate_mbit", "mechanism"}
    if bad:
        raise HostError("%s: [network] knows rtt_ms, loss, rate_mbit and mechanism, not %s"
                        % (path, ", ".join(sorted(bad))))
    if net.get("mechanism", "auto") not in ("auto", "netem", "delayline"):
        raise HostError("%s: [network] mechanism is auto, netem or delayline" % path)
    return {"server": h.get("server", "local"), "clients": clients, "db": h.get("db"),
            "ssh_options": [os.path.expanduser(o) for o in opts],
            "addresses": dict(c.get("address", {})),
            "network": {k: net.get(k) for k in ("rtt_ms", "loss", "rate_mbit")},
            "mechanism": net.get("mechanism", "auto")}


def from_args(server=None, clients=None, db=None, config=None, rtt_ms=None, loss=None,
              rate_mbit=None):
    """A Placement from --server-host, --client-hosts (a comma-separated list),
    --db-host, --rtt-ms, --loss, --rate-mbit and --config; the command line wins
    over the file."""
    kw = read_config(config) if config else {"server": "local", "clients": ["local"], "db": None}
    if server:
        kw["server"] = server
    if clients:
        kw["clients"] = [c for c in clients.split(",") if c.strip()] if isinstance(clients, str) else clients
    if db:
        kw["db"] = db
    net = kw.pop("network", None) or {}
    for k, v in (("rtt_ms", rtt_ms), ("loss", loss), ("rate_mbit", rate_mbit)):
        if v is not None:
            net[k] = v
    try:
        kw["shaping"] = wire.shaping_from(net.get("rtt_ms"), net.get("loss"), net.get("rate_mbit"))
    except ValueError as e:
        raise HostError(str(e)) from None
    return Placement.parse(**kw)


class Placement:
    """The roles of a run on their hosts.

    Which combinations make sense: the namespaces of a lab are joined to the
    server's namespace only (nothing of a lab is in this machine's own network
    namespace), and `local` is reachable from this machine only.  So a run is
    either all `ns:` (one lab), or its server is `local` with local generators, or
    its server is on an ssh host, reached from generators on this machine or on
    other ssh hosts at the address the user named.
    """

    def __init__(self, server, clients, db=None, shaping=None, mechanism="auto"):
        self.server = server
        self.clients = list(clients)
        self.db = db
        # The run's delay on the client links (a wire.Shaping, or None), the
        # mechanism asked for, the one chosen (a wire.Spec once the wires exist) and
        # the shaping they carry now (an experiment may change it point by point).
        self.shaping = shaping
        self.mechanism = mechanism or "auto"
        self.wire_spec = None
        self.wire_why = None
        self.shaping_now = None
        self._rewired = False
        self.wire_error = None
        self.run_dir = None
        self.lab = None
        self.lock = None
        self.build = None
        self._say = None
        self._opened = []
        self._check_combination()

    @classmethod
    def parse(cls, server="local", clients=("local",), db=None, ssh_options=(), addresses=None,
              shaping=None, mechanism="auto"):
        """From host names (addresses: {host name: address others use for it});
        shaping: the delay on the client links (a wire.Shaping, or None)."""
        addresses = addresses or {}
        made = {}

        def get(spec):
            spec = (spec or "local").strip()
            if spec not in made:
                made[spec] = parse(spec, ssh_options, addresses.get(spec))
            return made[spec]
        return cls(get(server), [get(c) for c in clients or ["local"]],
                   get(db) if db else None, shaping, mechanism)

    def hosts(self):
        """Every distinct host, the server first."""
        out = []
        for h in [self.server] + self.clients + ([self.db] if self.db else []):
            if h not in out:
                out.append(h)
        return out

    def is_local(self):
        return all(h.kind == "local" for h in self.hosts())

    def _check_combination(self):
        kinds = {h.kind for h in self.hosts()}
        if "ns" in kinds and kinds != {"ns"}:
            raise HostError("namespace hosts (ns:NAME) are reachable only from each other: "
                            "put every role in a namespace, or none (%s)"
                            % ", ".join(h.spec for h in self.hosts()))
        if self.shaping is not None and kinds != {"ns"}:
            raise HostError("--rtt-ms, --loss and --rate-mbit put a delay on the links between "
                            "network namespaces: run every role in one (for instance "
                            "--server-host ns:srv --client-hosts ns:c1)%s"
                            % ("; between ssh hosts the network is real: shape it there"
                               if "ssh" in kinds else ""))
        if self.server.kind == "local":
            far = [h.spec for h in self.hosts() if h.kind == "ssh"]
            if far:
                raise HostError("%s cannot reach a server on `local` (no address for this "
                                "machine is known): name the server's machine as "
                                "ssh:USER@HOST, even if it is this one" % ", ".join(far))

    # ---- life cycle ----

    def open(self, build=None, run_dir=None, say=None):
        """Takes the run's lock, makes the lab (namespaces and links) and opens the
        ssh connections (copying `build` there).  On failure, whatever was made
        is removed again."""
        self.build = os.path.abspath(build or os.path.join(ROOT, "build"))
        self.run_dir = run_dir
        self._say = say
        if self.is_local():
            return self
        try:
            self.lock = runlock.RunLock().acquire()
            runlock.remove_stale()
            if any(h.kind == "ns" for h in self.hosts()):
                self.lab = netlab.Lab(self.lock.id).start(say=say)
            for h in self.hosts():
                h.open(self)
                self._opened.append(h)
                if run_dir is not None and hasattr(h, "bind_run"):
                    h.bind_run(run_dir)
            if self.lab:
                spec = self._wire_spec(self.shaping) if self.shaping is not None else None
                for h in self.hosts()[1:]:
                    self.lab.link(self.server.name, h.name,
                                  wire=spec if h in self.clients else None)
                if spec is not None:
                    self.wire_spec, self.shaping_now = spec, self.shaping
        except BaseException:
            self.close()
            raise
        return self

    # ---- the wires on the client links ----

    def _wire_spec(self, shaping):
        name, why = wire.mechanism(self.build or os.path.join(ROOT, "build"), self.mechanism)
        if name is None:
            raise HostError("no way to delay packets here: %s" % why)
        self.wire_why = why
        return wire.Spec(name, shaping, self.build, self.run_dir)

    def _client_names(self):
        return list(dict.fromkeys(c.name for c in self.clients))

    def wires(self):
        """{client host name: its link's wire}, empty when the links have none."""
        if not self.lab:
            return {}
        out = {}
        for c in self._client_names():
            w = self.lab.wire(self.server.name, c)
            if w is not None:
                out[c] = w
        return out

    def wire_unavailable(self):
        """Why this run's client links cannot carry a delay (None: they can)."""
        if self.wires():
            return None
        if self.wire_error:
            return self.wire_error
        if self.lab is None:
            return ("the delay is added to the links between network namespaces, and this "
                    "run's roles are not in namespaces (%s)" % ", ".join(h.spec for h in self.hosts()))
        name, why = wire.mechanism(self.build, self.mechanism)
        return None if name else why

    def use_wires(self, shaping):
        """Puts a wire on every client link that has none (made again: connections
        over it end), carrying `shaping`; drop_wires undoes it."""
        if self.wires():
            self.set_shaping(shaping)
            return
        spec = self._wire_spec(shaping)
        for c in self._client_names():
            self.lab.rewire(self.server.name, c, spec)
        self.wire_spec, self.shaping_now, self._rewired = spec, shaping, True

    def drop_wires(self):
        """The client links as they were before use_wires."""
        if self._rewired and self.lab:
            for c in self._client_names():
                self.lab.rewire(self.server.name, c, None)
            self.wire_spec = self.shaping_now = None
            self._rewired = False
        elif self.wires() and self.shaping is not None:
            self.set_shaping(self.shaping)

    def set_shaping(self, shaping):
        for w in self.wires().values():
            w.set(shaping)
        self.shaping_now = shaping

    def wire_begin(self, cpus):
        """Before a point: the wires on `cpus`, their counters restarted."""
        for w in self.wires().values():
            w.pin(cpus)
            w.stats()

    def wire_end(self):
        """After a point: {client host name: the wire's counters over the point}."""
        return {c: w.stats() for c, w in self.wires().items()}

    def wire_pids(self):
        return [p for w in self.wires().values() for p in w.pids()]

    def network(self):
        """What meta.json records of the wires (None without any)."""
        ws = self.wires()
        if not ws:
            return None
        return {"mechanism": self.wire_spec.mechanism, "why": self.wire_why,
                "scheduling": sorted({w.sched for w in ws.values() if w.sched}),
                "cpus": sorted({c for w in ws.values() for c in (w.cpus or [])}),
                "shaping": self.shaping_now.as_dict() if self.shaping_now else None,
                "links": ["%s - %s" % (self.server.spec, "ns:" + c) for c in ws],
                "queue_limit_packets": wire.LIMIT}

    def close(self):
        """Stops what still runs, removes the namespaces and remote directories.
        Safe to call twice, and from a signal's unwinding."""
        for h in reversed(self._opened):
            try:
                h.close()
            except Exception as e:  # the others must still be closed
                self.say("closing %s: %s" % (h.spec, e))
        self._opened = []
        if self.lab:
            self.lab.close()
            self.lab = None
        if self.lock:
            self.lock.release()
            self.lock = None
            runlock.remove_stale()

    def say(self, msg):
        (self._say or (lambda m: print("hosts: " + m, flush=True)))(msg)

    def lab_id(self):
        return self.lock.id

    @staticmethod
    def lab_alive(run_id):
        return runlock.alive(run_id)

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    # ---- addresses ----

    def allowed(self):
        """Addresses this run may send traffic to, besides loopback."""
        ok = set(self.lab.addresses()) if self.lab else set()
        for h in self.hosts():
            if h.explicit:
                ok.add(h.address)
        return ok

    def check(self, addr):
        """The guard: returns addr if the run may send traffic there."""
        if is_loopback(addr) or addr in self.allowed():
            return addr
        raise Refused("refusing %s: not loopback, not an address of this run's namespaces, and "
                      "not a host named on the command line or in the run configuration" % addr)

    def address_of(self, host, seen_from):
        """The address `seen_from` uses to reach `host`, checked by the guard."""
        if host is seen_from:
            addr = "127.0.0.1"
        elif host.kind == "ns":
            addr = self.lab.address(host.name, seen_from.name)
        elif host.kind == "ssh":
            addr = host.address
        else:
            addr = "127.0.0.1"
        return self.check(addr)

    def target(self, client):
        """Where load generator host `client` sends its load."""
        return self.address_of(self.server, client)

    def db_address(self):
        return self.address_of(self.db, self.server) if self.db else None

    def server_bind(self):
        """The address the server listens on: loopback when everything is local;
        in a namespace or on its own machine, every address it has there."""
        return "127.0.0.1" if self.server.kind == "local" else "0.0.0.0"

    def generators_apart(self):
        """True when no load generator shares the server's machine (its cores)."""
        return all(c.machine != self.server.machine for c in self.clients)

    def place(self, p, facts):
        """A point's CPU sets on its hosts.  While a generator shares the server's
        machine, the experiment's sets stand (it chose them for one machine).  With
        every generator on a machine of its own, each generator may use all the
        cores of its host (the fewest among them, one thread per core), and the
        server keeps the set the experiment gave it -- which its host must have."""
        cores = (facts.get(self.server.spec) or {}).get("cores")
        if cores and max(cpu_list(p.server_cpus)) >= cores:
            raise HostError("%s: the server's CPUs %s do not exist on %s (%d cores)"
                            % (p.experiment, p.server_cpus, self.server.spec, cores))
        if self.generators_apart():
            n = min((facts.get(c.spec) or {}).get("cores") or 1 for c in self.clients)
            p.gen_cpus = "0-%d" % (n - 1) if n > 1 else "0"
        return p

    # ---- what meta.json records ----

    def describe(self):
        d = {"server": self.server.spec, "clients": [c.spec for c in self.clients],
             "db": self.db.spec if self.db else None,
             "shaping": self.shaping.as_dict() if self.shaping else None}
        if self.lab:
            d["lab"] = self.lab.describe()
        return d

    def facts(self, files_for=None):
        """{host name: facts} for every distinct host; files_for(host) lists the
        files whose SHA-256 to record there."""
        out = {}
        for h in self.hosts():
            t0 = time.time()
            f = h.facts(files_for(h) if files_for else ())
            f["collected_unix"] = round(t0, 3)
            out[h.spec] = f
        return out
