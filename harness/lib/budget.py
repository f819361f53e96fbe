"""The time budget of `make bench`: every experiment in quick mode, at least three
repetitions of every point, within TOTAL_S on a 2-core machine (build and `make
deps` not counted).

Each experiment declares QUICK_BUDGET_S; its plan's estimate (the sum of its
points' Point.est_seconds(), every model it names assumed built) must fit in it, and
the budgets, the experiments announced but not written yet (RESERVED_S) and the
run's fixed costs (FIXED_S) must fit in TOTAL_S.  `harness/run --list` prints the
estimates; `make test` (tests/harness/rules.py) fails when they do not fit, so a
model or a point added to quick mode has to pay for itself by shortening or dropping
points elsewhere, never repetitions.
"""
from . import exp

TOTAL_S = 20 * 60
# Quick-mode budgets of experiments that are announced but not written yet.  An
# experiment of that name, once in experiments.ORDER, declares its own budget and
# its reservation here stops counting.
RESERVED_S = {}
# The run's own costs outside the points: meta.json (steal and busy samples, tool
# versions, perf probes: about 5 s), the calibration of K (five server starts), and
# the figures and reports (about 20 s of gnuplot for every experiment).
FIXED_S = 30
# An experiment's own costs outside its points: a database (USES_DB) is made with
# initdb, started, filled with 10,000 rows, then stopped and removed -- 1.5 s on
# the idle 2-core machine (`time harness/pg run -- true`), 4.8 s while other work
# shared it: counted as 5 s, once in every round (one per repetition: suite runs
# an experiment's repetitions in rounds and makes its database in each).
DB_START_S = 5.0


def own_seconds(mod, rounds=1):
    """What an experiment costs beside its points, over `rounds` rounds."""
    return DB_START_S * rounds if getattr(mod, "USES_DB", False) else 0.0


def estimate(mod, mode="quick", cores=2):
    """Seconds the plan of `mod` takes in `mode`, with every model it names built."""
    ctx = exp.Ctx(mode, list(mod.MODELS) + ["nginx"], None, cores, 0, mod.NAME)
    pts = mod.plan(ctx)
    return own_seconds(mod, len({p.rep or 1 for p in pts})) + sum(p.est_seconds() for p in pts)


def table(mods, mode="quick", cores=2):
    """[(name, estimate, budget)] for the experiments, then the reserved ones."""
    rows = [(m.NAME, estimate(m, mode, cores), getattr(m, "QUICK_BUDGET_S", None)) for m in mods]
    names = {m.NAME for m in mods}
    rows += [(n, None, b) for n, b in RESERVED_S.items() if n not in names]
    return rows


def problems(mods, cores=2):
    """What breaks the budget, as sentences (empty: it fits)."""
    out = []
    total = FIXED_S
    for name, est, bud in table(mods, "quick", cores):
        if bud is None:
            out.append("%s declares no QUICK_BUDGET_S" % name)
            continue
        total += bud
        if est is not None and est > bud:
            out.append("%s: its quick plan is estimated at %.0f s, over its budget of %d s"
                       % (name, est, bud))
    if total > TOTAL_S:
        out.append("the budgets add up to %d s (fixed costs %d s included), over make bench's %d s"
                   % (total, FIXED_S, TOTAL_S))
    return out


def lines(mods, mode="quick", cores=2):
    """The plan's estimate, as printed by `harness/run --list` and at the start of a run."""
    rows = table(mods, mode, cores)
    out = ["%-12s %8s %8s" % ("experiment", "estimate", "budget")]
    est_now, bud_total, reserved = FIXED_S, FIXED_S, 0
    for name, est, bud in rows:
        out.append("%-12s %8s %8s" % (name, "%.0f s" % est if est is not None else "reserved",
                                       "%d s" % bud if bud is not None else "-"))
        if est is None:
            reserved += bud or 0
        else:
            est_now += est
        bud_total += bud or 0
    out.append("%-12s %8s %8s" % ("fixed costs", "%d s" % FIXED_S, "%d s" % FIXED_S))
    out.append("%-12s %8s %8s   (these experiments and the run's fixed costs)"
               % ("this plan", "%.0f s" % est_now, "%d s" % (bud_total - reserved)))
    out.append("%-12s %8s %8s   (make bench must finish within %d s)"
               % ("with reserved", "%.0f s" % (est_now + reserved), "%d s" % bud_total, TOTAL_S))
    return out
