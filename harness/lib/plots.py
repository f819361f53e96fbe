"""Feeding gnuplot: each figure is one script under harness/plots/ plus a data file
this module writes.  The script holds the axes, labels and scales; the driver passes
the data path, the output path and format, and the series' names, colours and dash
types (from palette.py) with `-e`.  Every figure is drawn twice: SVG and PNG.
"""
import os
import subprocess
from dataclasses import dataclass, field

from . import analysis

PLOTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plots")


@dataclass
class Figure:
    name: str                 # output base name, e.g. throughput_conns
    script: str               # e.g. throughput_conns.gp
    caption: str
    data: str                 # the data file's text
    vars: dict = field(default_factory=dict)

    @property
    def png(self):
        return self.name + ".png"

    @property
    def svg(self):
        return self.name + ".svg"


def _q(s):
    return "'" + str(s).replace("'", "") + "'"


def png_terminal():
    """pngcairo when gnuplot has it (gnuplot-nox does), else the libgd png."""
    global _PNG
    try:
        return _PNG
    except NameError:
        pass
    try:
        out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True,
                             text=True, timeout=10).stdout + \
            subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True,
                           text=True, timeout=10).stderr
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    _PNG = "pngcairo" if "pngcairo" in out else "png"
    return _PNG


def render(fig, out_dir):
    """Writes <name>.dat and draws <name>.svg and <name>.png.  Returns None or the
    error text (gnuplot's stderr), which the report shows in place of the figure."""
    dat = os.path.join(out_dir, fig.name + ".dat")
    with open(dat, "w") as f:
        f.write(fig.data)
    errors = []
    for fmt, ext in (("svg", "svg"), (png_terminal(), "png")):
        out = os.path.join(out_dir, fig.name + "." + ext)
        v = {"datafile": dat, "out": out, "fmt": fmt, "plotdir": PLOTS_DIR}
        v.update(fig.vars)
        expr = "; ".join("%s=%s" % (k, val if isinstance(val, (int, float)) else _q(val))
                         for k, val in v.items())
        try:
            r = subprocess.run(["gnuplot", "-e", expr, os.path.join(PLOTS_DIR, fig.script)],
                               capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            errors.append("%s: %s" % (fig.script, e))
            continue
        if r.returncode != 0 or not os.path.exists(out) or os.path.getsize(out) == 0:
            errors.append("%s (%s): %s" % (fig.script, ext, r.stderr.strip()[-500:]))
        elif r.stderr.strip():
            # gnuplot warns (e.g. an empty range) without failing: keep the warning.
            with open(dat + ".warnings", "a") as w:
                w.write(r.stderr)
    return "; ".join(errors) or None


# --- data file builders -------------------------------------------------------

def series_vars(labels):
    colors, dashes = [], []
    for s in labels:
        c, d = analysis.series_style(s)
        colors.append(c)
        dashes.append(str(d))
    return {"names": " ".join(labels), "colors": " ".join(colors),
            "dashes": " ".join(dashes), "nseries": len(labels)}


def lines_data(per_series, extra_cols=None):
    """One gnuplot index block per series: x median min max [more columns].
    per_series: {label: [(x, med, lo, hi, n), ...]}; extra_cols: {label: {x: [..]}}."""
    blocks = []
    for label, pts in per_series.items():
        lines = ["# %s" % label]
        for p in pts:
            cols = list(p[:4])
            if extra_cols:
                cols += extra_cols.get(label, {}).get(p[0], [])
            lines.append(" ".join(_g(c) for c in cols))
        blocks.append("\n".join(lines))
    return "\n\n\n".join(blocks) + "\n"


def multi_lines_data(per_metric):
    """Several metrics on the same x for every series: one block per series with
    columns x m1 lo1 hi1 m2 lo2 hi2 ...  per_metric: [ {label: pts} , ... ]."""
    labels = []
    for m in per_metric:
        for s in m:
            if s not in labels:
                labels.append(s)
    labels.sort(key=analysis.series_key)
    blocks = []
    for s in labels:
        xs = sorted({p[0] for m in per_metric for p in m.get(s, [])})
        lines = ["# %s" % s]
        for x in xs:
            cols = [x]
            for m in per_metric:
                pt = next((p for p in m.get(s, []) if p[0] == x), None)
                cols += list(pt[1:4]) if pt else [None, None, None]
            lines.append(" ".join(_g(c) for c in cols))
        blocks.append("\n".join(lines))
    return labels, "\n\n\n".join(blocks) + "\n"


def bars_data(bars):
    """One row per bar: "label" colour median min max [more ...]; the colour is an
    integer for `lc rgb variable`.  bars: [(label, colour_hex, [values...])]."""
    lines = []
    for label, color, vals in bars:
        lines.append('"%s" %d %s' % (label, int(color.lstrip("#"), 16),
                                    " ".join(_g(v) for v in vals)))
    return "\n".join(lines) + "\n"


def _g(v):
    if v is None:
        return "NaN"
    if isinstance(v, float):
        return "%.6g" % v
    return str(v)


def model_color(label):
    return analysis.series_style(label)[0]
