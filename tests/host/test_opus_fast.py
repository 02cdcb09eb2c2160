"""The host's fast libopus decoder gives exactly what opuslib_next gives."""
import numpy as np
import opuslib_next
import pytest

from device import codec
from host import opus_fast


def _packets(count=25):
    encoder = codec.OpusEncoder(16000, 1)
    t = np.arange(count * 320) / 16000
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    return [encoder.encode(pcm[i:i + 640]) for i in range(0, len(pcm), 640)]


def test_decode_conceal_and_fec_match_opuslib():
    packets = _packets()
    reference = opuslib_next.Decoder(16000, 1)
    fast = opus_fast.Decoder(16000, 1)
    for i, packet in enumerate(packets):
        if i % 7 == 3:
            assert fast.decode(packet, 320, True) == reference.decode(packet, 320, True)
        if i % 5 == 2:
            assert fast.decode(b"", 320) == reference.decode(b"", 320)
        assert fast.decode(packet, 1920) == reference.decode(packet, 1920)


def test_errors_are_opus_errors():
    fast = opus_fast.Decoder(16000, 1)
    with pytest.raises(opus_fast.OpusError):
        fast.decode(b"\xff\xff\xff", 320)
    with pytest.raises(opus_fast.OpusError):
        fast.decode(_packets(1)[0], 10 ** 6)
