"""The media path end to end on loopback: virtual board -> SRTP -> gateway -> WAV.

The device runtime runs as its own process, under CPython (Opus) and under
the real MicroPython unix port (L16); the gateway is the real asyncio server
with libsrtp and libopus. The recording must be time-aligned with what the
microphone heard and pass a wideband PESQ threshold.

Thresholds were set from measurement on this machine with the espeak-ng voice
of tests/conftest.py: Opus at the default 24 kbps / complexity 5 scored 2.56
(synthetic voices score low under PESQ; a clean codec round trip outside the
network scores the same), L16 scored 4.64 (PESQ's ceiling for identical
wideband signals is about 4.64). Each threshold leaves a margin for the
encoder's run-to-run variation, not for a broken path: a dropped or
misaligned frame costs far more than the margin.
"""
import asyncio

import pytest

from host.loopback import stream_through_gateway
from host.quality import compare
from host.speech import synthesise

PESQ_MIN = {"opus": 2.3, "l16": 4.4}
# Opus delays its output by its look-ahead (2.5 ms) plus the decoder's 4 ms
# at 16 kHz; L16 is sample-exact.
EXPECTED_LAG_MS = {"opus": 6.5, "l16": 0.0}


@pytest.mark.parametrize("runtime, codec_name", [("cpython", "opus"), ("micropython", "l16"),
                                                 ("cpython", "l16")])
def test_speech_arrives_aligned_and_intelligible(speech_wav, tmp_path, runtime, codec_name):
    result = asyncio.run(stream_through_gateway(speech_wav, tmp_path, runtime, codec_name))
    device, counters = result.device_stats, result.session_counters
    assert device["packets_sent"] > 100
    assert counters["received"] == device["packets_sent"]
    assert counters["frames_written"] == device["packets_sent"]
    for refused in ("lost", "late", "auth_failed", "replayed", "malformed", "concealed"):
        assert counters[refused] == 0, refused
    # RTCP went both ways: the gateway took the sender reports and the device
    # heard receiver reports about its own stream.
    assert counters["rtcp_received"] == device["rtcp_sent"]
    assert device["rtcp_received"] >= 1 and device["rtcp_rejected"] == 0
    quality = compare(speech_wav, result.recorded_path)
    assert quality["lag_ms"] == pytest.approx(EXPECTED_LAG_MS[codec_name], abs=1.0)
    # The recording covers the whole utterance: whole frames, nothing missing.
    assert quality["recorded_ms"] == device["packets_sent"] * 20
    assert abs(quality["recorded_ms"] - quality["reference_ms"]) < 20
    assert quality["pesq_wb"] >= PESQ_MIN[codec_name], quality


def test_silence_is_recorded_as_silence(tmp_path):
    quiet = synthesise("one", tmp_path / "one.wav", lead_silence_ms=1000, tail_silence_ms=1000)
    result = asyncio.run(stream_through_gateway(quiet, tmp_path, "cpython", "opus"))
    quality = compare(quiet, result.recorded_path)
    assert quality["lag_ms"] == pytest.approx(6.5, abs=1.0)
    assert result.session_counters["received"] == result.device_stats["packets_sent"]
