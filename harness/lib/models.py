"""Which models exist, what each one accepts, and where its binary is."""
import os
import shutil

# kind: "blocking" (one connection at a time), "threads" (a thread per connection
# or a pool), "event" (a reactor), "anchor" (a production server for reference).
MODELS = {
    "iterative": {"kind": "blocking", "opts": set(), "c": True},
    "threads": {"kind": "threads", "opts": {"stack_kb"}, "c": True},
    "pool": {"kind": "threads", "opts": {"threads", "stack_kb"}, "c": True},
    "fork": {"kind": "threads", "opts": set(), "c": True},
    "epoll": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "select": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "poll": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "libev": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "libuv": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "uring": {"kind": "event", "opts": {"offload", "reactors"}, "c": True},
    "node": {"kind": "event", "opts": {"offload", "reactors"}, "c": False},
    "nginx": {"kind": "anchor", "opts": set(), "c": False},
}

# The models the experiments ask for, in the order tables show them.
ALL = ["iterative", "threads", "pool", "select", "poll", "epoll", "libev", "libuv", "node"]
EVENT = ["select", "poll", "epoll", "libev", "libuv", "node"]
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


def available(build):
    """Every model whose binary is here (node also needs node itself)."""
    out = []
    for m in list(MODELS):
        b = binary(build, m)
        if b is None:
            continue
        if m == "node" and shutil.which("node") is None:
            continue
        out.append(m)
    return out
