"""Which models exist, what each one accepts, where its binary is, and whether it
can run on this machine."""
import os
import shutil
import subprocess

# kind: "blocking" (one connection at a time), "threads" (a thread per connection
# or a pool), "processes" (a pool of processes), "event" (a reactor), "anchor" (a
# production server for reference).  probe: the model may be unable to run on a
# machine (it then says why and exits 2 at start-up: tests/usable.sh).
MODELS = {
    "iterative": {"kind": "blocking", "opts": set(), "c": True},
    "threads": {"kind": "threads", "opts": {"stack_kb"}, "c": True},
    "pool": {"kind": "threads", "opts": {"threads", "stack_kb"}, "c": True},
    "prefork": {"kind": "processes", "opts": {"procs"}, "c": True},
    "epoll": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "select": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "poll": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "libev": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "libuv": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "uring": {"kind": "event", "opts": {"offload", "reactors"}, "c": True, "probe": True},
    "node": {"kind": "event", "opts": {"offload", "reactors"}, "c": False},
    "nginx": {"kind": "anchor", "opts": set(), "c": False},
}

# The models the experiments ask for, in the order tables show them.
ALL = ["iterative", "threads", "pool", "prefork", "select", "poll", "epoll", "libev", "libuv", "uring", "node"]
EVENT = ["select", "poll", "epoll", "libev", "libuv", "uring", "node"]
NGINX = "/usr/sbin/nginx"


def kind(model):
    return MODELS.get(model, {}).get("kind", "unknown")


def is_event(model):
    return kind(model) == "event"


def supports(model, opt):
    return opt in MODELS.get(model, {}).get("opts", set())


def binary(build, model):
    if model == "nginx":
        return NGINX if os.access(NGINX, os.X_OK) else shutil.which("nginx")
    path = os.path.join(build, "srv-" + model)
    return path if os.access(path, os.X_OK) else None


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_unusable = {}


def unusable(build, model):
    """Why the model cannot run on this machine (srv-uring where io_uring is missing
    or blocked: its own start-up message), or None.  Asked once per binary."""
    b = binary(build, model)
    if b is None or not MODELS.get(model, {}).get("probe"):
        return None
    if b not in _unusable:
        u = subprocess.run([os.path.join(ROOT, "tests", "usable.sh"), b], capture_output=True,
                           text=True)
        _unusable[b] = u.stdout.strip() if u.returncode == 3 else None
    return _unusable[b]


def available(build):
    """Every model whose binary is here and can run here (node also needs node
    itself)."""
    out = []
    for m in list(MODELS):
        b = binary(build, m)
        if b is None or unusable(build, m):
            continue
        if m == "node" and shutil.which("node") is None:
            continue
        out.append(m)
    return out


def not_testable(build):
    """{model: reason} for the models built here that cannot run here."""
    return {m: why for m in MODELS for why in [unusable(build, m)] if why}
