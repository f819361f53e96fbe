"""The server's /proc, read where the server runs.

lib/capture.py is the one sampler of the harness.  When the server runs on this
machine, the harness calls it directly.  When it runs in a network namespace or on
another machine, the same functions run there, in harness/remote/agent.py, which
the harness asks over a pipe: in a namespace, so that /proc/net/sockstat and `ss`
see the server's sockets rather than this namespace's; on an ssh host, because its
/proc is that machine's.  Either way the runner sees the same dicts.
"""
import json

from . import capture, hosts


class SamplerError(RuntimeError):
    pass


class Sampler:
    def __init__(self, host=None):
        self.host = host or hosts.LocalHost()
        self.proc = None

    def open(self):
        if self.host.kind != "local":
            agent = hosts.ROOT + "/harness/remote/agent.py"
            self.proc = self.host.spawn_rpc([self.host.python, self.host.path(agent)])
        return self

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.host.wait(self.proc, 5.0) or self.host.stop(self.proc, grace=1.0)
            self.proc = None

    def _call(self, fn, *args, **kwargs):
        if self.proc is None:
            return getattr(capture, fn)(*args, **kwargs)
        try:
            self.proc.stdin.write((json.dumps({"fn": fn, "args": args, "kwargs": kwargs}) + "\n").encode())
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError) as e:
            raise SamplerError("the /proc sampler on %s is gone (%s)" % (self.host.spec, e)) from None
        if not line:
            err = self.proc.stderr.read().decode(errors="replace").strip()[-300:]
            raise SamplerError("the /proc sampler on %s ended: %s" % (self.host.spec, err or "no answer"))
        res = json.loads(line)
        if "error" in res:
            raise SamplerError("%s on %s: %s" % (fn, self.host.spec, res["error"]))
        return res["ok"]

    def snapshot(self, root, with_ctx=True, others=()):
        s = self._call("snapshot", root, with_ctx=with_ctx, others=list(others))
        if self.proc is not None:
            # JSON turned the per-CPU keys into strings.
            s["cpus"] = {int(k): tuple(v) for k, v in (s.get("cpus") or {}).items()}
            if self.host.machine == hosts.LocalHost().machine:
                # The agent counted its own CPU; the harness also runs on this
                # machine's CPUs, and is no one else either.
                s["own_ns"] += capture.own_cpu_ns()
        return s

    def tree(self, root):
        return self._call("tree", root)

    def fds(self, root):
        return tuple(self._call("fds", root))

    def fd_count(self, root):
        return self._call("fd_count", root)

    def established(self, port):
        return self._call("established", port)

    def hold_cpu_idle_poll(self):
        """Keep the server's machine's CPUs polling when idle for as long as this
        sampler is open (capture.py says why).  On this machine, or in one of its
        namespaces, the harness's own process holds it (same kernel); on an ssh host,
        the agent does."""
        if self.proc is not None and self.host.kind == "ssh":
            return self._call("hold_cpu_idle_poll")
        return capture.hold_cpu_idle_poll()

    def system(self):
        return self._call("system")

    def kernel_stack_per_thread_kb(self):
        return self._call("kernel_stack_per_thread_kb")

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
