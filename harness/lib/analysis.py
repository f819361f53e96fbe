"""Turning data.csv rows into what figures, tables and verdicts need: a value per
point with its min and max over repetitions, per series (a model and its variant).

The value of a point is the median of its repetitions, except for latency
percentiles: those come from the repetitions' histograms merged bucket by bucket
(a p99 of all the requests, not a median of p99s), with the min and max of the
repetitions' own percentiles beside it.  A row's histogram (row["_hist"], loaded
from the experiment's hist.jsonl) already counts each unanswered request at the
generator's timeout.
"""
import math
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
    labels carry a run prefix ('B:libuv') and run B's lines take the dash pattern three
    further on (gnuplot's dash-dot for a plain model)."""
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


# Latency columns and the percentile each holds (100: the maximum).
LAT_COLS = {"p50_us": 50.0, "p90_us": 90.0, "p99_us": 99.0, "p999_us": 99.9, "max_us": 100.0}


def agg(values):
    """(median, min, max, n) of the values that were measured; None if none were."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return (statistics.median(vals), min(vals), max(vals), len(vals))


def hist_add(hist, value, count):
    """A histogram ([[highest value, count], ...] ascending) with `count` more
    samples of `value`."""
    if not count:
        return list(hist)
    out = [list(b) for b in hist]
    for b in out:
        if b[0] == value:
            b[1] += count
            return out
    out.append([value, count])
    out.sort()
    return out


def hist_merge(hists):
    acc = {}
    for h in hists:
        for ub, c in h:
            acc[ub] = acc.get(ub, 0) + c
    return sorted([ub, c] for ub, c in acc.items())


def hist_percentile(hist, pct):
    """As loadgen computes it: the highest value of the bucket that holds the
    sample of rank ceil(pct/100 * total)."""
    total = sum(c for _, c in hist)
    if not total:
        return None
    if pct >= 100.0:
        return hist[-1][0]
    rank = max(1, math.ceil(pct / 100.0 * total))
    seen = 0
    for ub, c in hist:
        seen += c
        if seen >= rank:
            return ub
    return hist[-1][0]


def agg_rows(rows, y):
    """(value, min, max, n) of y over a point's repetitions: merged-histogram
    percentiles for latency columns when every row has its histogram, else the
    median."""
    vals = [value(r, y) for r in rows]
    a = agg(vals)
    if a is None or not isinstance(y, str) or y not in LAT_COLS:
        return a
    hists = [r.get("_hist") for r in rows if value(r, y) is not None]
    if not hists or any(h is None for h in hists):
        return a
    merged = hist_percentile(hist_merge(hists), LAT_COLS[y])
    return (merged,) + a[1:] if merged is not None else a


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
        groups.setdefault(series(r), {}).setdefault(xv, []).append(r)
    out = {}
    for s in sorted(groups, key=series_key):
        pts = []
        for xv in sorted(groups[s]):
            a = agg_rows(groups[s][xv], y)
            if a:
                pts.append((xv,) + a)
        if pts:
            out[s] = pts
    return out


def holds(x, y, test):
    """test(x, y), or None (not decided) when either value was not measured."""
    if x is None or y is None:
        return None
    return test(x, y)


def median_of(rows, y):
    """The point's value of y (see agg_rows), or None."""
    a = agg_rows(rows, y)
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


def unanswered(r):
    """Requests of the window never answered: outstanding for the generator's whole
    timeout, abandoned at the end of the drain, or due and never sent (open loop).
    Schema-1 rows have no column: there it is worked out as schema 1 did."""
    v = num(r, "unanswered")
    if v is not None or r.get("schema") not in ("1", 1):
        return v
    rate, dur, reqs = num(r, "rate"), num(r, "duration_s"), num(r, "requests")
    if rate and dur and reqs is not None:
        return max(0.0, round(rate * dur - reqs))
    vals = [num(r, c) for c in ("timeouts", "abandoned")]
    return None if all(x is None for x in vals) else sum(x for x in vals if x)


def answered(r):
    """The fraction of the window's requests that were answered."""
    lost, reqs = unanswered(r), num(r, "requests")
    if lost is None or reqs is None or reqs + lost == 0:
        return None
    return reqs / (reqs + lost)


def is_valid(r):
    return r.get("valid") != "false"
