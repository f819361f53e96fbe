"""What the kernel says about a server: /proc snapshots of its process tree, and the
system-wide kernel memory that thread stacks and socket buffers really cost.

A snapshot is cheap (a few files per process) except the context-switch count, which
reads one file per thread: with 10,000 threads that takes a noticeable fraction of a
second, so it is taken last and the report says so.
"""
import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


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


def system():
    """KernelStack (kB) from /proc/meminfo and TCP socket memory (kB) from sockstat."""
    ks = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("KernelStack:"):
            ks = int(line.split()[1])
    sock = None
    for line in (_read("/proc/net/sockstat") or "").splitlines():
        if line.startswith("TCP:"):
            f = line.split()
            sock = int(f[f.index("mem") + 1]) * PAGE_KB
    return {"kernel_stack_kb": ks, "sock_mem_kb": sock}


def snapshot(root, with_ctx=True):
    """CPU, memory, threads of root's process tree at one instant (plus the system
    figures).  CPU times are totals since each process started (all its threads,
    live and exited)."""
    t = time.monotonic()
    pids = tree(root)
    user = sys_ = 0
    rss = hwm = threads = 0
    alive = False
    for pid in pids:
        f = _stat_fields(pid)
        if f is None:
            continue
        alive = alive or pid == root
        user += int(f[11])
        sys_ += int(f[12])
        st = _status(pid)
        rss += _kb(st.get("VmRSS"))
        hwm += _kb(st.get("VmHWM"))
        threads += int(st.get("Threads", "0"))
    snap = {"t": t, "pids": pids, "alive": alive,
            "cpu_user_s": user / CLK_TCK, "cpu_sys_s": sys_ / CLK_TCK,
            "rss_kb": rss, "hwm_kb": hwm, "threads": threads}
    snap.update(system())
    if with_ctx:
        snap["ctx_switches"] = sum(ctx_switches(p) for p in pids)
    snap["t_end"] = time.monotonic()
    return snap


def fd_count(root):
    """Open descriptors of root's tree: how the harness knows idle connections have
    been accepted, whatever the model (one descriptor per connection)."""
    n = 0
    for pid in tree(root):
        try:
            n += len(os.listdir("/proc/%d/fd" % pid))
        except (FileNotFoundError, PermissionError):
            pass
    return n


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
