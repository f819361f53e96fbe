"""The one place that maps a model to its colour, so every figure agrees.

A variant of a model (a worker pool with --offload, several --reactors) keeps the
model's colour and changes the dash pattern and point type instead.
"""

COLORS = {
    "iterative": "#7f7f7f",
    "threads": "#d62728",
    "pool": "#ff7f0e",
    "epoll": "#1f77b4",
    "libev": "#17becf",
    "libuv": "#2ca02c",
    "node": "#9467bd",
    "nginx": "#000000",
    "uring": "#8c564b",
    "poll": "#e377c2",
    "select": "#843c39",
    "prefork": "#bcbd22",
}
OTHER = "#444444"

# The order models appear in tables and legends: blocking first, then event loops,
# then the references.
ORDER = ["iterative", "threads", "pool", "prefork", "select", "poll", "epoll", "libev", "libuv",
         "uring", "node", "nginx"]


def color(model):
    return COLORS.get(model, OTHER)


def model_rank(model):
    return ORDER.index(model) if model in ORDER else len(ORDER)


def series_label(model, offload=None, reactors=None):
    """A short, space-free name for one line in a figure: epoll, epoll+off4, libuv+r2."""
    s = model
    if offload:
        s += "+off%d" % offload
    if reactors and reactors > 1:
        s += "+r%d" % reactors
    return s


def dash(offload=None, reactors=None):
    """gnuplot dash type: 1 solid for the plain model, 2 for --offload, 3 for --reactors."""
    if offload:
        return 2
    if reactors and reactors > 1:
        return 3
    return 1


def point_type(model):
    return 1 + model_rank(model) % 13
