"""hol — head-of-line blocking behind CPU work (C4).

An open-loop mix at 1,000 requests/s on 64 connections: 99 % cheap `GET /` and 1 %
`GET /cpu?us=20000` (20 ms of work), every server on the same one core.  The p99 of
the *cheap* requests shows whether they wait behind the expensive ones: on a plain
event loop every cheap request that arrives during a 20 ms computation waits for the
rest of it; with `--offload 4` the computation runs on worker threads (on the same
core, so the kernel's scheduler shares it) and the loop keeps answering.  Threads
are the reference: the kernel preempts the computation to run a cheap request.
"""
import sys

from lib import headofline as H
from lib.verdict import UNANSWERED_MAX, Threshold, from_checks, Verdict, NOT_DECIDED

NAME = "hol"
TITLE = "Head-of-line blocking: cheap requests behind CPU-heavy ones"
CLAIMS = ["C4"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "prefork", "epoll", "libev", "libuv", "uring", "node"]
QUICK_MODELS = ["threads", "epoll", "libuv", "node"]
QUICK_BUDGET_S = 45
CPU_WORK = True             # its requests run /cpu: K is measured again before it
OFFLOAD = 4
HEAVY_US = 20000
ABOUT = __doc__.split("\n", 2)[2].strip()

CPU_STALL = Threshold(
    "CPU_STALL", 0.5, "of the heavy request's time (cheap p99)", "physical",
    "With 1 % of 1,000 req/s taking 20 ms of CPU, the loop computes a share f = 0.2 of the "
    "time; a cheap request arriving meanwhile waits for the rest of the computation, so "
    "the cheap p99 of a loop that stalls is 20 ms x (1 - 0.01/f) = 19 ms, and that of one "
    "that does not is loopback latency plus a scheduler slice (about 1 ms).  Half the "
    "heavy request (10 ms) lies far from both.")
THRESHOLDS = [CPU_STALL, UNANSWERED_MAX]


def plan(ctx):
    return H.plan(ctx, sys.modules[__name__], "/cpu?us=%d" % HEAVY_US, "/cpu",
                  HEAVY_US, OFFLOAD)


def figures(d):
    return H.figure(d, "hol_p99", "Cheap GET / p99 beside 1%% GET /cpu?us=%d" % HEAVY_US,
                    "/cpu?us=%d" % HEAVY_US, HEAVY_US)


def tables(d):
    return H.table(d, "GET /cpu?us=%d" % HEAVY_US)


def verdicts(d):
    checks = H.checks(d, OFFLOAD, CPU_STALL, "the 20 ms computations",
                      "the computation moves to a worker thread and the loop keeps answering")
    if not checks:
        return [Verdict("C4", NOT_DECIDED, "no event model was measured", NAME)]
    return [from_checks("C4", checks, NAME)]


def context(d):
    return H.threads_context(d, "computing")
