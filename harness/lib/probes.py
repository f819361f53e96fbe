"""What this machine can measure: shared by harness/doctor and meta.json."""
import os
import re
import resource
import shutil
import subprocess
import time

from . import capture, tracers

PERF_EVENTS = ["raw_syscalls:sys_enter", "context-switches", "task-clock",
               "instructions", "cycles"]


def _run(argv, timeout=15):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)


def tool_versions():
    out = {}
    for name, argv in [("perf", ["perf", "--version"]), ("strace", ["strace", "-V"]),
                       ("valgrind", ["valgrind", "--version"]),
                       ("gnuplot", ["gnuplot", "--version"]), ("node", ["node", "--version"]),
                       ("nginx", ["nginx", "-v"]), ("taskset", ["taskset", "--version"]),
                       ("chromium", ["chromium", "--version"]), ("cc", ["cc", "--version"])]:
        if shutil.which(argv[0]) is None and not (name == "nginx" and os.path.exists("/usr/sbin/nginx")):
            out[name] = None
            continue
        if name == "nginx" and shutil.which("nginx") is None:
            argv = ["/usr/sbin/nginx", "-v"]
        rc, txt = _run(argv, timeout=20)
        out[name] = (txt.strip().splitlines() or [""])[0] if rc is not None else None
    return out


def tool_versions_one(argv):
    if shutil.which(argv[0]) is None:
        return None
    rc, txt = _run(argv, timeout=20)
    return (txt.strip().splitlines() or [""])[0] if rc == 0 else None


def perf_events():
    """{event: True/False} from `perf stat -e EVENT true`."""
    res = {}
    if shutil.which("perf") is None:
        return {e: False for e in PERF_EVENTS}
    for ev in PERF_EVENTS:
        rc, txt = _run(["perf", "stat", "-x", ",", "-e", ev, "true"])
        ok = rc == 0 and not re.search(r"not supported|not counted|<not", txt) and ev in txt
        res[ev] = bool(ok)
    return res


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def limits():
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)
    return {
        "nofile_soft": nofile[0], "nofile_hard": nofile[1],
        "nproc_soft": nproc[0], "nproc_hard": nproc[1],
        "somaxconn": _read("/proc/sys/net/core/somaxconn"),
        "tcp_max_syn_backlog": _read("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
        "ip_local_port_range": _read("/proc/sys/net/ipv4/ip_local_port_range"),
        "tcp_tw_reuse": _read("/proc/sys/net/ipv4/tcp_tw_reuse"),
        "pid_max": _read("/proc/sys/kernel/pid_max"),
        "threads_max": _read("/proc/sys/kernel/threads-max"),
        "perf_event_paranoid": _read("/proc/sys/kernel/perf_event_paranoid"),
        "overcommit_memory": _read("/proc/sys/vm/overcommit_memory"),
    }


def thp():
    def sel(path):
        v = _read(path) or ""
        m = re.search(r"\[(\w+)\]", v)
        return m.group(1) if m else v or None
    return {"enabled": sel("/sys/kernel/mm/transparent_hugepage/enabled"),
            "defrag": sel("/sys/kernel/mm/transparent_hugepage/defrag")}


def cpu():
    model = None
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {"model": model, "cores": os.cpu_count(),
            "online": _read("/sys/devices/system/cpu/online"),
            "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            "mem_total_kb": mem_kb}


def unsupported(perf=None):
    """Counters and captures this machine cannot provide, with the reason."""
    perf = perf if perf is not None else perf_events()
    out = {}
    for ev, ok in perf.items():
        if not ok:
            out["perf " + ev] = "perf stat -e %s true: not supported here" % ev
    if perf.get("instructions") is False:
        out["hardware instruction counts"] = ("no hardware PMU in this VM: instructions per "
                                              "request come from callgrind instead")
    if not tracers.perf_system_wide_allowed():
        out["perf -a (per-CPU counting)"] = "needs root or perf_event_paranoid <= 0; per-thread -p is used"
    for t in ("strace", "valgrind", "perf"):
        if shutil.which(t) is None:
            out[t] = "not installed"
    return out


def steal():
    return capture.steal_sample(1.0)


def cpu_busy(seconds=1.0):
    """The machine's busy share of all CPUs over `seconds`, from /proc/stat: what
    runs right now, unlike the load average, which still remembers the build that
    `make bench` ran a minute ago."""
    def sample():
        f = [int(x) for x in _read("/proc/stat").split("\n", 1)[0].split()[1:]]
        return sum(f), f[3] + f[4]          # all, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (AttributeError, ValueError, IndexError):
        return None
    return round(1 - (i1 - i0) / (t1 - t0), 3) if t1 > t0 else None


def loadavg():
    """The 1, 5 and 15 minute load averages: anything else running shows here."""
    try:
        return [float(x) for x in _read("/proc/loadavg").split()[:3]]
    except (AttributeError, ValueError):
        return None
