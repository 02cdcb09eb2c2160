"""A bounded reservoir of the latest latency samples (seconds).

Adding a sample is a store into a preallocated array, cheap enough for the
per-packet path; percentiles are computed only when someone asks.
"""
from array import array

DEFAULT_CAPACITY = 512


class LatencyReservoir:
    """The most recent `capacity` samples, and how many were ever added."""

    __slots__ = ("_samples", "_capacity", "_next", "count")

    def __init__(self, capacity=DEFAULT_CAPACITY):
        if capacity < 1:
            raise ValueError("latency: capacity must be at least 1, got %d" % capacity)
        self._samples = array("d", bytes(8 * capacity))
        self._capacity = capacity
        self._next = 0
        self.count = 0

    def add(self, seconds):
        """Record one sample, overwriting the oldest once full."""
        self._samples[self._next] = seconds
        self._next = (self._next + 1) % self._capacity
        self.count += 1

    def samples(self):
        """The samples currently held (unordered), as a list of seconds."""
        return list(self._samples[:min(self.count, self._capacity)])

    def summary_ms(self, extra=()):
        """count, p50, p95, p99 and max in milliseconds over held samples (+ extra)."""
        return summarize_ms(self.samples() + list(extra), self.count)


def summarize_ms(samples_s, count):
    """Percentile summary of a list of second samples, in milliseconds."""
    if not samples_s:
        return {"count": count, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(samples_s)
    last = len(ordered) - 1

    def pick(fraction):
        return round(ordered[min(last, int(fraction * len(ordered)))] * 1000.0, 4)

    return {"count": count, "p50_ms": pick(0.50), "p95_ms": pick(0.95),
            "p99_ms": pick(0.99), "max_ms": round(ordered[last] * 1000.0, 4)}
