"""Where each role of a run runs, and how the harness reaches it.

A host is named the same way on the command line and in a run configuration
(docs/contract.md, "Hosts"):

  local                  this machine, as always: every address is 127.0.0.1
  ns:NAME                a network namespace that the run makes on this machine
                         (lib/netlab.py): its own addresses, links to the server's
  ssh:[USER@]HOST[:PORT] another machine, driven over OpenSSH (lib/ssh.py)

Every host runs commands the same way -- `host.spawn(argv)`, `host.run(argv)`,
`host.stop(proc)` -- and describes itself the same way, with one script run there
(harness/remote/facts.sh).  A Placement puts a run's roles (the server, one or
more load generators, the database) on hosts, says which address each role uses
to reach another, and refuses any address that is not loopback, not in the run's
own namespaces and not a host the user named.
"""
import ipaddress
import os
import re
import signal
import subprocess
import time

from . import netlab, procs, runlock
from .plan import cpu_list

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FACTS_SH = os.path.join(ROOT, "harness", "remote", "facts.sh")
SSH_RE = re.compile(r"^ssh:(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$")


class HostError(RuntimeError):
    pass


class Refused(HostError):
    """An address the run may not send traffic to."""


class Host:
    kind = None
    explicit = False        # named by the user (its address may be anywhere)

    def __init__(self, spec):
        self.spec = spec
        self.facts_cache = None

    def __repr__(self):
        return self.spec

    # ---- life cycle (a Placement calls these) ----

    def open(self, placement):
        pass

    def close(self):
        pass

    # ---- running commands ----

    def command(self, argv):
        """The local command line that runs argv on this host."""
        return list(argv)

    def spawn(self, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        return procs.spawn(self.command(argv), stdout=stdout, stderr=stderr)

    def spawn_rpc(self, argv):
        """A helper that talks over its stdin and stdout and ends at the end of its
        input (harness/remote/agent.py)."""
        return procs.spawn(self.command(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)

    def pid_of(self, p):
        """The PID, on this host, of a process spawned there."""
        return p.pid

    @property
    def machine(self):
        """Which machine the host is: namespaces share this one's cores."""
        return "this machine"

    def run(self, argv, timeout=60, input=None):
        return procs.run(self.command(argv), timeout, input=input)

    def stop(self, p, sig=signal.SIGTERM, grace=5.0):
        """Asks the command to stop with sig, kills it after grace seconds.
        Returns (exit code, True if it had to be killed)."""
        return procs.stop(p, sig=sig, grace=grace)

    def wait(self, p, timeout):
        return procs.wait(p, timeout)

    # ---- files: the run's files are where the harness writes them ----

    def path(self, local_path):
        """Where this host finds a file of the project or of the run (the build,
        servers/node, an output file), given its path here."""
        return local_path

    def fetch(self, local_paths):
        """Brings the files a command wrote on this host into the run directory."""

    def push(self, local_paths):
        """Makes files of the run directory (a configuration) visible to this host."""

    # ---- facts ----

    def facts(self, files=()):
        """Machine facts (harness/remote/facts.sh) as a dict; `files` get their
        SHA-256 under "sha256"."""
        r = self.run(["sh", self.path(FACTS_SH)] + [self.path(f) for f in files], timeout=60)
        if r.returncode != 0:
            raise HostError("%s: facts.sh failed: %s" % (self.spec, r.stderr.strip()[-300:]))
        f = parse_facts(r.stdout, {self.path(x): os.path.basename(x) for x in files})
        f["host"] = self.spec
        f["kind"] = self.kind
        return f


class LocalHost(Host):
    kind = "local"

    def __init__(self, spec="local"):
        super().__init__(spec)
        self.name = "local"


class NetnsHost(Host):
    """A network namespace of the run's lab.  Only the network is apart: the
    processes, files and /proc are this machine's."""
    kind = "ns"

    def __init__(self, spec, name):
        super().__init__(spec)
        self.name = name
        self.lab = None

    def open(self, placement):
        self.lab = placement.lab
        self.ns = self.lab.add(self.name)

    def command(self, argv):
        if self.lab is None:
            raise HostError("%s is not open" % self.spec)
        # `ip netns exec` execs the command: the PID the harness holds is its.
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def facts(self, files=()):
        f = super().facts(files)
        f["namespace"] = self.ns
        return f


def run_files(build):
    """The files whose SHA-256 every host's facts record: the binaries, and for the
    node model its server.js (srv-node is a wrapper written for each host)."""
    out = [os.path.join(build, n) for n in sorted(os.listdir(build))
           if n == "loadgen" or (n.startswith("srv-") and n != "srv-node")]
    if os.path.exists(os.path.join(build, "srv-node")):
        out.append(os.path.join(ROOT, "servers", "node", "server.js"))
    return out


def parse_facts(text, names=None):
    """facts.sh's KEY=VALUE lines (and `sha256 DIGEST PATH`) as a dict."""
    out = {"sha256": {}}
    for line in text.splitlines():
        if line.startswith("sha256 "):
            parts = line.split(" ", 2)
            if len(parts) == 3:
                path = parts[2]
                out["sha256"][(names or {}).get(path, path)] = parts[1] or None
            continue
        k, sep, v = line.partition("=")
        if not sep:
            continue
        v = v.strip()
        if re.fullmatch(r"-?\d+", v):
            v = int(v)
        elif v == "":
            v = None
        out[k] = v
    if isinstance(out.get("loadavg"), str):
        try:
            out["loadavg"] = [float(x) for x in out["loadavg"].split()]
        except ValueError:
            pass
    return out


def parse(spec, ssh_options=(), address=None):
    """A Host from its name: local, ns:NAME or ssh:[USER@]HOST[:PORT]."""
    spec = (spec or "local").strip()
    if spec == "local":
        return LocalHost()
    if spec.startswith("ns:"):
        name = spec[3:]
        if not netlab.NAME_RE.match(name):
            raise HostError("%s: a namespace host is named by 1 to 12 lower-case letters and "
                            "digits, starting with a letter" % spec)
        return NetnsHost(spec, name)
    m = SSH_RE.match(spec)
    if m:
        from .ssh import SshHost
        port = int(m.group(3)) if m.group(3) else None
        if port is not None and not 0 < port < 65536:
            raise HostError("%s: port out of range" % spec)
        return SshHost(spec, user=m.group(1), host=m.group(2).strip("[]"), port=port,
                       options=list(ssh_options), address=address)
    raise HostError("%r is not a host: use local, ns:NAME or ssh:[USER@]HOST[:PORT]" % spec)


def read_config(path):
    """A run configuration file (docs/contract.md, "Hosts"), as Placement.parse's
    keyword arguments."""
    import tomllib
    try:
        with open(path, "rb") as f:
            c = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise HostError("%s: %s" % (path, e)) from None
    known = {"hosts", "ssh", "address"}
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
    return {"server": h.get("server", "local"), "clients": clients, "db": h.get("db"),
            "ssh_options": [os.path.expanduser(o) for o in opts],
            "addresses": dict(c.get("address", {}))}


def from_args(server=None, clients=None, db=None, config=None):
    """A Placement from --server-host, --client-hosts (a comma-separated list),
    --db-host and --config; the command line wins over the file."""
    kw = read_config(config) if config else {"server": "local", "clients": ["local"], "db": None}
    if server:
        kw["server"] = server
    if clients:
        kw["clients"] = [c for c in clients.split(",") if c.strip()] if isinstance(clients, str) else clients
    if db:
        kw["db"] = db
    return Placement.parse(**kw)


def is_loopback(addr):
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr == "localhost"


class Placement:
    """The roles of a run on their hosts.

    Which combinations make sense: the namespaces of a lab are joined to the
    server's namespace only (nothing of a lab is in this machine's own network
    namespace), and `local` is reachable from this machine only.  So a run is
    either all `ns:` (one lab), or its server is `local` with local generators, or
    its server is on an ssh host, reached from generators on this machine or on
    other ssh hosts at the address the user named.
    """

    def __init__(self, server, clients, db=None):
        self.server = server
        self.clients = list(clients)
        self.db = db
        self.lab = None
        self.lock = None
        self.build = None
        self._say = None
        self._opened = []
        self._check_combination()

    @classmethod
    def parse(cls, server="local", clients=("local",), db=None, ssh_options=(), addresses=None):
        """From host names (addresses: {host name: address others use for it})."""
        addresses = addresses or {}
        made = {}

        def get(spec):
            spec = (spec or "local").strip()
            if spec not in made:
                made[spec] = parse(spec, ssh_options, addresses.get(spec))
            return made[spec]
        return cls(get(server), [get(c) for c in clients or ["local"]],
                   get(db) if db else None)

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
                for h in self.hosts()[1:]:
                    self.lab.link(self.server.name, h.name)
        except BaseException:
            self.close()
            raise
        return self

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
             "db": self.db.spec if self.db else None}
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
