"""The progress line: point i of n, elapsed, and an ETA that learns from the points
run so far (their real cost against the plan's estimate)."""
import sys
import time


def clock(s):
    s = int(max(0, s))
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60) if s >= 3600 else "%d:%02d" % (s // 60, s % 60)


class Progress:
    def __init__(self, estimates, out=sys.stdout, log_path=None):
        self.est = estimates          # seconds per point, in run order
        self.total = len(estimates)
        self.i = 0
        self.t0 = time.monotonic()
        self.spent_est = 0.0
        self.out = out
        self.log = open(log_path, "a") if log_path else None

    def eta(self):
        elapsed = time.monotonic() - self.t0
        rest = sum(self.est[self.i:])
        factor = elapsed / self.spent_est if self.spent_est > 0 else 1.0
        return rest * factor

    def _write(self, text):
        for f in (self.out, self.log):
            if f:
                f.write(text)
                f.flush()

    def begin(self, exp, what):
        self._write("[%4d/%d %s, ETA %s] %-11s %s ... " % (
            self.i + 1, self.total, clock(time.monotonic() - self.t0), clock(self.eta()), exp, what))

    def note(self, text):
        """Text on the point's line before its result (a repetition run again)."""
        self._write(text + " ... ")

    def end(self, result):
        self.spent_est += self.est[self.i] if self.i < self.total else 0
        self.i += 1
        self._write(result + "\n")

    def elapsed(self):
        return time.monotonic() - self.t0
