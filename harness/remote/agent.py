"""agent.py: the harness's /proc sampler (harness/lib/capture.py), run on the
server's host when that is not this machine's own namespace: in the server's
network namespace (where /proc/net and `ss` see the server's sockets), or on an
ssh host (where its /proc is).

One request a line on stdin, one answer a line on stdout, both JSON:
{"fn": "snapshot", "args": [PID], "kwargs": {...}} -> {"ok": RESULT} or {"error": "..."}.
Only capture's read-only functions can be called, and hold_cpu_idle_poll, whose
request lasts as long as the agent: the run.  It ends at end of input.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import capture  # noqa: E402

CALLABLE = {"snapshot", "tree", "fds", "fd_count", "established", "system", "sockstat",
            "cpu_times", "cpu_ns", "ctx_switches", "steal_sample", "kernel_stack_per_thread_kb",
            "hold_cpu_idle_poll"}


def main():
    for line in sys.stdin:
        try:
            req = json.loads(line)
            fn = req.get("fn")
            if fn not in CALLABLE or not hasattr(capture, fn):
                raise ValueError("no such capture function: %r" % fn)
            res = {"ok": getattr(capture, fn)(*req.get("args", []), **req.get("kwargs", {}))}
        except Exception as e:  # the harness gets the error, the agent carries on
            res = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
