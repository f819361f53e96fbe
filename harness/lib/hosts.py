"""Where each role of a run runs, and how the harness reaches it.

A host is named the same way on the command line and in a run configuration
(docs/contract.md, "Hosts"):

  local                  this machine, as always: every address is 127.0.0.1
  ns:NAME                a network namespace that the run makes on this machine
                         (lib/netlab.py): its own addresses, links to the server's
  ssh:[USER@]HOST[:PORT] another machine, driven over OpenSSH (lib/ssh.py)

Every host runs commands the same way -- `host.spawn(argv)`, `host.run(argv)`,
`host.stop(proc)` -- and describes itself the same way, with one script run there
(harness/remote/facts.sh).  lib/placement.py puts a run's roles on hosts.
"""
import ipaddress
import os
import re
import signal
import subprocess
import sys

from . import netlab, procs

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

    @property
    def python(self):
        """The Python that runs the harness's helpers there (agent.py, faultgen.py):
        the harness's own on this machine."""
        return sys.executable

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


def is_loopback(addr):
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr == "localhost"
