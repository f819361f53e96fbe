"""meta.json: what a reader needs to judge (or reproduce) a run."""
import datetime
import json
import os
import platform
import subprocess
import sys

from . import probes

SCHEMA = 1


def _git(root, *args):
    try:
        r = subprocess.run(["git", "-C", root] + list(args), capture_output=True,
                           text=True, timeout=10)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def compiler(root):
    flags = None
    try:
        r = subprocess.run(["make", "-s", "--no-print-directory", "-C", root, "harness-print-cflags"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            flags = r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    ver = None
    try:
        ver = subprocess.run(["cc", "--version"], capture_output=True, text=True,
                             timeout=10).stdout.splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        pass
    return {"cc": ver, "cflags": flags}


def collect(root, build, mode, argv):
    perf = probes.perf_events()
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "schema": SCHEMA,
        "argv": argv,
        "mode": mode,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": {"commit": _git(root, "rev-parse", "HEAD"),
                "dirty": bool(status) if status is not None else None,
                "describe": _git(root, "describe", "--always", "--dirty")},
        "host": platform.node(),
        "kernel": {"release": platform.release(), "version": platform.version()},
        "cpu": probes.cpu(),
        "steal_pct_start": probes.steal(),
        "loadavg_start": probes.loadavg(),
        "cpu_busy_start": probes.cpu_busy(),
        "thp": probes.thp(),
        "limits": probes.limits(),
        "compiler": compiler(root),
        "python": sys.version.split()[0],
        "tools": probes.tool_versions(),
        "perf_events": perf,
        "unsupported": probes.unsupported(perf),
        "build": build,
        "experiments": {},
    }


def write(path, meta):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def read(path):
    with open(path) as f:
        return json.load(f)
