"""What every experiment module shares: per-mode timing, model selection, the data
an experiment's figures, tables and verdicts are computed from.

An experiment module (harness/experiments/<name>.py) defines:
  NAME, TITLE, CLAIMS (ids it gives a verdict on), ABOUT (what is run and why),
  SERVER_CPUS, GEN_CPUS (taskset lists),
  plan(ctx) -> [Point]            the sweep for ctx.mode, models interleaved
  figures(d) -> [plots.Figure]    from the experiment's rows
  tables(d) -> [(title, headers, rows)]
  verdicts(d) -> [Verdict]        the rule that decides, from the data
  context(d) -> [str]             findings that are context rather than a verdict
"""
import os
from dataclasses import dataclass, field

from . import csvio, models

# Measured window, warm-up and repetitions per mode.  `smoke` is the harness
# self-test; `quick` is `make bench` (the whole suite in well under 15 minutes on
# two cores); `full` is `make bench-full` (at least three repetitions everywhere).
WINDOW = {"smoke": 1.0, "quick": 2.0, "full": 5.0}
WARMUP = {"smoke": 0.3, "quick": 1.0, "full": 1.0}
REPS = {"smoke": 1, "quick": 1, "full": 3}
TIMEOUT_MS = {"smoke": 1000, "quick": 2000, "full": 5000}


@dataclass
class Ctx:
    mode: str
    available: list            # models with a binary
    only: list = None          # --models filter
    cores: int = 2

    def pick(self, wanted):
        """The wanted models that exist here (and pass --models), in order."""
        return [m for m in wanted if m in self.available and (not self.only or m in self.only)]

    def missing(self, wanted):
        return [m for m in wanted if m not in self.available and (not self.only or m in self.only)]

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


@dataclass
class Data:
    name: str
    rows: list
    exp_dir: str
    mode: str
    meta: dict = field(default_factory=dict)

    @property
    def raw_dir(self):
        return os.path.join(self.exp_dir, "raw")

    @property
    def provisional(self):
        return self.mode != "full"


def load(run_dir, name, meta):
    rows = [r for r in csvio.read(os.path.join(run_dir, "data.csv")) if r["experiment"] == name]
    return Data(name, rows, os.path.join(run_dir, name), meta.get("mode", "quick"), meta)


def event_models(ms):
    return [m for m in ms if models.is_event(m)]


def with_offload(ctx, ms, quick_skip, offload):
    """[(model, offload)]: each model of ms this run picks (less quick_skip outside
    full mode) as it is, and each event model again with --offload offload."""
    out = []
    for m in ctx.pick(ms):
        if ctx.mode != "full" and m in quick_skip:
            continue
        out.append((m, None))
        if models.is_event(m):
            out.append((m, offload))
    return out
