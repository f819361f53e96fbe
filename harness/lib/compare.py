"""harness/compare RUN_A RUN_B: how far two runs agree -- identical verdicts or not,
the checks each decided, the share of the points both measured whose requests/s and
CPU per request agree within AGREE (p99 beside it) -- then the same figures with both
runs' series (A solid, B dash-dotted, each model in its own colour), the verdicts side by
side, and a table of ratios B/A for the headline numbers of every point."""
import csv
import os

from . import analysis as A
from . import doc as docmod
from . import exp, meta as metamod, plots, report
from .csvio import num

METRICS = [("rps", "req/s", A.fmt_num), ("p99_us", "p99", A.fmt_us),
           ("cpu_us_per_req", "CPU µs/req", A.fmt_num), ("rss_kb", "RSS kB", A.fmt_num),
           ("mbps", "MB/s", A.fmt_num)]
# What makes a point: every column data.csv gives a point's set-up, not its outcome.
# work_path keeps db's /db and /queries?n=20 apart (same connections, same model):
# pooled into one "point" their six repetitions are two clusters a factor ten apart in
# CPU per request, and the median of six is the mean of the two middle values, one
# from each cluster.
KEY = ["model", "offload", "reactors", "variant", "proto", "conns", "idle_conns", "pipeline",
       "size", "rate", "work_path", "work_us", "db_conns", "rtt_ms", "path"]
# Two medians agree when they differ by at most this share of the first run's: the
# tolerance within which two quick runs on one machine must agree for 90 % of their
# points (requests/s and CPU per request) for the harness to call them reproducible.
AGREE = 0.10
AGREEMENT_METRICS = [("rps", "requests/s"), ("cpu_us_per_req", "CPU per request"), ("p99_us", "p99")]
# A diagnostic beside CPU per request's agreement, not a criterion: the points grouped
# by the requests one repetition's window answered (the median over both runs).  CPU
# per request is the server's CPU time over the window divided by its requests, so a
# window of a handful of requests weighs a handful of wake-ups of an idle CPU, and its
# repetitions scatter within one run as widely as between runs (wait at one connection
# and W = 100 ms: 5 requests a window, epoll 147, 264 and 217 us in one run).  The
# bounds split the two quick runs at c293f64 where the agreement changed: 4 of 19
# points under 200 requests agreed, 27 of 33 up to 2,000, 85 of 100 beyond.
WINDOW_BINS = (200, 2000)


def _key(r, relative_rate, caps=None):
    """Identity of a point.  Where rates follow each run's own measured capacity,
    the rate is replaced by the load as a percentage of that capacity."""
    out = []
    for k in KEY:
        if k == "rate" and relative_rate:
            cap = (caps or {}).get((r["model"], r["offload"], r["reactors"], r["rep"]))
            rate = num(r, "rate")
            out.append("%d%%" % round(100 * rate / cap) if cap and rate else "")
        else:
            out.append(r.get(k) or "")
    return tuple(out)


def _describe(key, relative_rate):
    d = dict(zip(KEY, key))
    s = A.series({"model": d["model"], "offload": d["offload"], "reactors": d["reactors"]})
    bits = [s, d["variant"]]
    for k, lab in (("conns", "c"), ("idle_conns", "idle"), ("size", "size"), ("rate", "rate"),
                   ("work_us", "W"), ("pipeline", "pipe")):
        v = d.get(k)
        if v not in (None, "", "0") and not (k == "pipeline" and v == "1"):
            bits.append("%s=%s" % (lab, v))
    if d.get("work_path") not in (None, "", "/", "echo"):
        bits.append("route " + d["work_path"])
    if d.get("rtt_ms") not in (None, ""):
        bits.append("rtt=%sms" % d["rtt_ms"])
    if d["path"] != "*":
        bits.append("path " + d["path"])
    return " ".join(bits)


def _prefixed(rows, tag):
    out = []
    for r in rows:
        r = dict(r)
        r["model"] = tag + ":" + r["model"]
        out.append(r)
    return out


def compare(run_a, run_b, out_dir, tolerance=AGREE, valid_only=False):
    ma = metamod.read(os.path.join(run_a, "meta.json"))
    mb = metamod.read(os.path.join(run_b, "meta.json"))
    os.makedirs(out_dir, exist_ok=True)
    d = docmod.Doc(out_dir)
    na, nb = os.path.basename(os.path.normpath(run_a)), os.path.basename(os.path.normpath(run_b))
    d.h(1, "loopbench: %s (A) against %s (B)" % (na, nb))
    d.table(["", "A", "B"], [
        ["date", ma.get("date_utc"), mb.get("date_utc")],
        ["mode", ma.get("mode"), mb.get("mode")],
        ["commit", (ma.get("git", {}).get("commit") or "?")[:12], (mb.get("git", {}).get("commit") or "?")[:12]],
        ["kernel", ma.get("kernel", {}).get("release"), mb.get("kernel", {}).get("release")],
        ["CPU", "%s x%s" % (ma.get("cpu", {}).get("model"), ma.get("cpu", {}).get("cores")),
         "%s x%s" % (mb.get("cpu", {}).get("model"), mb.get("cpu", {}).get("cores"))],
        ["K", ma.get("cpu_iters_per_us"), mb.get("cpu_iters_per_us")],
    ] + [
        ["K of %s (measured before it)" % n, report.experiment_k(ma, n)[0], report.experiment_k(mb, n)[0]]
        for n in sorted(set(ma.get("experiments", {})) & set(mb.get("experiments", {})))
        if report.experiment_k(ma, n)[1] or report.experiment_k(mb, n)[1]
    ] + [
        ["idle CPUs", report.cpu_idle_line(ma), report.cpu_idle_line(mb)],
        ["steal % (start/end)", "%s/%s" % (ma.get("steal_pct_start"), ma.get("steal_pct_end")),
         "%s/%s" % (mb.get("steal_pct_start"), mb.get("steal_pct_end"))],
    ], caption="The two runs")
    sa = _summaries(run_a, ma)
    sb = _summaries(run_b, mb)
    ra = report.claim_rows(sa, False)
    rb = report.claim_rows(sb, False)
    ag = agreement(run_a, run_b, ma, mb, sa, sb, tolerance, valid_only)
    d.h(2, "Agreement")
    d.items(agreement_lines(ag))
    d.h(2, "Verdicts")
    d.table(["claim", "statement", "A", "B"],
            [[x[0], x[1], x[2], y[2]] for x, y in zip(ra, rb)])
    from experiments import ORDER, get
    common = [n for n in ORDER if n in ma.get("experiments", {}) and n in mb.get("experiments", {})]
    for name in common:
        mod = get(name)
        da = exp.load(run_a, name, ma)
        db = exp.load(run_b, name, mb)
        d.h(2, "%s — %s" % (name, mod.TITLE))
        exp_out = os.path.join(out_dir, name)
        os.makedirs(exp_out, exist_ok=True)
        comb = exp.Data(name, _prefixed(da.rows, "A") + _prefixed(db.rows, "B"), exp_out, ma.get("mode"), ma)
        try:
            figs = mod.figures(comb)
        except Exception as e:  # a figure that cannot take two runs is skipped, said so
            figs = []
            d.p("(figures could not be combined: %r)" % e)
        for f in figs:
            err = plots.render(f, exp_out)
            d.fig(os.path.join(name, f.png), os.path.join(name, f.svg), f.caption, err)
        rel = getattr(mod, "RATE_RELATIVE", False)
        body = _ratios(da.rows, db.rows, rel)
        d.table(["point", "metric", "A", "B", "B/A"], body,
                caption="Medians over repetitions; points both runs measured")
        if name == "instr":
            d.table(["series", "A Ir/req", "B Ir/req", "B/A"], _instr(run_a, run_b))
    with open(os.path.join(out_dir, "compare.md"), "w") as f:
        f.write(d.markdown())
    with open(os.path.join(out_dir, "compare.html"), "w") as f:
        f.write(d.html("loopbench: %s vs %s" % (na, nb)))
    return ag


def _rows_all(run_dir, meta):
    rows = []
    from experiments import ORDER
    for name in ORDER:
        if name in meta.get("experiments", {}):
            rows += [(name, r) for r in exp.load(run_dir, name, meta).rows]
    return rows


def _offered(rows):
    """Every repetition valid: the generator offered what the point says (not
    generator-bound, its connections up, its windows together)."""
    return all(r.get("valid") != "false" and r.get("gen_bound") != "true" for r in rows)


def agreement(run_a, run_b, ma, mb, sa, sb, tolerance=AGREE, valid_only=False):
    """What harness/compare prints first: verdicts, decided checks, and per metric
    the share of points (both runs, same key) whose values agree within tolerance
    -- with valid_only, of the points where no repetition of either run was
    invalid (generator-bound, say): the ones that measured the server."""
    from experiments import get
    ra = {r[0]: r[5] for r in report.claim_rows(sa, False)}
    rb = {r[0]: r[5] for r in report.claim_rows(sb, False)}
    same = [c for c in ra if ra[c] == rb.get(c)]
    out = {"claims": len(ra), "same_verdicts": same,
           "differ": [(c, ra[c], rb.get(c)) for c in ra if ra[c] != rb.get(c)],
           "decided_a": report.decided_counts(sa), "decided_b": report.decided_counts(sb),
           "metrics": {},
           # A run whose idle CPUs halted charges a VM's wake-ups to the servers
           # (lib/capture.py): its CPU per request at low rates is another measure.
           "idle": [bool((m.get("cpu_idle") or {}).get("held")) for m in (ma, mb)]}
    ga, gb = {}, {}
    for tag, run, meta, g in (("A", run_a, ma, ga), ("B", run_b, mb, gb)):
        by_exp = {}
        for name, r in _rows_all(run, meta):
            by_exp.setdefault(name, []).append(r)
        for name, rows in by_exp.items():
            rel = getattr(get(name), "RATE_RELATIVE", False)
            for k, rs in _group(rows, rel).items():
                g[(name,) + k] = rs
    common = sorted(set(ga) & set(gb))
    if valid_only:
        out["left_out"] = [k for k in common if not (_offered(ga[k]) and _offered(gb[k]))]
        common = [k for k in common if k not in out["left_out"]]
    out["tolerance"], out["valid_only"] = tolerance, valid_only
    for col, lab in AGREEMENT_METRICS:
        n = agree = 0
        worst = []
        each = []
        window = []  # requests per repetition's window, per point of `each`
        for k in common:
            a, b = A.median_of(ga[k], col), A.median_of(gb[k], col)
            if a is None or b is None or a == 0:
                continue
            n += 1
            dev = abs(b / a - 1)
            each.append((k, a, b, dev <= tolerance))
            window.append(A.median_of(ga[k] + gb[k], "requests"))
            if dev <= tolerance:
                agree += 1
            else:
                worst.append((dev, k, a, b))
        worst.sort(reverse=True)
        drift, agree_drift = _drift(each, tolerance)
        out["metrics"][col] = {"label": lab, "points": n, "agree": agree, "worst": worst[:5],
                               "each": each, "drift": drift, "agree_after_drift": agree_drift,
                               "by_window": _by_window(each, window)}
    out["common_points"] = len(common)
    return out


def _drift(each, tolerance):
    """The median ratio B/A over the points, and how many points agree within
    tolerance once B is divided by it.  A diagnostic beside the agreement, not a
    replacement: when most points move together, the machine changed between the
    runs (a VM's host, say) more than the servers' results scattered."""
    ratios = sorted(b / a for _, a, b, _ in each)
    if not ratios:
        return None, 0
    mid = len(ratios) // 2
    drift = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
    return drift, sum(1 for r in ratios if abs(r / drift - 1) <= tolerance)


def _by_window(each, window, bins=WINDOW_BINS):
    """[(label, points agreeing, points)] per range of requests per window (see
    WINDOW_BINS); points whose request count is unknown are left out."""
    edges = [None] + list(bins) + [None]
    out = []
    for lo, hi in zip(edges, edges[1:]):
        inside = [e for e, w in zip(each, window) if w is not None
                  and (lo is None or w >= lo) and (hi is None or w < hi)]
        label = ("under %d" % hi if lo is None else
                 "%d and over" % lo if hi is None else "%d to %d" % (lo, hi))
        out.append((label, sum(1 for e in inside if e[3]), len(inside)))
    return out


def agreement_lines(ag):
    lines = []
    n = ag["claims"]
    if not ag["differ"]:
        lines.append("verdicts: identical for all %d claims" % n)
    else:
        lines.append("verdicts: %d of %d identical; differ: %s" % (
            len(ag["same_verdicts"]), n,
            ", ".join("%s %s vs %s" % (c, a, b) for c, a, b in ag["differ"])))
    if ag.get("idle") and ag["idle"][0] != ag["idle"][1]:
        lines.append("idle CPUs: %s in A, %s in B, so CPU per request at low rates measures "
                     "different things (docs/methodology.md)"
                     % tuple("polling" if x else "halting" for x in ag["idle"]))
    for tag in ("a", "b"):
        t, d, h = ag["decided_" + tag]
        lines.append("checks decided in %s: %d of %d (%d hold)" % (tag.upper(), d, t, h))
    for col, m in ag["metrics"].items():
        if not m["points"]:
            lines.append("%s: no point both runs measured" % m["label"])
            continue
        line = ("%s: %d of %d points%s agree within %d%% (%.1f%%)"
                % (m["label"], m["agree"], m["points"],
                   " valid in both runs" if ag.get("valid_only") else "",
                   round(100 * ag.get("tolerance", AGREE)), 100.0 * m["agree"] / m["points"]))
        if m.get("drift"):
            line += ("; median B/A %.2f, and %d (%.1f%%) within %d%% of it"
                     % (m["drift"], m["agree_after_drift"],
                        100.0 * m["agree_after_drift"] / m["points"],
                        round(100 * ag.get("tolerance", AGREE))))
        if col == "cpu_us_per_req" and m.get("by_window"):
            line += "; by requests per window: " + ", ".join(
                "%s %d of %d" % (lab, g, t) for lab, g, t in m["by_window"] if t)
        if m["worst"]:
            line += "; furthest: " + "; ".join(
                "%s %s: %.4g vs %.4g" % (k[0], _describe(k[1:], False), a, b)
                for _, k, a, b in m["worst"][:3])
        lines.append(line)
    if ag.get("valid_only"):
        lines.append("left out, invalid in a repetition of either run (generator-bound, ...): "
                     "%s" % ("; ".join("%s %s" % (k[0], _describe(k[1:], False))
                                       for k in ag["left_out"]) or "none"))
    return lines


def point_lines(ag, col="rps"):
    """Every compared point of one metric: A, B, B/A and whether they agree."""
    m = ag["metrics"].get(col) or {}
    return ["%-45s %10.4g %10.4g  %5.2f  %s" % (k[0] + " " + _describe(k[1:], False), a, b, b / a,
                                                 "ok" if ok else "DIFFERS")
            for k, a, b, ok in m.get("each", [])]


def _group(rows, rel):
    caps = {}
    for r in rows:
        if r["variant"] == "probe" and r["path"] == "*":
            caps[(r["model"], r["offload"], r["reactors"], r["rep"])] = num(r, "rps")
    g = {}
    for r in rows:
        if r["variant"] in ("strace", "syscalls") or r["path"] != "*":
            continue
        g.setdefault(_key(r, rel, caps), []).append(r)
    return g


def _summaries(run_dir, meta):
    import json
    out = []
    for n in meta.get("experiments", {}):
        p = os.path.join(run_dir, n, "summary.json")
        if os.path.exists(p):
            with open(p) as f:
                out.append(json.load(f))
    return out


def _ratios(rows_a, rows_b, rel):
    def group(rows):
        caps = {}
        for r in rows:
            if r["variant"] == "probe" and r["path"] == "*":
                caps[(r["model"], r["offload"], r["reactors"], r["rep"])] = num(r, "rps")
        g = {}
        for r in rows:
            if r["variant"] in ("strace", "syscalls"):
                continue
            g.setdefault(_key(r, rel, caps), []).append(r)
        return g
    ga, gb = group(rows_a), group(rows_b)
    body = []
    for k in sorted(set(ga) & set(gb), key=lambda k: (A.series_key(k[0]), k)):
        for col, lab, f in METRICS:
            a, b = A.median_of(ga[k], col), A.median_of(gb[k], col)
            if a is None and b is None:
                continue
            ratio = A.ratio(b, a)
            body.append([_describe(k, rel), lab, f(a), f(b), "%.2f" % ratio if ratio is not None else "—"])
    return body


def _instr(run_a, run_b):
    def load(run):
        p = os.path.join(run, "instr", "instr.csv")
        out = {}
        if os.path.exists(p):
            with open(p) as f:
                for r in csv.DictReader(f):
                    out.setdefault((r["series"], r["conns"]), []).append(float(r["ir_per_req"]))
        return {k: sorted(v)[len(v) // 2] for k, v in out.items()}
    a, b = load(run_a), load(run_b)
    return [["%s c=%s" % k, "%.0f" % a[k], "%.0f" % b[k], "%.2f" % (b[k] / a[k])]
            for k in sorted(set(a) & set(b), key=lambda k: A.series_key(k[0]))]
