"""Hosts on other machines, driven over OpenSSH -- as benchmark rigs drive theirs.

One ssh connection per host for the whole run (a ControlMaster: every command
after the first costs a round trip, not a handshake), non-interactive
(`BatchMode`: a key or an agent, never a password prompt), honouring the user's
~/.ssh/config and any options of the run configuration.

What runs there is copied there, not built there.  A run copies, into a
directory of its own on the host (`$TMPDIR/loopbench-remote.XXXXXX`), the very
binaries this machine built and tested (conformance suite, sanitizers), plus
servers/node and two shell scripts; their SHA-256 on the host goes into
meta.json beside the local ones, so a reader can check that every host ran the
same bytes.  The hosts then need no compiler, no -dev packages, no root and no
checkout, only the shared libraries (libuv, libev, libpq, liburing -- stable
sonames), which `ldd` checks before the run: a missing one stops the run with its
name.  Building there from the same commit would need all of that on every host,
take minutes per host, and measure bytes no test here has seen.

Each command runs under harness/remote/lb-run, which stops it when the harness
says so -- or when the connection ends, however it ends -- and kills its whole
session after a grace period, so a killed harness leaves nothing running there.
Files a command writes (loadgen's JSON, the server's stats) are written into the
host's run directory and fetched back into the local one.  At the end the
directory is removed; one left by a killed run (its owner's lab lock is free) is
removed, with anything still running from it, when the next run opens the host.
"""
import io
import os
import shlex
import shutil
import signal
import subprocess
import tarfile
import time

from . import procs, runlock
from .hosts import ROOT, Host, HostError

REMOTE_PREFIX = "loopbench-remote."
STOP_GRACE_S = 20               # lb-run's grace: a server drains for up to 15 s
CONNECT_TIMEOUT_S = 15
# Remote commands use the login shell; keep to POSIX sh in them.
REMOTE_TMP = '"${TMPDIR:-/tmp}"'


def machine_id():
    """Identifies this machine (the controller) in a remote directory's owner
    file, so a run cleans up only what runs from this machine left."""
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(p) as f:
                v = f.read().strip()
                if v:
                    return v
        except OSError:
            pass
    return os.uname().nodename


class SshHost(Host):
    kind = "ssh"
    explicit = True

    def __init__(self, spec, user=None, host=None, port=None, options=(), address=None):
        super().__init__(spec)
        self.user, self.host, self.port = user, host, port
        self.options = list(options)
        self.address = address or host
        self.name = spec
        self.dir = None             # the run's directory there
        self.run_dir = None         # the local run directory it mirrors
        self.build = None           # the local build it copied
        self._ctl_dir = None
        self._master = None
        self._made_dirs = set()
        self._spawned = 0
        self.clock_offset_s = 0.0   # its clock minus ours
        self.clock_offset_err_s = None

    # ---- ssh itself ----

    def _base(self):
        a = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
             "-o", "ConnectTimeout=%d" % CONNECT_TIMEOUT_S,
             "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=4",
             "-o", "ControlPath=%s" % os.path.join(self._ctl_dir, "cm")]
        if self.port:
            a += ["-p", str(self.port)]
        if self.user:
            a += ["-l", self.user]
        return a + self.options

    def ssh(self, remote_cmd):
        """argv that runs the shell command line remote_cmd there, over the master."""
        return self._base() + ["-o", "ControlMaster=no", self.host, remote_cmd]

    def _sh(self, remote_cmd, timeout=60, input=None, check=True):
        r = procs.run(self.ssh(remote_cmd), timeout, input=input)
        if check and r.returncode != 0:
            raise HostError("%s: `%s` failed (exit %d): %s"
                            % (self.spec, remote_cmd[:120], r.returncode, r.stderr.strip()[-400:]))
        return r

    def open(self, placement):
        """Connects, removes what killed runs from here left there, makes the run's
        directory, copies the build, measures the clock."""
        self.connect(placement.lab_id())
        self.remove_leftovers(placement.lab_alive, placement.say)
        owner = "%s %s\n" % (machine_id(), placement.lab_id())
        r = self._sh("umask 077 && d=$(mktemp -d %s/%sXXXXXX) && printf %%s %s >\"$d/owner\" "
                     "&& echo \"$d\"" % (REMOTE_TMP, REMOTE_PREFIX, shlex.quote(owner)))
        self.dir = r.stdout.strip().splitlines()[-1]
        self.build = placement.build
        self.push_kit(placement)
        self._measure_clock()

    def connect(self, run_id):
        """The master connection every later command goes through."""
        # The control socket's directory, short (a socket path has ~100 bytes)
        # and named after the run, so a killed run's is removed with its lock.
        self._ctl_dir = runlock.private_dir(run_id, "ssh")
        self._master = procs.spawn(self._base() + ["-M", "-N", "-o", "ControlMaster=yes",
                                                   self.host], stderr=subprocess.PIPE)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S + 5
        while True:
            if self._master.poll() is not None:
                err = self._master.stderr.read().decode(errors="replace").strip()
                procs.stop(self._master)
                raise HostError("%s: cannot connect: %s" % (self.spec, err or "ssh exited %d"
                                                            % self._master.returncode))
            r = subprocess.run(self._base() + ["-O", "check", self.host], capture_output=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise HostError("%s: no ssh connection within %d s" % (self.spec, CONNECT_TIMEOUT_S))
            time.sleep(0.05)

    def close(self):
        if self._master is None:
            return
        try:
            if self.dir:
                self._kill_dir(self.dir)
        finally:
            subprocess.run(self._base() + ["-O", "exit", self.host], capture_output=True, timeout=10)
            procs.stop(self._master, grace=2.0)
            self._master = None
            shutil.rmtree(self._ctl_dir, ignore_errors=True)

    def _kill_dir(self, d):
        """Kills what runs from directory d there (its pids/), then removes it."""
        q = shlex.quote(d)
        self._sh("for f in %s/pids/*; do [ -e \"$f\" ] && kill -s KILL -- -\"${f##*/}\" "
                 "\"${f##*/}\" 2>/dev/null; done; rm -rf %s" % (q, q), check=False, timeout=30)

    def remove_leftovers(self, alive, say):
        """Directories of runs from this machine whose harness is gone (alive(run
        ID) says whether it is)."""
        r = self._sh("for d in %s/%s*; do [ -f \"$d/owner\" ] && echo \"$d $(cat \"$d/owner\")\"; "
                     "done; true" % (REMOTE_TMP, REMOTE_PREFIX), check=False)
        me = machine_id()
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == me and not alive(parts[2]):
                self._kill_dir(parts[0])
                say("%s: removed %s, left by a run that was killed" % (self.spec, parts[0]))

    def _measure_clock(self):
        """Its clock against ours, from the quickest of a few round trips over one
        open session (starting a command would add its start-up to one side):
        the generators' shared start time is given to each in its own clock."""
        p = subprocess.Popen(self.ssh("while read -r _; do date +%s.%N; done"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        best = None
        try:
            for _ in range(8):
                t0 = time.time()
                p.stdin.write("\n")
                p.stdin.flush()
                line = p.stdout.readline()
                t1 = time.time()
                try:
                    remote = float(line)
                except ValueError:
                    return
                if best is None or t1 - t0 < best[1] - best[0]:
                    best = (t0, t1, remote)
        finally:
            p.stdin.close()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        t0, t1, remote = best
        self.clock_offset_s = remote - (t0 + t1) / 2
        self.clock_offset_err_s = (t1 - t0) / 2

    # ---- the kit: what runs there ----

    def push_kit(self, placement):
        """Copies the binaries and scripts a run uses, then checks their libraries."""
        build = placement.build
        # The scripts that run there: lb-run, facts.sh, the /proc sampler (agent.py
        # over lib/capture.py) and the fault client.
        files = [(os.path.join(ROOT, "harness", d, n), "harness/%s/%s" % (d, n))
                 for d, n in (("remote", "lb-run"), ("remote", "facts.sh"), ("remote", "agent.py"),
                              ("lib", "capture.py"), ("lib", "faultgen.py"))]
        for name in sorted(os.listdir(build)):
            p = os.path.join(build, name)
            if (name == "loadgen" or name.startswith("srv-")) and os.path.isfile(p) \
                    and os.access(p, os.X_OK) and name != "srv-node":
                files.append((p, "build/" + name))
        node = os.path.join(ROOT, "servers", "node")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for src, arc in files:
                tar.add(src, arcname=arc)
            if os.path.exists(os.path.join(build, "srv-node")):
                tar.add(node, arcname="servers/node")
                # The local wrapper names this machine's paths; this one finds
                # node on the host's PATH and server.js beside the kit.
                wrapper = (b"#!/bin/sh\n# the node model, as copied by harness/lib/ssh.py\n"
                           b"exec node \"$(dirname \"$0\")/../servers/node/server.js\" \"$@\"\n")
                ti = tarfile.TarInfo("build/srv-node")
                ti.size, ti.mode = len(wrapper), 0o755
                tar.addfile(ti, io.BytesIO(wrapper))
        r = subprocess.run(self.ssh("mkdir -p %s/kit %s/run && tar -C %s/kit -xf -"
                                    % ((shlex.quote(self.dir),) * 3)),
                           input=buf.getvalue(), capture_output=True, timeout=300)
        if r.returncode != 0:
            raise HostError("%s: copying the binaries failed: %s"
                            % (self.spec, r.stderr.decode(errors="replace").strip()[-400:]))
        self.kit_files = [arc for _, arc in files]
        missing = self._sh("cd %s/kit && for f in build/*; do ldd \"$f\" 2>/dev/null | "
                           "sed -n \"s|^[[:space:]]*\\([^ ]*\\) => not found|$f: \\1|p\"; done"
                           % shlex.quote(self.dir), check=False).stdout.strip()
        if missing:
            raise HostError("%s lacks shared libraries the binaries need (install the "
                            "matching Debian packages there, e.g. libuv1 libev4 libpq5 "
                            "liburing2):\n%s" % (self.spec, missing))

    # ---- Host interface ----

    def bind_run(self, run_dir):
        self.run_dir = os.path.abspath(run_dir)

    def path(self, local_path):
        p = os.path.abspath(local_path)
        if self.run_dir and (p + "/").startswith(self.run_dir + "/"):
            rel = os.path.relpath(p, self.run_dir)
            d = os.path.dirname(rel)
            if d not in self._made_dirs:
                self._sh("mkdir -p %s" % shlex.quote(os.path.join(self.dir, "run", d)))
                self._made_dirs.add(d)
            return os.path.join(self.dir, "run", rel)
        if self.build and os.path.dirname(p) == self.build:
            return os.path.join(self.dir, "kit", "build", os.path.basename(p))
        if (p + "/").startswith(ROOT + "/"):
            return os.path.join(self.dir, "kit", os.path.relpath(p, ROOT))
        raise HostError("%s: %s is neither in the project nor in the run directory" % (self.spec, p))

    def command(self, argv, tag="-"):
        return self.ssh("sh %s %d %s %s %s" % (
            shlex.quote(os.path.join(self.dir, "kit", "harness", "remote", "lb-run")),
            STOP_GRACE_S, shlex.quote(self.dir), tag, " ".join(shlex.quote(a) for a in argv)))

    def spawn(self, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        self._spawned += 1
        tag = "t%d" % self._spawned
        p = procs.spawn(self.command(argv, tag), stdout=stdout, stderr=stderr, stdin=subprocess.PIPE)
        p.lb_tag = tag
        return p

    def spawn_rpc(self, argv):
        """Without lb-run: the helper's stdin is the pipe, and it ends at its end --
        when the harness closes it or the connection goes."""
        return procs.spawn(self.ssh(" ".join(shlex.quote(a) for a in argv)), stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def pid_of(self, p, timeout=10.0):
        """lb-run writes the PID of what it started to pids/, under the tag."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self._sh("grep -lx %s %s/pids/* 2>/dev/null; true" % (p.lb_tag, shlex.quote(self.dir)),
                         check=False)
            names = r.stdout.split()
            if names:
                return int(os.path.basename(names[0]))
            if p.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    @property
    def machine(self):
        return "ssh:" + self.host

    @property
    def python(self):
        return "python3"

    def push(self, local_paths):
        """Copies files of the run directory to the same places in its copy there."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for lp in local_paths:
                rel = os.path.relpath(os.path.abspath(lp), self.run_dir)
                if rel.startswith(".."):
                    raise HostError("%s: %s is not in the run directory" % (self.spec, lp))
                tar.add(lp, arcname=rel)
        r = subprocess.run(self.ssh("mkdir -p %s/run && tar -C %s/run -xf -"
                                    % (shlex.quote(self.dir), shlex.quote(self.dir))),
                           input=buf.getvalue(), capture_output=True, timeout=120)
        if r.returncode != 0:
            raise HostError("%s: copying %s failed" % (self.spec, ", ".join(local_paths)))

    def run(self, argv, timeout=60, input=None):
        return procs.run(self.ssh(" ".join(shlex.quote(a) for a in argv)), timeout, input=input)

    def stop(self, p, sig=signal.SIGTERM, grace=5.0):
        """Tells lb-run which signal to send (a line on its stdin), closes that
        stdin, and waits; lb-run kills the command's session after its grace."""
        if p.poll() is None and p.stdin and not p.stdin.closed:
            try:
                p.stdin.write(("%s\n" % signal.Signals(sig).name[3:]).encode())
                p.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        rc = procs.wait(p, grace)
        if rc is not None:
            return rc, False
        rc, _ = procs.stop(p, grace=2.0)
        return rc, True

    def wait(self, p, timeout):
        return procs.wait(p, timeout)

    def fetch(self, local_paths):
        """Copies files a command wrote there into the same places here."""
        rels = []
        for lp in local_paths:
            p = os.path.abspath(lp)
            if self.run_dir and (p + "/").startswith(self.run_dir + "/"):
                rels.append(os.path.relpath(p, self.run_dir))
        if not rels:
            return []
        r = subprocess.run(self.ssh("cd %s/run && tar -cf - %s 2>/dev/null; true"
                                    % (shlex.quote(self.dir), " ".join(shlex.quote(x) for x in rels))),
                           capture_output=True, timeout=120)
        got = []
        try:
            with tarfile.open(fileobj=io.BytesIO(r.stdout), mode="r:") as tar:
                for m in tar.getmembers():
                    if m.name not in rels or not m.isfile():
                        continue       # only what was asked for, nothing else
                    dst = os.path.join(self.run_dir, m.name)
                    with tar.extractfile(m) as src, open(dst, "wb") as out:
                        shutil.copyfileobj(src, out)
                    got.append(dst)
        except tarfile.ReadError:
            pass
        return got

    def facts(self, files=()):
        f = super().facts(files)
        f["clock_offset_ms"] = round(self.clock_offset_s * 1e3, 3)
        f["clock_offset_err_ms"] = (round(self.clock_offset_err_s * 1e3, 3)
                                    if self.clock_offset_err_s is not None else None)
        f["remote_dir"] = self.dir
        f["address"] = self.address
        return f
