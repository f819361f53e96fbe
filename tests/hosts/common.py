"""What the hosts tests share: checks that count, the machine's state before and
after (namespaces, links, processes), and a throwaway sshd.

No timing assertions: a slow machine passes, a broken transport does not.
"""
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "harness"))
BUILD = os.environ.get("LOOPBENCH_BUILD", os.path.join(ROOT, "build"))
from lib import netlab, procs, runlock  # noqa: E402
SSHD = "/usr/sbin/sshd"

failures = []
passed = []


def check(cond, what):
    if cond:
        passed.append(what)
        if os.environ.get("HOSTS_VERBOSE"):
            print("  ok   " + what)
    else:
        print("  FAIL " + what, flush=True)
        failures.append(what)
    return cond


def not_testable(name, why):
    print("%s: not testable here (%s)" % (name, why))
    sys.exit(0)


def finish(name, t0):
    print("%s: %d checks passed, %d failed (%.1f s)"
          % (name, len(passed), len(failures), time.monotonic() - t0))
    sys.exit(1 if failures else 0)


def netns_list():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def root_links():
    """Interface names in this machine's own namespace."""
    r = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    return sorted(m.group(1) for m in re.finditer(r"^\d+: ([^:@]+)", r.stdout, re.M))


class MachineState:
    """The namespaces and links of the machine now, to compare after the test:
    nothing of the project's may remain.  (Other sessions' runs may come and go
    meanwhile: a namespace counts against the test when it is new and its run is
    over.)"""

    def __init__(self):
        self.links = set(root_links())
        self.namespaces = set(netns_list())

    def check_clean(self, what):
        ours = [n for n in netns_list() if n not in self.namespaces and netlab.NS_RE.match(n)
                and not runlock.alive(netlab.NS_RE.match(n).group(1))]
        check(not ours, "%s: no namespace of ours left (%s)" % (what, " ".join(ours) or "none"))
        new = [l for l in root_links() if l not in self.links]
        check(not new, "%s: no new link in the root namespace (%s)" % (what, " ".join(new) or "none"))


def processes_matching(text):
    return [pid for pid, _ in procs.matching(text)]


def wait_gone(pids, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if procs.alive(p)]
        if not pids:
            return []
        time.sleep(0.05)
    return [p for p in pids if procs.alive(p)]


RUN = os.path.join(ROOT, "harness", "run")


def smoke_run(out, host_args, what):
    """harness/run concurrency --smoke on one model with these host options;
    returns (its total rows, its meta.json), or None if it failed."""
    import csv
    import json
    r = subprocess.run([RUN, "concurrency", "--smoke", "--models", "epoll", "--out", out,
                        "--build", BUILD] + host_args, capture_output=True, text=True, timeout=300)
    if not check(r.returncode == 0, "harness/run %s exits 0 (got %s)" % (what, r.returncode)):
        print(r.stdout[-2000:], r.stderr[-2000:])
        return None
    run = os.path.realpath(os.path.join(out, "latest"))
    with open(os.path.join(run, "data.csv")) as f:
        rows = [x for x in csv.DictReader(f) if x["path"] == "*"]
    with open(os.path.join(run, "meta.json")) as f:
        return rows, json.load(f), run


def aligned(m):
    """A merged result's windows coincide -- or, on a machine too busy for that,
    the generator that began late said so (and the point is then invalid): what
    --start-at must guarantee, a delay never passed off as a load."""
    from lib import generators
    if generators.skew_problem(m) is None:
        return True
    late = m.get("start_late_ms") or 0
    return late > 0 and late >= (m.get("window_skew_ms") or 0) * 0.5


def begin(name, why=None):
    """A root-only test starts: says "not testable here" (and exits) when it cannot
    run; else returns (start time, the machine's state to compare at the end)."""
    why = netlab.untestable_reason() or why
    if why:
        not_testable(name, why)
    procs.install_handlers()
    return time.monotonic(), MachineState()


class InNetns:
    """with InNetns(ns): this process (and the children it starts meanwhile) in
    network namespace ns, then back where it was -- before the namespace is
    deleted, which kills whatever is inside.  Use it before any thread starts:
    setns moves the calling thread only."""

    def __init__(self, ns):
        self.ns = ns

    def __enter__(self):
        self._home = "/proc/%d/task/%d/ns/net" % (os.getpid(), threading.get_native_id())
        self._home_fd = os.open(self._home, os.O_RDONLY | os.O_CLOEXEC)
        netlab.enter("/run/netns/" + self.ns)
        return self

    def __exit__(self, *exc):
        netlab.enter("/proc/self/fd/%d" % self._home_fd)
        os.close(self._home_fd)


def free_port_in(ns, addr):
    r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                        "import socket; s = socket.socket(); s.bind((%r, 0)); "
                        "print(s.getsockname()[1])" % addr], capture_output=True, text=True)
    return int(r.stdout.strip())


class Sshd:
    """Debian's sshd in a namespace, on a free port, with a throwaway host key and
    a throwaway user key; started in the foreground and stopped by its PID."""

    def __init__(self, ns, addr, tmp):
        self.ns, self.addr, self.tmp = ns, addr, tmp
        self.proc = None
        self.made_privsep = False

    def start(self):
        from lib import procs
        for k in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "loopbench-test",
                            "-f", os.path.join(self.tmp, k)], check=True)
        os.rename(os.path.join(self.tmp, "user_key.pub"), os.path.join(self.tmp, "authorized_keys"))
        self.port = free_port_in(self.ns, self.addr)
        with open(os.path.join(self.tmp, "host_key.pub")) as f:
            hostkey = f.read().split()
        with open(os.path.join(self.tmp, "known_hosts"), "w") as f:
            f.write("[%s]:%d %s %s\n" % (self.addr, self.port, hostkey[0], hostkey[1]))
        # Debian's service makes sshd's privilege separation directory; with the
        # service off, the test makes it (and removes it again if it did).
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)
            self.made_privsep = True
        self.log_path = os.path.join(self.tmp, "sshd.log")
        log = open(self.log_path, "w")
        # StrictModes off: the keys live under /tmp, which is world-writable.
        self.proc = procs.spawn(
            ["ip", "netns", "exec", self.ns, SSHD, "-D", "-e", "-f", "/dev/null",
             "-o", "ListenAddress=%s" % self.addr, "-o", "Port=%d" % self.port,
             "-o", "HostKey=" + os.path.join(self.tmp, "host_key"),
             "-o", "AuthorizedKeysFile=" + os.path.join(self.tmp, "authorized_keys"),
             "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no",
             "-o", "UsePAM=no", "-o", "StrictModes=no", "-o", "PidFile=none"],
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(self.log_path) as f:
                if "Server listening" in f.read():
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(self.log_path) as f:
            raise RuntimeError("sshd did not start: " + f.read()[-500:])

    def ssh_options(self):
        return ["-i", os.path.join(self.tmp, "user_key"), "-o", "IdentitiesOnly=yes",
                "-o", "UserKnownHostsFile=" + os.path.join(self.tmp, "known_hosts"),
                "-o", "StrictHostKeyChecking=yes"]

    def spec(self):
        return "ssh:root@%s:%d" % (self.addr, self.port)

    def stop(self):
        from lib import procs
        if self.proc is not None:
            procs.stop(self.proc, grace=5.0)
        if self.made_privsep:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
