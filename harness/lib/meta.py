"""meta.json: what a reader needs to judge (or reproduce) a run, and the machine
facts the verdict rules read (cores, the kernel's stack per thread): a report is
always judged against the machine that ran it, never the one that renders it."""
import ctypes
import datetime
import json
import os
import platform
import re
import subprocess
import sys

from . import capture, probes

SCHEMA = 2


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


def _ctypes_call(lib, fn, restype):
    try:
        f = getattr(ctypes.CDLL(lib), fn)
        f.restype = restype
        return f()
    except (OSError, AttributeError):
        return None


def _header_version(path, prefix):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    parts = []
    for k in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"#define\s+%s_%s\s+(\d+)" % (prefix, k), text)
        if m:
            parts.append(m.group(1))
    return ".".join(parts) or None


def _links(binary, lib):
    try:
        r = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10)
        return lib in r.stdout
    except (OSError, subprocess.TimeoutExpired):
        return None


def libraries(root, build):
    """The versions of what the servers run on: node, libuv, libev and the HTTP
    parser.  libuv and libev are asked at run time (the library the binaries load);
    the parser is llhttp when build/llhttp/llhttp.h is there and the servers do not
    link libhttp_parser, else libhttp_parser's own http_parser_version()."""
    out = {"node": probes.tool_versions_one(["node", "--version"])}
    uv = _ctypes_call("libuv.so.1", "uv_version_string", ctypes.c_char_p)
    out["libuv"] = uv.decode() if uv else None
    ma = _ctypes_call("libev.so.4", "ev_version_major", ctypes.c_int)
    mi = _ctypes_call("libev.so.4", "ev_version_minor", ctypes.c_int)
    out["libev"] = "%d.%d" % (ma, mi) if ma is not None and mi is not None else None
    llhttp = _header_version(os.path.join(root, "build", "llhttp", "llhttp.h"), "LLHTTP_VERSION")
    hp = _ctypes_call("libhttp_parser.so.2.9", "http_parser_version", ctypes.c_ulong)
    hp = "%d.%d.%d" % (hp >> 16 & 255, hp >> 8 & 255, hp & 255) if hp is not None else None
    srv = os.path.join(build, "srv-epoll")
    linked = _links(srv, "libhttp_parser") if os.path.exists(srv) else None
    if llhttp and not linked:
        out["http_parser"] = {"name": "llhttp", "version": llhttp, "from": "build/llhttp/llhttp.h"}
    elif hp:
        out["http_parser"] = {"name": "http-parser", "version": hp,
                              "from": "libhttp_parser http_parser_version()"}
    else:
        out["http_parser"] = None
    return out


def machine():
    """The machine facts verdict rules use."""
    return {"cores": os.cpu_count(), "arch": platform.machine(),
            "page_kb": os.sysconf("SC_PAGE_SIZE") // 1024,
            "clk_tck": os.sysconf("SC_CLK_TCK"),
            "kernel_stack_kb_per_thread": capture.kernel_stack_per_thread_kb()}


def machine_of_server(placement, facts, sampler):
    """The machine facts verdict rules use, of the machine the server runs on
    (this one, or an ssh host: from its facts and its own /proc), and whether the
    load generators had cores of their own (lib/placement.py)."""
    if placement.server.kind == "ssh":
        f = facts.get(placement.server.spec) or {}
        m = {"cores": f.get("cores"), "arch": f.get("arch"),
             "page_kb": (f.get("page_size") or 0) // 1024 or None, "clk_tck": f.get("clk_tck"),
             "kernel_stack_kb_per_thread": sampler.kernel_stack_per_thread_kb()}
    else:
        m = machine()
    m["server_host"] = placement.server.spec
    m["generators_apart"] = placement.generators_apart()
    return m


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
        "libraries": libraries(root, build),
        "machine": machine(),
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
