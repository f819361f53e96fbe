"""What every experiment module shares: per-mode timing and repetitions, which
models a mode runs, the order points run in, and the data an experiment's figures,
tables and verdicts are computed from.

An experiment module (harness/experiments/<name>.py) defines:
  NAME, TITLE, CLAIMS (ids it gives a verdict on), ABOUT (what is run and why),
  SERVER_CPUS, GEN_CPUS (taskset lists),
  MODELS             every model it can run (full mode runs them all)
  QUICK_MODELS       the ones quick mode runs: an explicit list, so a model added to
                     the project joins quick mode only where an experiment asks
  QUICK_BUDGET_S     seconds of `make bench` it may take (its plan's estimate must fit)
  THRESHOLDS         the verdict.Threshold objects its rule compares against
  plan(ctx) -> [Point]            the sweep for ctx.mode (through ctx.interleave)
  figures(d) -> [plots.Figure]    from the experiment's rows
  tables(d) -> [(title, headers, rows)]
  verdicts(d) -> [Verdict]        the rule that decides, from the data
  context(d) -> [str]             findings that are context rather than a verdict
"""
import gzip
import json
import os
import random
from dataclasses import dataclass, field

from . import csvio, models, plan as planmod

# Measured window, warm-up and repetitions per mode.  `smoke` is the harness
# self-test; `quick` is `make bench` (at least three repetitions of every point,
# within the time budget in lib/budget.py); `full` is `make bench-full`.
WINDOW = {"smoke": 1.0, "quick": 1.25, "full": 5.0}
WARMUP = {"smoke": 0.3, "quick": 0.5, "full": 1.0}
REPS = {"smoke": 1, "quick": 3, "full": 3}
TIMEOUT_MS = {"smoke": 1000, "quick": 2000, "full": 5000}


@dataclass
class Ctx:
    mode: str
    available: list            # models with a binary
    only: list = None          # --models filter
    cores: int = 2
    seed: int = 0              # the order of x-values (recorded in meta.json)
    experiment: str = ""

    def models(self, every, quick):
        """The models an experiment runs in this mode (`every` in full and smoke mode,
        `quick` in quick mode) that exist here and pass --models."""
        return self.pick(quick if self.mode == "quick" else every)

    def pick(self, wanted):
        """The wanted models that exist here (and pass --models), in order."""
        return [m for m in wanted if m in self.available and (not self.only or m in self.only)]

    def missing(self, wanted):
        return [m for m in wanted if m not in self.available and (not self.only or m in self.only)]

    def interleave(self, sweep, series, first=()):
        """plan.interleave with this run's repetitions and a shuffle seeded by the
        run's seed and the experiment, so `--seed` reproduces an order."""
        rng = random.Random("%s:%s" % (self.seed, self.experiment))
        return planmod.interleave(self.reps, sweep, series, rng, first)

    @property
    def window(self):
        return WINDOW[self.mode]

    @property
    def warmup(self):
        return WARMUP[self.mode]

    @property
    def reps(self):
        return REPS[self.mode]

    @property
    def timeout_ms(self):
        return TIMEOUT_MS[self.mode]


def run_reps(meta):
    """Repetitions per point of a run: recorded in its meta.json (schema 2); runs of
    schema 1 ran one in quick and smoke mode, three in full."""
    if meta.get("repetitions"):
        return meta["repetitions"]
    return {"full": 3}.get(meta.get("mode"), 1)


def read_points(exp_dir):
    """raw/points.jsonl: every point of an experiment, in run order, with its status
    and what the runner noted (the one reader of that file)."""
    path = os.path.join(exp_dir, "raw", "points.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


HISTS = "hist.jsonl"


def read_hists(exp_dir):
    """{(seq, path): histogram with the unanswered counted at the timeout} for the
    experiment's rows: hist.jsonl.gz once the experiment has finished, hist.jsonl
    while it runs (or when it was interrupted)."""
    out = {}
    path = os.path.join(exp_dir, HISTS)
    if os.path.exists(path + ".gz"):
        f = gzip.open(path + ".gz", "rt")
    elif os.path.exists(path):
        f = open(path)
    else:
        return out
    with f:
        for line in f:
            if line.strip():
                h = json.loads(line)
                out[(str(h["seq"]), h["path"])] = h["hist"]
    return out


def compress_hists(exp_dir):
    """hist.jsonl -> hist.jsonl.gz (a quarter of the size) once nothing appends."""
    path = os.path.join(exp_dir, HISTS)
    if not os.path.exists(path):
        return
    with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
        dst.write(src.read())
    os.unlink(path)


@dataclass
class Data:
    name: str
    rows: list
    exp_dir: str
    mode: str
    meta: dict = field(default_factory=dict)
    points: list = None        # raw/points.jsonl, read when first asked for

    def __post_init__(self):
        if self.points is None:
            self.points = read_points(self.exp_dir)

    @property
    def raw_dir(self):
        return os.path.join(self.exp_dir, "raw")

    @property
    def reps(self):
        reps = {r.get("rep") for r in self.rows}
        return len(reps)

    @property
    def provisional(self):
        from .verdict import MIN_REPS
        return run_reps(self.meta) < MIN_REPS

    def cores(self):
        """The cores of the machine the run's server ran on (meta.json), not the
        reader's: this machine's, or the server host's (docs/hosts.md)."""
        return self.fact("cores") or (self.meta.get("cpu") or {}).get("cores")

    def fact(self, name, default=None):
        return (self.meta.get("machine") or {}).get(name, default)


def load(run_dir, name, meta):
    rows = [r for r in csvio.read(os.path.join(run_dir, "data.csv")) if r["experiment"] == name]
    exp_dir = os.path.join(run_dir, name)
    hists = read_hists(exp_dir)
    for r in rows:
        h = hists.get((r.get("seq", ""), r["path"]))
        if h is not None:
            r["_hist"] = h
        if r.get("schema") == "1" and r.get("gen_bound") == "true":
            # Schema 1 had no validity column; its generator-bound rows are invalid.
            r["valid"], r["invalid"] = "false", "generator-bound"
    return Data(name, rows, exp_dir, meta.get("mode", "quick"), meta)


def event_models(ms):
    return [m for m in ms if models.is_event(m)]


def with_offload(ms, offload):
    """[(model, offload)]: each model as it is, and each event model again with
    --offload offload."""
    out = []
    for m in ms:
        out.append((m, None))
        if models.is_event(m):
            out.append((m, offload))
    return out
