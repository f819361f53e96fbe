"""harness/run --resume RUN_DIR: finish a run that was interrupted (Ctrl-C, SIGTERM,
a lost terminal, a killed harness) without losing what it measured.

A full-mode run takes hours; one that stops at point 900 of 1,400 keeps its 900
points on disk (data.csv and each experiment's raw/points.jsonl are flushed point by
point).  Resuming runs the rest into the same directory, with the run's own options
and seed, so the plan -- every point and its place in the shuffled order -- is the
one the run started with, and checks before it runs anything that the rest would be
measured by the same code on the same kind of machine:

- the run is not complete, and no harness is still running it;
- the code is the run's: the same binaries in the build directory (servers, load
  generator, delay line), harness and node server, file for file (`fingerprint`
  in meta.json; a run resumed with other code would mix two versions in one
  data.csv);
- the machine has the run's CPU model, core count and kernel;
- the plan made now is the plan recorded in meta.json, point for point.

What it keeps: every point with a record in its experiment's points.jsonl (done,
skipped or failed, as it was).  What it redoes: the point that was cut short, whose
rows and files are removed first so nothing is counted twice.  The calibration (K)
is the run's, not measured again.  meta.json says when and where each session
resumed (`resumed`), and `wall_s` adds up every session's wall time.
"""
import csv
import glob
import hashlib
import json
import os

from . import meta as metamod, probes


class ResumeError(Exception):
    pass


def load(run_dir, root):
    """(meta, argv): the interrupted run's meta.json, once every check above has
    passed, and the options to plan it again with (its seed included)."""
    path = os.path.join(run_dir, "meta.json")
    if not os.path.exists(path):
        raise ResumeError("%s is not a run directory (no meta.json)" % run_dir)
    meta = metamod.read(path)
    status = meta.get("status")
    if status == "complete":
        raise ResumeError("%s is complete: there is nothing to resume" % run_dir)
    if status not in ("running", "interrupted"):
        raise ResumeError("%s has status %r: only an interrupted run can be resumed"
                          % (run_dir, status))
    pid = meta.get("harness_pid")
    if status == "running" and pid and _harness_alive(pid):
        raise ResumeError("%s is still being run by harness/run (pid %d)" % (run_dir, pid))
    _same_code(meta, root, meta.get("build"))
    _same_machine(meta)
    argv = list(meta.get("argv") or [])[1:]
    if not argv:
        raise ResumeError("%s: meta.json has no argv to plan the run again with" % run_dir)
    if "--seed" not in argv and not any(x.startswith("--seed=") for x in argv):
        argv += ["--seed", str(meta["seed"])]
    return meta, argv


def check_plan(meta, plans):
    """The plan made again must be the recorded one: the same experiments, the
    same points in the same order."""
    recorded = meta.get("experiments") or {}
    names = [m.NAME for m, _ in plans]
    if sorted(names) != sorted(recorded):
        raise ResumeError("the plan's experiments (%s) are not the run's (%s)"
                          % (", ".join(names), ", ".join(recorded)))
    for m, pts in plans:
        now = [[p.rep, p.describe()] for p in pts]
        if now != recorded[m.NAME].get("order"):
            raise ResumeError("%s: the plan made now differs from the run's (models built "
                              "or selected differently?)" % m.NAME)


def done_points(exp_dir):
    """{i: record} of the points the run already finished (one record each in
    raw/points.jsonl, whatever their status); a half-written last line, from a
    harness killed while writing it, counts as not done.  A point's i is its seq
    in data.csv and hist.jsonl."""
    out = {}
    path = os.path.join(exp_dir, "raw", "points.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                rec = _json_or_none(line)
                if rec is not None:
                    out[rec["i"]] = rec
    return out


def drop_unfinished(run_dir, exp_dir, name, done_seqs, hists):
    """Remove what a point that was cut short left: its rows in data.csv (written
    before its points.jsonl record), its histograms, and a half-written last line
    of points.jsonl."""
    path = os.path.join(run_dir, "data.csv")
    if os.path.exists(path):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if rows:
            head = rows[0]
            ie, iseq = head.index("experiment"), head.index("seq")
            keep = [head] + [r for r in rows[1:] if len(r) == len(head) and
                             (r[ie] != name or (r[iseq].isdigit() and int(r[iseq]) in done_seqs))]
            if len(keep) != len(rows):
                _rewrite_csv(path, keep)
    _keep_json_lines(os.path.join(exp_dir, hists), lambda rec: rec.get("seq") in done_seqs)
    _keep_json_lines(os.path.join(exp_dir, "raw", "points.jsonl"), lambda rec: True)


def clear_point_files(exp_dir, base):
    """The raw files of a point about to be run again."""
    for f in glob.glob(os.path.join(exp_dir, base) + ".*"):
        if os.path.isfile(f):
            os.unlink(f)


def _json_or_none(line):
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _keep_json_lines(path, wanted):
    """Rewrite a JSON-lines file with only its whole records that wanted() keeps."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        keep = [line for line in f if (rec := _json_or_none(line)) is not None and wanted(rec)]
    with open(path, "w") as f:
        f.write("".join(x if x.endswith("\n") else x + "\n" for x in keep))


def _rewrite_csv(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    os.replace(tmp, path)


def _harness_alive(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"harness/run" in f.read()
    except OSError:
        return False


def fingerprint(root, build):
    """{file: sha256} of what decides a point's numbers, beside the machine: the
    binaries the harness starts and the code that plans, runs and reads them."""
    files = []
    for pat in ("srv-*", "loadgen", "delayline"):
        files += glob.glob(os.path.join(build, pat))
    for pat in ("harness/run", "harness/lib/*.py", "harness/experiments/*.py",
                "servers/node/server.js", "servers/node/package-lock.json"):
        files += glob.glob(os.path.join(root, pat))
    out = {}
    for f in sorted(set(files)):
        if os.path.isfile(f):
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            key = ("build/" + os.path.relpath(f, build) if f.startswith(build + os.sep)
                   else os.path.relpath(f, root))
            out[key] = h.hexdigest()[:16]
    return out


def _same_code(meta, root, build):
    then = meta.get("fingerprint")
    if not then:
        raise ResumeError("meta.json has no fingerprint of the code it ran (a run made before "
                          "harness/run could resume): it cannot be resumed")
    now = fingerprint(root, build or os.path.join(root, "build"))
    differ = sorted(f for f in set(then) | set(now) if then.get(f) != now.get(f))
    if differ:
        git = meta.get("git") or {}
        raise ResumeError("the code differs from the run's (%s%s): resume it from a checkout "
                          "of %s, built" % (", ".join(differ[:5]), ", ..." if len(differ) > 5 else "",
                                           git.get("describe") or "the run's commit"))


def _same_machine(meta):
    then_cpu, now_cpu = meta.get("cpu") or {}, probes.cpu() or {}
    differ = []
    for what, a, b in (("CPU model", then_cpu.get("model"), now_cpu.get("model")),
                       ("cores", then_cpu.get("cores"), now_cpu.get("cores")),
                       ("kernel", (meta.get("kernel") or {}).get("release"),
                        os.uname().release)):
        if a != b:
            differ.append("%s %s then, %s now" % (what, a, b))
    if differ:
        raise ResumeError("not the machine the run started on: %s" % "; ".join(differ))
