"""Helpers the loopbench notebooks share: find a run, load its data.csv, show its
figures and verdicts.  Kept here so each notebook reads as prose and a few calls.

A run is a directory written by harness/run (docs/contract.md, "Harness"): data.csv,
meta.json, and one directory per experiment with its figures (*.png, *.svg) and a
summary.json (figure captions, tables, verdicts).
"""
import json
import os

import pandas as pd
from IPython.display import Image, Markdown, display

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The columns most tables need, in a readable order.
KEY_COLS = ["model", "variant", "offload", "reactors", "conns", "idle_conns", "rate",
            "work_path", "work_us", "path", "rps", "p50_us", "p99_us", "p999_us", "errors",
            "timeouts", "cpu_us_per_req", "cpu_user_s", "cpu_sys_s", "syscalls_per_req",
            "ctx_switches", "rss_kb", "threads", "kernel_stack_kb", "sock_mem_kb", "gen_bound"]


def find_run(default="reference"):
    """LOOPBENCH_RUN if set; else results/<default> (reference for the analysis
    notebook, latest for the labs) if it exists; else the other one."""
    env = os.environ.get("LOOPBENCH_RUN")
    if env:
        cands = [env if os.path.isabs(env) else os.path.join(ROOT, env)]
    else:
        other = "latest" if default == "reference" else "reference"
        cands = [os.path.join(ROOT, "results", default), os.path.join(ROOT, "results", other)]
    for c in cands:
        if os.path.isfile(os.path.join(c, "data.csv")):
            return os.path.realpath(c)
    raise FileNotFoundError(
        "no run found (looked for data.csv in %s). Run `make bench` or "
        "`harness/run EXPERIMENT --quick` first, or set LOOPBENCH_RUN=DIR." % ", ".join(cands))


def load(run):
    """(data frame of data.csv, meta.json as a dict).  Empty cells stay NaN:
    the harness leaves a cell empty when it did not measure it."""
    df = pd.read_csv(os.path.join(run, "data.csv"))
    meta = {}
    p = os.path.join(run, "meta.json")
    if os.path.isfile(p):
        with open(p) as fh:
            meta = json.load(fh)
    return df, meta


def summary(run, exp):
    p = os.path.join(run, exp, "summary.json")
    if not os.path.isfile(p):
        return None
    with open(p) as fh:
        return json.load(fh)


def experiments(df):
    return sorted(df["experiment"].dropna().unique())


def machine(meta):
    """The facts a reader needs before trusting a number."""
    cpu = meta.get("cpu") or {}
    rows = [
        ("mode", meta.get("mode")),
        ("date (UTC)", meta.get("date_utc")),
        ("commit", (meta.get("git") or {}).get("commit") if isinstance(meta.get("git"), dict) else meta.get("git")),
        ("kernel", (meta.get("kernel") or {}).get("release") if isinstance(meta.get("kernel"), dict) else meta.get("kernel")),
        ("CPU", "%s, %s cores" % (cpu.get("model"), cpu.get("cores")) if cpu else None),
        ("steal %, start / end", "%s / %s" % (meta.get("steal_pct_start"), meta.get("steal_pct_end"))),
        ("K (cpu-iters-per-us)", meta.get("cpu_iters_per_us")),
        ("perf: unsupported", "; ".join("%s" % k for k in (meta.get("unsupported") or {}))),
    ]
    return pd.DataFrame(rows, columns=["", "value"]).set_index("")


def verdicts(run, df):
    """One row per (experiment, claim) verdict, from each experiment's summary.json."""
    rows = []
    for exp in experiments(df):
        s = summary(run, exp)
        for v in (s or {}).get("verdicts") or []:
            rows.append({"claim": v.get("claim"), "experiment": exp, "verdict": v.get("verdict"),
                         "provisional": bool((s or {}).get("provisional")), "why": v.get("why")})
    if not rows:
        return pd.DataFrame(columns=["claim", "experiment", "verdict", "provisional", "why"])
    # C8, the claim the literature leads with, leads here too.
    t = pd.DataFrame(rows)
    t["_first"] = t["claim"] != "C8"
    return t.sort_values(["_first", "claim", "experiment"]).drop(columns="_first").reset_index(drop=True)


def show_figures(run, exp, names=None):
    """Embeds the experiment's PNG figures (the gnuplot output) with their captions.
    Says so when the experiment or a figure is missing from this run."""
    d = os.path.join(run, exp)
    if not os.path.isdir(d):
        display(Markdown("*Experiment `%s` is not in this run.*" % exp))
        return 0
    s = summary(run, exp) or {}
    captions = {f.get("name"): f.get("caption") for f in s.get("figures") or []}
    pngs = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".png"))
    shown = 0
    for n in names or pngs:
        if n not in pngs:
            display(Markdown("*Figure `%s/%s` is not in this run (not enough points in this mode?).*"
                             % (exp, n)))
            continue
        display(Markdown("**%s/%s** — %s" % (exp, n, captions.get(n) or "")))
        display(Image(filename=os.path.join(d, n + ".png")))
        shown += 1
    return shown


def rows(df, exp, path="*", **eq):
    """The experiment's total rows (path '*'), filtered by column=value."""
    t = df[(df["experiment"] == exp)]
    if path is not None and "path" in t:
        t = t[t["path"] == path]
    for k, v in eq.items():
        t = t[t[k] == v]
    return t


def table(t, cols=None):
    """The columns that have at least one value, in KEY_COLS order."""
    cols = cols or KEY_COLS
    cols = [c for c in cols if c in t.columns and t[c].notna().any()]
    return t[cols].reset_index(drop=True)


def median_by(t, keys, value):
    """Median of `value` over repetitions, one row per key combination."""
    if t.empty or value not in t:
        return pd.DataFrame()
    return t.groupby(keys, dropna=False)[value].median().unstack(keys[-1]) if len(keys) > 1 \
        else t.groupby(keys, dropna=False)[value].median()


def slope(t, x, y):
    """Least-squares slope of y against x (e.g. KiB per idle connection), or None."""
    t = t[[x, y]].dropna()
    if len(t[x].unique()) < 2:
        return None
    mx, my = t[x].mean(), t[y].mean()
    den = ((t[x] - mx) ** 2).sum()
    return float(((t[x] - mx) * (t[y] - my)).sum() / den) if den else None
