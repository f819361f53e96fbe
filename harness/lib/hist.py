"""loadgen's latency histograms, in the harness: read from its JSON, merged
exactly, and read back by loadgen's own rules (loads/hist.c).

loadgen writes each histogram as its non-empty buckets, `[[upper_bound_us, count],
...]`; the buckets are the same in every run (3 significant digits, log-linear), so
two histograms merge by adding counts bucket by bucket -- which is how loadgen
merges its own threads.  A percentile read off the sum is the one a single
generator holding every sample would have printed.  Averaging the generators'
percentiles would not be: the p99 of two halves is not the mean of their p99s.

The exact min, max, mean and standard deviation are not in the buckets; they come
from each part's summary (`latency_us`): min and max merge exactly, the mean and
the deviation through the sums they stand for.
"""
import math

SUMMARY_KEYS = ("p50", "p90", "p99", "p999", "p9999", "min", "max", "mean", "stdev", "count")
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9), ("p9999", 99.99))


class HistError(ValueError):
    pass


class Hist:
    def __init__(self):
        self.counts = {}        # bucket upper bound (us) -> count
        self.total = 0
        self.min = None
        self.max = 0
        self.sum = 0.0          # of the values, us
        self.sumsq = 0.0

    @classmethod
    def from_loadgen(cls, buckets, summary):
        """One histogram of a loadgen JSON: its `[[upper, count], ...]` and the
        matching summary (`latency_us`, or a path's)."""
        h = cls()
        for upper, count in buckets or ():
            if count < 0 or int(upper) != upper:
                raise HistError("bucket [%r, %r] is not a loadgen bucket" % (upper, count))
            h.counts[int(upper)] = h.counts.get(int(upper), 0) + int(count)
            h.total += int(count)
        n = (summary or {}).get("count", h.total)
        if n != h.total:
            raise HistError("the buckets hold %d values but the summary says %d" % (h.total, n))
        if h.total:
            h.min = summary["min"]
            h.max = summary["max"]
            h.sum = summary["mean"] * h.total
            h.sumsq = h.total * (summary["stdev"] ** 2 + summary["mean"] ** 2)
        return h

    def add(self, other):
        """self += other, bucket by bucket."""
        for upper, count in other.counts.items():
            self.counts[upper] = self.counts.get(upper, 0) + count
        self.total += other.total
        if other.total:
            self.min = other.min if self.min is None else min(self.min, other.min)
            self.max = max(self.max, other.max)
        self.sum += other.sum
        self.sumsq += other.sumsq
        return self

    def percentile(self, pct):
        """loads/hist.c's hist_percentile: the upper bound of the bucket holding the
        ceil(pct/100 * total)-th smallest value, never above the exact maximum."""
        if not self.total:
            return 0
        if pct >= 100.0:
            return self.max
        rank = max(1, math.ceil(pct / 100.0 * self.total))
        seen = 0
        for upper in sorted(self.counts):
            seen += self.counts[upper]
            if seen >= rank:
                return min(upper, self.max)
        return self.max

    def summary(self):
        """The same keys as loadgen's `latency_us`."""
        out = {k: self.percentile(p) for k, p in PERCENTILES}
        mean = self.sum / self.total if self.total else 0.0
        var = self.sumsq / self.total - mean * mean if self.total else 0.0
        out.update({"min": self.min if self.total else 0, "max": self.max,
                    "mean": round(mean, 3), "stdev": round(math.sqrt(var) if var > 0 else 0.0, 3),
                    "count": self.total})
        return out

    def buckets(self):
        """Back to loadgen's form: non-empty buckets, ascending."""
        return [[u, self.counts[u]] for u in sorted(self.counts) if self.counts[u]]


def merged(parts):
    """The sum of several (buckets, summary) pairs, as a Hist."""
    total = Hist()
    for buckets, summary in parts:
        total.add(Hist.from_loadgen(buckets, summary))
    return total
