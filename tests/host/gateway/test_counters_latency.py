"""Counters and the latency reservoir: the bookkeeping the exporter will read."""
import pytest

from host.gateway.counters import COUNTER_NAMES, COUNTERS, Counters
from host.gateway.latency import LatencyReservoir


def test_every_counter_is_documented_and_starts_at_zero():
    counters = Counters()
    assert list(counters.as_dict()) == list(COUNTER_NAMES)
    assert set(counters.as_dict().values()) == {0}
    assert all(COUNTERS[name] for name in COUNTER_NAMES)
    with pytest.raises(AttributeError):
        counters.not_a_counter = 1  # __slots__: a typo cannot create a silent new counter


def test_totals_add_counts():
    first, second = Counters(), Counters()
    first.received, second.received, second.auth_failed = 3, 4, 2
    total = Counters().add(first).add(second)
    assert (total.received, total.auth_failed, total.lost) == (7, 2, 0)
    assert first.received == 3  # add() leaves its argument alone


def test_reservoir_keeps_the_latest_samples_and_counts_all():
    reservoir = LatencyReservoir(capacity=4)
    for value_ms in (100, 1, 2, 3, 4):
        reservoir.add(value_ms / 1000)
    assert sorted(reservoir.samples()) == [0.001, 0.002, 0.003, 0.004]  # 100 ms overwritten
    summary = reservoir.summary_ms()
    assert summary["count"] == 5
    assert (summary["p50_ms"], summary["max_ms"]) == (3.0, 4.0)


def test_empty_reservoir_summary_has_no_figures():
    assert LatencyReservoir(8).summary_ms() == {
        "count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    with pytest.raises(ValueError):
        LatencyReservoir(0)
