"""blocking — a blocking call inside the loop (C5).

An open-loop mix at 1,000 requests/s on 64 connections: 99 % cheap `GET /` and 1 %
`GET /block?us=20000` (a 20 ms blocking sleep, a stand-in for a blocking disk or
database call), every server on the same one core.  On a plain event loop the sleep
stops the loop: every client's cheap request that arrives meanwhile waits.  With
`--offload 4` the call sleeps on a worker thread and the loop keeps answering; the
core stays free, since a sleep uses none.  Threads and pool block only the
connection's own thread.
"""
import sys

from lib import headofline as H
from lib.verdict import UNANSWERED_MAX, Threshold, from_checks, Verdict, NOT_DECIDED

NAME = "blocking"
TITLE = "A blocking call inside the loop, with and without a worker pool"
CLAIMS = ["C5"]
SERVER_CPUS, GEN_CPUS = "0", "1"
MODELS = ["threads", "pool", "prefork", "epoll", "libev", "libuv", "uring", "node"]
QUICK_MODELS = ["threads", "epoll", "libuv", "node"]
QUICK_BUDGET_S = 45
OFFLOAD = 4
BLOCK_US = 20000
ABOUT = __doc__.split("\n", 2)[2].strip()

BLOCK_STALL = Threshold(
    "BLOCK_STALL", 0.5, "of the blocking call's time (cheap p99)", "physical",
    "With 1 % of 1,000 req/s sleeping 20 ms on the loop, the loop is stopped a share "
    "f = 0.2 of the time; a cheap request arriving meanwhile waits for the rest of the "
    "sleep, so the cheap p99 of a loop that stalls is 20 ms x (1 - 0.01/f) = 19 ms, and "
    "that of one whose workers sleep instead is loopback latency (well under 1 ms here, "
    "the core being idle during a sleep).  Half the call (10 ms) lies far from both.")
THRESHOLDS = [BLOCK_STALL, UNANSWERED_MAX]


def plan(ctx):
    return H.plan(ctx, sys.modules[__name__], "/block?us=%d" % BLOCK_US, "/block",
                  BLOCK_US, OFFLOAD)


def figures(d):
    return H.figure(d, "blocking_p99", "Cheap GET / p99 beside 1%% GET /block?us=%d" % BLOCK_US,
                    "/block?us=%d" % BLOCK_US, BLOCK_US)


def tables(d):
    return H.table(d, "GET /block?us=%d" % BLOCK_US)


def verdicts(d):
    checks = H.checks(d, OFFLOAD, BLOCK_STALL, "the 20 ms blocking calls",
                      "the worker pool takes the call and the loop keeps answering")
    if not checks:
        return [Verdict("C5", NOT_DECIDED, "no event model was measured", NAME)]
    return [from_checks("C5", checks, NAME)]


def context(d):
    return H.threads_context(d, "blocked")
