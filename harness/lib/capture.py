"""What the kernel says about a server: /proc snapshots of its process tree, the
system-wide kernel memory that thread stacks and socket buffers really cost, and
what else was running on the CPUs meanwhile.  The one /proc sampler of the harness
(harness/run and harness/soak both use it).

CPU time comes from each process's CPU-time clock (clock_gettime on the clock of
the process, the kernel's sum_exec_runtime of every thread, exited ones included):
nanoseconds, where /proc/PID/stat's utime and stime come in 10 ms clock ticks that
cannot measure a point at a few thousand requests per second.  (Per-thread
/proc/PID/task/*/schedstat counts the same nanoseconds but forgets a thread when it
exits, and a thread-per-connection server's threads exit with their connections.)
The ticks are still read for the user/kernel split.

A snapshot is cheap (a few files per process) except the context-switch count, which
reads one file per thread: with 10,000 threads that takes a noticeable fraction of a
second, so it is taken last.
"""
import os
import resource
import struct
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CPUCLOCK_SCHED = 2          # linux/posix-timers.h: the process clock in nanoseconds


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def tree(root):
    """root and every live descendant (node's cluster workers, nginx's worker)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = _read("/proc/%s/stat" % d)
        if st is None:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_ns(pid):
    """CPU time of every thread of pid, live or exited, in nanoseconds (None once
    the process is gone)."""
    try:
        return time.clock_gettime_ns((~pid << 3) | CPUCLOCK_SCHED)
    except OSError:
        return None


def own_cpu_ns():
    """This harness's CPU time, and that of the short commands it ran and reaped
    (ss), in nanoseconds."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.clock_gettime_ns(time.CLOCK_PROCESS_CPUTIME_ID) + \
        int((ch.ru_utime + ch.ru_stime) * 1e9)


def _stat_fields(pid):
    st = _read("/proc/%d/stat" % pid)
    if st is None:
        return None
    # Fields after "(comm)": state is field 3, utime 14, stime 15, num_threads 20.
    return st[st.rindex(")") + 2:].split()


def _status(pid):
    txt = _read("/proc/%d/status" % pid)
    out = {}
    if txt:
        for line in txt.splitlines():
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def _kb(v):
    return int(v.split()[0]) if v else 0


def ctx_switches(pid):
    """Voluntary plus involuntary switches summed over the live threads of pid."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return 0
    for tid in tids:
        txt = _read("/proc/%d/task/%s/status" % (pid, tid))
        if not txt:
            continue
        for line in txt.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def sockstat():
    """The TCP line of /proc/net/sockstat: inuse, orphan, tw, alloc, mem (pages)."""
    for line in (_read("/proc/net/sockstat") or "").splitlines():
        if line.startswith("TCP:"):
            p = line.split()[1:]
            return {p[i]: int(p[i + 1]) for i in range(0, len(p) - 1, 2)}
    return {}


def system():
    """KernelStack (kB) from /proc/meminfo and TCP socket memory (kB) from sockstat."""
    ks = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("KernelStack:"):
            ks = int(line.split()[1])
    ss = sockstat()
    return {"kernel_stack_kb": ks,
            "sock_mem_kb": ss["mem"] * PAGE_KB if "mem" in ss else None,
            "tcp_inuse": ss.get("inuse")}


def cpu_times():
    """{cpu: (idle_s, steal_s)} from /proc/stat.  Idle (with iowait) is kept by the
    kernel's idle accounting, not sampled at ticks, so a difference is good to one
    clock tick; steal is the time the hypervisor ran something else."""
    out = {}
    for line in (_read("/proc/stat") or "").splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        f = line.split()
        v = [int(x) for x in f[1:]]
        out[int(f[0][3:])] = ((v[3] + v[4]) / CLK_TCK, (v[7] if len(v) > 7 else 0) / CLK_TCK)
    return out


def snapshot(root, with_ctx=True, others=()):
    """CPU, memory, threads of root's process tree at one instant, the system
    figures, the per-CPU idle and steal times, and the CPU time of `others` (the
    load generator, the fault client: processes that are part of the point).  CPU
    times are totals since each process started."""
    t = time.monotonic()
    pids = tree(root)
    user = sys_ = 0
    ns = 0
    rss = hwm = threads = 0
    alive = False
    for pid in pids:
        f = _stat_fields(pid)
        if f is None:
            continue
        alive = alive or pid == root
        user += int(f[11])
        sys_ += int(f[12])
        ns += cpu_ns(pid) or 0
        st = _status(pid)
        rss += _kb(st.get("VmRSS"))
        hwm += _kb(st.get("VmHWM"))
        threads += int(st.get("Threads", "0"))
    snap = {"t": t, "pids": pids, "alive": alive,
            "cpu_user_s": user / CLK_TCK, "cpu_sys_s": sys_ / CLK_TCK, "cpu_ns": ns,
            "rss_kb": rss, "hwm_kb": hwm, "threads": threads,
            "others_ns": {str(p): cpu_ns(p) for p in others},
            "own_ns": own_cpu_ns(), "cpus": cpu_times()}
    snap.update(system())
    if with_ctx:
        snap["ctx_switches"] = sum(ctx_switches(p) for p in pids)
    snap["t_end"] = time.monotonic()
    return snap


def fds(root):
    """(descriptors, of which sockets) of root's tree."""
    n = socks = 0
    for pid in tree(root):
        d = "/proc/%d/fd" % pid
        try:
            names = os.listdir(d)
        except (FileNotFoundError, PermissionError):
            continue
        n += len(names)
        for name in names:
            try:
                if os.readlink(os.path.join(d, name)).startswith("socket:"):
                    socks += 1
            except OSError:
                pass
    return n, socks


def fd_count(root):
    """Open descriptors of root's tree: how the harness knows idle connections have
    been accepted, whatever the model (one descriptor per connection)."""
    return fds(root)[0]


def established(port):
    """TCP connections to 127.0.0.1:port in state ESTABLISHED on the server's side,
    as the kernel counts them: accepted or still waiting in the listen backlog
    (the kernel completes the handshake before accept).  None when `ss` is missing."""
    try:
        r = subprocess.run(["ss", "-Htn", "state", "established", "( sport = :%d )" % port],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return sum(1 for line in r.stdout.splitlines() if line.strip())


def usage(s0, s1, cpus):
    """What the point's CPUs did between two snapshots: their busy and steal shares,
    and the share used by processes that are not part of the point (not the
    server, the load generator, the fault client or the harness).  Percent of the
    CPUs' time; None where a figure is missing."""
    span = s1["t"] - s0["t"]
    if span <= 0 or not cpus:
        return {"busy_pct": None, "steal_pct": None, "others_pct": None}
    busy = steal = 0.0
    for c in cpus:
        a, b = s0["cpus"].get(c), s1["cpus"].get(c)
        if a is None or b is None:
            return {"busy_pct": None, "steal_pct": None, "others_pct": None}
        busy += span - (b[0] - a[0])
        steal += b[1] - a[1]
    ours = (s1["cpu_ns"] - s0["cpu_ns"]) + (s1["own_ns"] - s0["own_ns"])
    for pid, v in s1["others_ns"].items():
        v0 = s0["others_ns"].get(pid)
        if v is not None and v0 is not None:
            ours += v - v0
    total = span * len(cpus)
    return {"busy_pct": round(100.0 * busy / total, 1),
            "steal_pct": round(100.0 * steal / total, 1),
            "others_pct": round(100.0 * (busy - steal - ours / 1e9) / total, 1)}


def kernel_stack_per_thread_kb(n=128, tries=5):
    """The kernel's stack per thread (THREAD_SIZE: 16 KiB on x86-64), measured: the
    change in KernelStack (/proc/meminfo) while n idle threads exist.  Other work on
    the machine moves KernelStack both ways (its threads start and exit too), so
    the median of a few tries is taken, and a try below one page (4 kB: no kernel
    stack is smaller) is discarded as disturbed; rounded to 4 kB.  None when no try
    was usable."""
    import statistics
    import threading

    def kstack():
        for line in (_read("/proc/meminfo") or "").splitlines():
            if line.startswith("KernelStack:"):
                return int(line.split()[1])
        return None
    got = []
    for _ in range(tries):
        stop = threading.Event()
        before = kstack()
        ts = [threading.Thread(target=stop.wait, daemon=True) for _ in range(n)]
        for t in ts:
            t.start()
        after = kstack()
        stop.set()
        for t in ts:
            t.join()
        if before is None or after is None:
            continue
        per = (after - before) / n
        if per >= 4:
            got.append(per)
    return int(round(statistics.median(got) / 4.0) * 4) if got else None


def steal_sample(seconds=1.0):
    """Steal time as a percentage of all CPU time over a short interval."""
    def read():
        f = (_read("/proc/stat") or "").splitlines()[0].split()[1:]
        v = [int(x) for x in f]
        return sum(v[:8]), v[7] if len(v) > 7 else 0
    t0, s0 = read()
    time.sleep(seconds)
    t1, s1 = read()
    return round(100.0 * (s1 - s0) / max(1, t1 - t0), 2)


# The CPU idle state, held for the whole run.  In a VM, a vCPU with nothing to run
# executes HLT, the hypervisor takes the CPU back, and the next wake-up goes through
# the host: on this project's machines (Firecracker/KVM, cpuidle driver "haltpoll"
# with guest_halt_poll_ns=0) that costs ~30 µs of CPU, charged to whichever task the
# interrupt wakes, i.e. the server.  At 1,000 requests/s, epoll measured 44-48 µs of
# CPU per request with the CPU halting between requests and 13.2-13.5 µs with it
# polling, and the halting figure wandered with the host (threads: CV 19 % against
# 6 %; node: 13 % against 1 %).  That share is the hypervisor's, not the model's, so
# the harness asks the kernel's PM QoS for 0 µs of wake-up latency, which makes the
# cpuidle governor poll instead of halting (what tuned's latency-performance profile
# does).  Idle polling still counts as idle in /proc/stat, and the request stands only
# while the descriptor is open: this process's life.
CPU_DMA_LATENCY = "/dev/cpu_dma_latency"
_idle_qos = None            # (descriptor, path) while the request stands


def cpuidle_states():
    """The cpuidle driver and its states: name, exit latency (µs) and how many times
    the CPUs entered it (summed over CPUs), so that two readings tell how often the
    CPUs halted in between."""
    base = "/sys/devices/system/cpu"
    states = []
    for cpu in range(os.cpu_count() or 1):
        i = 0
        while True:
            d = "%s/cpu%d/cpuidle/state%d" % (base, cpu, i)
            name, lat, usage = _read(d + "/name"), _read(d + "/latency"), _read(d + "/usage")
            if name is None:
                break
            if i == len(states):
                states.append([name.strip(), int(lat) if lat and lat.strip().isdigit() else None, 0])
            states[i][2] += int(usage) if usage and usage.strip().isdigit() else 0
            i += 1
    drv = _read(base + "/cpuidle/current_driver")
    return {"driver": drv.strip() if drv else None, "states": states}


def idle_exits_between(a, b):
    """How many times the CPUs entered an idle state other than polling between two
    cpuidle_states() readings (None when there is no cpuidle here)."""
    if not a or not b or not a.get("states") or len(a["states"]) != len(b["states"]):
        return None
    return sum(y[2] - x[2] for x, y in zip(a["states"], b["states"]) if x[0] != "POLL")


def hold_cpu_idle_poll(path=CPU_DMA_LATENCY):
    """Ask for 0 µs wake-up latency and keep asking until this process ends.
    Returns what was done: {"held": bool, "why": ... when not, "driver", "states"}."""
    global _idle_qos
    if _idle_qos is None:
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError as e:
            return dict(cpuidle_states(), held=False, why="%s: %s" % (path, e.strerror))
        try:
            os.write(fd, struct.pack("i", 0))
        except OSError as e:
            os.close(fd)
            return dict(cpuidle_states(), held=False,
                        why="writing 0 to %s: %s" % (path, e.strerror))
        _idle_qos = (fd, path)
    # Read after the request stands, so that the run's count of halts starts at 0.
    return dict(cpuidle_states(), held=True, latency_us=0, path=_idle_qos[1])


def release_cpu_idle():
    """Let the CPUs halt again (the kernel drops the request when the descriptor closes)."""
    global _idle_qos
    if _idle_qos is not None:
        os.close(_idle_qos[0])
        _idle_qos = None
