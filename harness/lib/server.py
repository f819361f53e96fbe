"""Starting and stopping one server under test: the one launcher of the harness
(harness/run, its calibration, harness/soak, wrk-compare and gen-compare).

Every model is started the same way: pinned with taskset, `--port 0`, the idle
timeout off (a measured load must never be cut by it), the run's calibrated K, and
the stats JSON to a file.  The first stdout line says the port.  nginx, the outside
anchor, runs harness/anchors/nginx-plaintext.conf with its port replaced by a free
one, in a temporary directory.
"""
import json
import os
import queue
import re
import signal
import socket
import tempfile
import threading
import time

from . import hosts, models, procs

LISTEN_RE = re.compile(r"listening on ([0-9.]+):(\d+)")
NGINX_ANCHOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "anchors", "nginx-plaintext.conf")
ANCHOR_LISTEN = "127.0.0.1:18080"
# docs/contract.md: a server drains for at most SERVER_DRAIN_MS (15 s) before it gives up.
STOP_GRACE_S = 20.0


class ServerError(RuntimeError):
    pass


def _tail(path, n=6):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        return " | ".join(lines[-n:])
    except FileNotFoundError:
        return ""


class Server:
    def __init__(self, build, model, proto, cpus, raw_base, k=None, extra=(),
                 wrapper=(), start_timeout=10.0, idle_timeout_ms=0, stop_grace=None,
                 host=None, bind=None):
        """host: where it runs (lib/hosts.py; this machine by default); bind: the
        address it listens on there (127.0.0.1 by default)."""
        self.host = host or hosts.LocalHost()
        self.bind = bind if bind and bind != "127.0.0.1" else None
        self.build, self.model, self.proto = build, model, proto
        self.cpus, self.raw_base, self.k = cpus, raw_base, k
        self.extra, self.wrapper = list(extra), list(wrapper)
        self.start_timeout = start_timeout
        self.idle_timeout_ms = idle_timeout_ms
        self.stop_grace = stop_grace
        self.returncode = None      # after stop(): the exit status (None: killed)
        self.stop_seconds = None
        self.proc = None
        self.port = None
        self.pid = None
        self.stats_path = raw_base + ".stats.json"
        self.log_path = raw_base + ".server.log"
        self._tmp = None
        self.fixed_port = None      # restart(): the port to take again

    def argv(self):
        b = models.binary(self.build, self.model)
        if b is None:
            raise ServerError("no binary for model %s in %s" % (self.model, self.build))
        a = ["taskset", "-c", self.cpus] + self.wrapper + [
            self.host.path(b), "--proto", self.proto, "--port", str(self.fixed_port or 0),
            "--idle-timeout-ms", str(self.idle_timeout_ms),
            "--stats-file", self.host.path(self.stats_path), "--quiet"]
        if self.bind:
            a += ["--host", self.bind]
        if self.k:
            a += ["--cpu-iters-per-us", str(self.k)]
        return a + self.extra

    def start(self):
        if self.model == "nginx":
            return self._start_nginx()
        argv = self.argv()
        self.cmdline = " ".join(argv)
        log = open(self.log_path, "w")
        log.write("# %s\n" % self.cmdline)
        log.flush()
        import subprocess
        self.proc = self.host.spawn(argv, stdout=subprocess.PIPE, stderr=log)
        log.close()
        self.pid = self.proc.pid
        lines = queue.Queue()

        def pump():
            # The first line goes to the harness; the rest to the log, so a chatty
            # server can never block on a full pipe.
            first = True
            with open(self.log_path, "a") as out:
                for raw in self.proc.stdout:
                    line = raw.decode(errors="replace")
                    if first:
                        lines.put(line)
                        first = False
                    out.write(line)
                    out.flush()
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            line = lines.get(timeout=self.start_timeout)
        except queue.Empty:
            line = None
        m = LISTEN_RE.search(line or "")
        if not m:
            rc, _ = self.host.stop(self.proc, grace=2.0)
            why = ("exited with code %s" % rc) if line is None else ("said %r" % line.strip())
            raise ServerError("srv-%s did not start (%s; no 'listening on' line within %.0f s): %s"
                              % (self.model, why, self.start_timeout, _tail(self.log_path)))
        self.port = int(m.group(2))
        # On another machine the PID the harness holds is ssh's: the server's own
        # is the one its /proc is read under.
        self.pid = self.host.pid_of(self.proc)
        return self.port

    def _start_nginx(self):
        if self.host.kind == "ssh":
            raise ServerError("nginx, the outside anchor, runs on this machine or in one of "
                              "its namespaces, not on %s" % self.host.spec)
        self._tmp = tempfile.mkdtemp(prefix="lb-nginx-")
        last = ""
        for _ in range(3):
            # nginx cannot be told "port 0", so take a port the kernel just handed
            # out and give it back; retry if someone else grabs it in between.
            port = _free_port(self.host)
            conf = os.path.join(self._tmp, "nginx.conf")
            with open(NGINX_ANCHOR) as f:
                text = f.read()
            if ANCHOR_LISTEN not in text:
                raise ServerError("%s does not listen on %s" % (NGINX_ANCHOR, ANCHOR_LISTEN))
            with open(conf, "w") as f:
                f.write(text.replace(ANCHOR_LISTEN, "%s:%d" % (self.bind or "127.0.0.1", port)))
            argv = ["taskset", "-c", self.cpus, models.binary(self.build, "nginx"),
                    "-p", self._tmp, "-c", conf, "-e", os.path.join(self._tmp, "error.log")]
            self.cmdline = " ".join(argv)
            log = open(self.log_path, "w")
            log.write("# %s\n" % self.cmdline)
            log.flush()
            self.proc = self.host.spawn(argv, stdout=log, stderr=log)
            log.close()
            self.pid = self.proc.pid
            if _http_ok(port, self.start_timeout, self.proc, self.host):
                self.port = port
                return port
            self.host.stop(self.proc, grace=2.0)
            last = _tail(os.path.join(self._tmp, "error.log")) or _tail(self.log_path)
        raise ServerError("nginx did not start: %s" % last)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def restart(self):
        """Starts the model again on the port it had, after it died: the harness as
        the supervisor of a model that has none (systemd's Restart=, say).  The
        clients reconnect to the same address.  The new process writes its own
        stats and log (the dead one wrote no stats).  Returns its exit status."""
        rc = self.proc.wait()
        self.fixed_port = self.port
        self.stats_path = self.raw_base + ".restarted.stats.json"
        self.log_path = self.raw_base + ".restarted.server.log"
        self.start()
        return rc

    def stop(self):
        """SIGTERM, wait for the drain, read the stats JSON.  Returns (stats or None,
        note): the note says what went wrong (exit code, killed, no stats)."""
        if self.proc is None:
            return None, "not started"
        sig = signal.SIGQUIT if self.model == "nginx" else signal.SIGTERM
        was_alive = self.alive()
        grace = self.stop_grace if self.stop_grace is not None else STOP_GRACE_S
        t0 = time.monotonic()
        rc, killed = self.host.stop(self.proc, sig=sig, grace=grace)
        self.stop_seconds = round(time.monotonic() - t0, 2)
        self.returncode = None if killed else rc
        note = ""
        if not was_alive:
            note = "server had exited (code %s) before the harness stopped it" % rc
        elif killed:
            note = "server did not stop within %.0f s of SIGTERM; killed" % grace
        elif rc not in (0, None):
            note = "server exited with code %s" % rc
        stats = None
        if self.model != "nginx":
            self.host.fetch([self.stats_path])
            try:
                with open(self.stats_path) as f:
                    stats = json.loads(f.read().strip().splitlines()[-1])
            except (FileNotFoundError, ValueError, IndexError):
                note = (note + "; " if note else "") + "no stats JSON"
        if self._tmp:
            import shutil
            for name in ("error.log",):
                p = os.path.join(self._tmp, name)
                if os.path.exists(p):
                    shutil.copy(p, self.raw_base + ".nginx-error.log")
            shutil.rmtree(self._tmp, ignore_errors=True)
        return stats, note


def _http_ok(port, timeout, proc, host=None):
    """True once GET / on 127.0.0.1:port answers 200 -- asked from the server's
    own host (its namespace), where its loopback is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if host is not None and host.kind != "local":
            try:
                if host.run([host.python, "-c", _PROBE, str(port)], timeout=5).returncode == 0:
                    return True
            except procs.ChildError:
                pass
            time.sleep(0.05)
            continue
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# _http_ok's question, asked on another host.
_PROBE = """import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1.0)
s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
"""


def _free_port(host):
    """A TCP port free on the host now (its namespace's ports are its own)."""
    if host.kind == "local":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port
    r = host.run([host.python, "-c", "import socket; s = socket.socket(); s.bind(('', 0)); "
                  "print(s.getsockname()[1])"], timeout=10)
    return int(r.stdout.strip())
