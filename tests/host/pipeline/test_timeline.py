"""Timeline: each record closes once, in order, and a failing on_turn does not stop it."""
import pytest

from host.pipeline.timeline import Timeline


def test_a_record_closes_once_and_reaches_on_turn():
    seen = []
    timeline = Timeline(seen.append, clock=lambda: 12.5)
    record = timeline.start("vad", speech_started_s=10.0)
    assert timeline.close(record, "answered") and not timeline.close(record, "error")
    assert seen == [record] and (record.outcome, record.done_s) == ("answered", 12.5)
    assert timeline.start("vad").turn == record.turn + 1


def test_an_on_turn_that_raises_is_counted_and_the_next_turn_still_closes():
    def explode(record):
        raise RuntimeError("printer on fire")

    timeline = Timeline(explode)
    first, second = timeline.start("vad"), timeline.start("vad")
    assert timeline.close(first, "answered") and timeline.close(second, "nothing")
    assert timeline.callback_errors == 2
    assert [r.outcome for r in timeline.records] == ["answered", "nothing"]


def test_an_unknown_outcome_is_refused():
    timeline = Timeline()
    with pytest.raises(ValueError, match="unknown outcome 'maybe'"):
        timeline.close(timeline.start("vad"), "maybe")
