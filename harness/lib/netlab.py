"""The namespace lab: the hosts of a run as network namespaces on this machine.

A host `ns:NAME` is the network namespace `loopbench-<lab>-NAME`, where <lab> is
the harness's PID.  The lab is a star around the server's namespace, like a
switch with each machine on its own port, but without the switch: every other
host (each load generator, the database) gets a veth pair of its own to the
server's namespace, a point-to-point link with a /24 of its own, 10.99.K.1 on the
server's side and 10.99.K.2 on the other.

Why no bridge: everything here runs on the machine's own cores, the plumbing of
the network included.  A packet through a bridge crosses two veth pairs and the
bridge's forwarding, all charged to the CPU that sent it -- the server's, for
every response.  A direct pair is one crossing -- like loopback, a packet handed
to the receiving side's backlog once -- so a lab run differs from a local run by
the placement of the roles, not by the cost of a software switch that a real
switch would not charge to the hosts.  Each
client's link is a pair of its own, so anything done to one client's path (a
delay, say) is done to that link alone: a link may carry a wire (lib/wire.py),
netem on the pair's ends or the delay line's two TUN devices in the pair's place,
with the same names and addresses.

Nothing of a lab is in the root namespace: no address, no route, no link (both
ends of each pair are made inside their namespaces), so `ip link` and the
machine's routing are untouched, and deleting the namespaces deletes the links.
(The delay line is a process of this machine; its devices are inside the
namespaces and vanish with it, and it dies with the harness.)

Leftovers: a lab's namespaces carry its run's ID, and the run holds its lock
(lib/runlock.py) for as long as it lives.  A `loopbench-*` namespace whose run
is gone belongs to a run that was killed: `Lab.start()` (so every run) and
`harness/hosts clean` delete it, after killing whatever still runs inside.
Labs of runs still going are left alone.
"""
import os
import re
import signal
import subprocess
import time

from . import runlock
from . import wire as _wire

PREFIX = "loopbench-"
SUBNET = "10.99"
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
NS_RE = re.compile(r"^%s([0-9a-z]+)-([a-z][a-z0-9]*)$" % PREFIX)
# Per-namespace settings that a tuned machine may have changed in its root
# namespace: a namespace starts from the kernel's defaults, so they are copied,
# and a lab host accepts and connects like the machine does.
SYSCTLS = ["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.ip_local_port_range",
           "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_syncookies"]


class LabError(RuntimeError):
    pass


def untestable_reason():
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    if not _which("ip"):
        return "iproute2's `ip` is not installed (make deps installs it)"
    return None


def _which(prog):
    from shutil import which
    return which(prog)


def ip(*args, check=True, timeout=20):
    """Runs `ip ARGS`; raises LabError with ip's message when it fails."""
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise LabError("ip %s: %s" % (" ".join(args), (r.stderr or r.stdout).strip()))
    return r


def namespaces():
    """Every network namespace name on the machine."""
    r = ip("netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def kill_inside(ns):
    """SIGKILLs every process still in namespace ns (a run's own children only:
    nothing else enters its namespaces)."""
    r = ip("netns", "pids", ns, check=False)
    pids = [int(p) for p in r.stdout.split() if p.isdigit()]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5.0
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if os.path.exists("/proc/%d" % p)]
        time.sleep(0.02)


def delete(ns):
    kill_inside(ns)
    ip("netns", "del", ns, check=False)


def leftovers():
    """Namespaces of labs whose run is gone."""
    out = []
    for ns in namespaces():
        m = NS_RE.match(ns)
        if m and not runlock.alive(m.group(1)):
            out.append(ns)
    return out


def remove_leftovers(say=None):
    """Deletes the namespaces of killed runs."""
    gone = leftovers()
    for ns in gone:
        delete(ns)
        if say:
            say("removed the namespace %s, left by a run that was killed" % ns)
    return gone


CLONE_NEWNET = 0x40000000


def enter(path):
    """Moves the calling thread into the network namespace at path (a
    /run/netns/NAME, or a /proc/PID/ns/net to go back)."""
    import ctypes
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def call_in(ns, fn, *args):
    """fn(*args) in a thread of this process that has joined network namespace
    ns, so that the sockets fn makes belong to ns (they keep working from any
    thread afterwards).  setns moves only the calling thread, which then ends:
    the rest of the harness never leaves its namespace.  Returns fn's result."""
    import threading
    out = {}

    def run():
        try:
            enter("/run/netns/" + ns)
            out["r"] = fn(*args)
        except BaseException as e:  # handed to the caller
            out["e"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out.get("r")


class Lab:
    """The namespaces of one run and the links between them.

        lab = Lab(lock.id).start()
        lab.add("srv"); lab.add("c1")
        lab.link("srv", "c1")               # -> ("10.99.1.1", "10.99.1.2")
        lab.address("srv", seen_from="c1")  # -> "10.99.1.1"
        ...
        lab.close()
    """

    def __init__(self, run_id):
        """run_id: the ID of the run's lock (lib/runlock.py), which the caller
        holds for as long as the lab lives."""
        self.id = str(run_id)
        self.hosts = []
        self.links = {}          # frozenset({a, b}) -> {a: addr, b: addr, "k": K}
        self.started = False

    def ns(self, name):
        return "%s%s-%s" % (PREFIX, self.id, name)

    def start(self, say=None):
        why = untestable_reason()
        if why:
            raise LabError(why)
        if not runlock.alive(self.id):
            raise LabError("the run's lock %s is not held" % self.id)
        remove_leftovers(say)
        self.started = True
        return self

    def add(self, name):
        """Makes the namespace of host `name`, loopback up, the machine's settings."""
        if not NAME_RE.match(name):
            raise LabError("ns:%s: a namespace host is named by 1 to 12 lower-case letters "
                           "and digits, starting with a letter" % name)
        if not self.started:
            raise LabError("Lab.start() first")
        if name in self.hosts:
            return self.ns(name)
        ns = self.ns(name)
        ip("netns", "add", ns)
        self.hosts.append(name)
        ip("-n", ns, "link", "set", "lo", "up")
        self._copy_sysctls(ns)
        return ns

    def _copy_sysctls(self, ns):
        for key in SYSCTLS:
            path = "/proc/sys/" + key.replace(".", "/")
            try:
                with open(path) as f:
                    value = f.read().strip()
            except OSError:
                continue
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "%s=%s" % (key, value)],
                           capture_output=True, timeout=10)

    def link(self, a, b, mtu=None, wire=None):
        """A link between hosts a and b, a's end named `to-b` and b's `to-a`: a veth
        pair, or with `wire` (a lib/wire.py Spec) a link with a delay -- netem on the
        veth pair, or the delay line's two devices in its place.  Returns (a's
        address, b's address)."""
        key = frozenset((a, b))
        if key in self.links:
            return self.links[key][a], self.links[key][b]
        if a == b:
            raise LabError("a link joins two different hosts (%s)" % a)
        k = len(self.links) + 1
        if k > 254:
            raise LabError("at most 254 links in a lab")
        self.links[key] = {a: "%s.%d.1" % (SUBNET, k), b: "%s.%d.2" % (SUBNET, k), "k": k,
                           "ends": (a, b), "mtu": mtu, "wire": None}
        self._make(self.links[key], wire)
        return self.links[key][a], self.links[key][b]

    def _make(self, link, wire):
        a, b = link["ends"]
        na, nb = self.ns(a), self.ns(b)
        if wire is not None and wire.mechanism == "delayline":
            # The delay line's devices take the veth pair's place and names.
            link["wire"] = _wire.make(wire, na, "to-" + b, nb, "to-" + a)
        else:
            ip("-n", na, "link", "add", "to-" + b, "type", "veth", "peer", "name", "to-" + a,
               "netns", nb)
        for ns, dev, addr in ((na, "to-" + b, link[a]), (nb, "to-" + a, link[b])):
            if link["mtu"]:
                ip("-n", ns, "link", "set", dev, "mtu", str(link["mtu"]))
            ip("-n", ns, "addr", "add", addr + "/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
        if wire is not None and wire.mechanism != "delayline":
            link["wire"] = _wire.make(wire, na, "to-" + b, nb, "to-" + a)

    def rewire(self, a, b, wire):
        """Makes the link between a and b again, with the same names and addresses:
        with a delay (wire, a lib/wire.py Spec) or as a plain veth pair (None).
        Connections over it do not survive."""
        link = self.links.get(frozenset((a, b)))
        if link is None:
            raise LabError("no link between %s and %s" % (a, b))
        self._unmake(link)
        self._make(link, wire)

    def _unmake(self, link):
        a, b = link["ends"]
        if link["wire"] is not None:
            link["wire"].stop()
        if link["wire"] is None or link["wire"].kind != "delayline":
            ip("-n", self.ns(a), "link", "del", "to-" + b, check=False)
        link["wire"] = None

    def wire(self, a, b):
        """The wire on the link between a and b (lib/wire.py), or None."""
        link = self.links.get(frozenset((a, b)))
        return link["wire"] if link else None

    def address(self, host, seen_from):
        """Where `seen_from` reaches `host`: loopback inside one namespace, else the
        address of host's end of their link."""
        if host == seen_from:
            return "127.0.0.1"
        link = self.links.get(frozenset((host, seen_from)))
        if link is None:
            raise LabError("no link between %s and %s" % (host, seen_from))
        return link[host]

    def addresses(self):
        """Every address of the lab (the guard lets traffic go to these only)."""
        return {addr for link in self.links.values() for h in link["ends"] for addr in [link[h]]}

    def describe(self):
        return {"namespaces": {h: self.ns(h) for h in self.hosts},
                "links": [{"hosts": sorted(l["ends"]),
                           "addresses": {h: l[h] for h in l["ends"]},
                           "kind": _kind(l["wire"]),
                           "shaping": l["wire"].shaping.as_dict() if l["wire"] else None}
                          for l in self.links.values()]}

    def close(self):
        """Stops the wires, deletes every namespace with whatever still runs inside."""
        for link in self.links.values():
            if link["wire"] is not None:
                try:
                    link["wire"].stop()
                except Exception:  # the namespaces must go regardless
                    pass
        for name in reversed(self.hosts):
            delete(self.ns(name))
        self.hosts = []
        self.links = {}
        self.started = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _kind(w):
    if w is None:
        return "veth"
    return "delayline (TUN)" if w.kind == "delayline" else "veth + netem"
