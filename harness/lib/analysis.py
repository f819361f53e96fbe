"""Turning data.csv rows into what figures, tables and verdicts need: medians with
their min and max over repetitions, per series (a model and its variant)."""
import statistics

from . import palette
from .csvio import num


def series(row):
    off = num(row, "offload")
    rea = num(row, "reactors")
    return palette.series_label(row["model"], int(off) if off else None,
                                int(rea) if rea else None)


def series_style(label):
    """(colour, dash) of a series label such as 'libuv+off4'; in `harness/compare`
    labels carry a run prefix ('B:libuv') and run B's lines are dotted."""
    run, _, rest = label.rpartition(":")
    model = rest.split("+")[0]
    d = palette.dash(1 if "+off" in rest else None, 2 if "+r" in rest else None)
    if run == "B":
        d += 3
    return palette.color(model), d


def series_key(label):
    run, _, rest = label.rpartition(":")
    return (palette.model_rank(rest.split("+")[0]), rest, run)


def where(rows, **cond):
    """Rows whose columns equal the given values (compared as text; None = empty)."""
    out = []
    for r in rows:
        ok = True
        for k, v in cond.items():
            want = "" if v is None else (v if isinstance(v, str) else _txt(v))
            if isinstance(v, (list, tuple, set)):
                if r.get(k, "") not in {_txt(x) for x in v}:
                    ok = False
                    break
            elif r.get(k, "") != want:
                ok = False
                break
        if ok:
            out.append(r)
    return out


def _txt(v):
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v)


def agg(values):
    """(median, min, max, n) of the values that were measured; None if none were."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return (statistics.median(vals), min(vals), max(vals), len(vals))


def value(row, col_or_fn):
    if callable(col_or_fn):
        try:
            return col_or_fn(row)
        except (TypeError, ZeroDivisionError):
            return None
    return num(row, col_or_fn)


def by_series(rows, x, y):
    """{series: [(x, median, min, max, n), ...]} sorted by x; x and y are column
    names or functions of a row."""
    groups = {}
    for r in rows:
        xv = value(r, x)
        if xv is None:
            continue
        groups.setdefault(series(r), {}).setdefault(xv, []).append(value(r, y))
    out = {}
    for s in sorted(groups, key=series_key):
        pts = []
        for xv in sorted(groups[s]):
            a = agg(groups[s][xv])
            if a:
                pts.append((xv,) + a)
        if pts:
            out[s] = pts
    return out


def median_of(rows, y):
    a = agg([value(r, y) for r in rows])
    return a[0] if a else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_num(v, unit=""):
    if v is None:
        return "—"
    if v == int(v) and abs(v) < 1e6:
        return "%d%s" % (v, unit)
    av = abs(v)
    if av >= 1e6:
        s = "%.2fM" % (v / 1e6)
    elif av >= 1e4:
        s = "%.0f" % v
    elif av >= 100:
        s = "%.0f" % v
    elif av >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s + unit


def fmt_us(v):
    """A latency in µs, shown in the unit a reader expects."""
    if v is None:
        return "—"
    if v >= 1e6:
        return "%.2f s" % (v / 1e6)
    if v >= 1000:
        return "%.2f ms" % (v / 1000)
    return "%.0f µs" % v


def pivot(rows, col, val, fmt=fmt_num, col_fmt=lambda c: "%g" % c):
    """A table: one line per series, one column per value of `col`, cells the
    median of `val` (min-max shown when repetitions differ)."""
    per = by_series(rows, col, val)
    xs = sorted({p[0] for pts in per.values() for p in pts})
    headers = ["series"] + [col_fmt(x) for x in xs]
    body = []
    for s, pts in per.items():
        cells = {p[0]: p for p in pts}
        line = [s]
        for x in xs:
            p = cells.get(x)
            if p is None:
                line.append("—")
            elif p[4] > 1 and p[2] != p[3]:
                line.append("%s (%s–%s)" % (fmt(p[1]), fmt(p[2]), fmt(p[3])))
            else:
                line.append(fmt(p[1]))
        body.append(line)
    return headers, body


def per_req(col):
    """A function of a row: column / requests (e.g. context switches per request)."""
    def f(r):
        v, n = num(r, col), num(r, "requests")
        return None if v is None or not n else v / n
    return f


def starved(r):
    """Requests that never got an answer in the window.  Closed loop: timeouts,
    abandoned and errors.  Open loop: the requests that fell due (rate x window) and
    were not answered, whatever the reason -- including those the generator never
    sent because their connection was stalled (its `unsent` count), which appear in
    no error column."""
    rate, dur, reqs = num(r, "rate"), num(r, "duration_s"), num(r, "requests")
    if rate and dur and reqs is not None:
        return max(0.0, round(rate * dur - reqs))
    vals = [num(r, c) for c in ("timeouts", "abandoned", "errors")]
    if all(v is None for v in vals):
        return None
    return sum(v for v in vals if v)


def answered(r):
    """The fraction of the requests due in the window that were answered."""
    lost, reqs = starved(r), num(r, "requests")
    if lost is None or reqs is None or reqs + lost == 0:
        return None
    return reqs / (reqs + lost)
