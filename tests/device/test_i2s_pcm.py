"""device/hal/i2s_pcm.py: I2S words to 16-bit mono PCM, sample for sample.

The expected samples come from a reference written here with plain Python
integers (s >> shift on the whole 32-bit value); the module computes the
same from 16-bit halves. The same inputs then run under the MicroPython
unix port, which must give the same samples. No I2S hardware is involved.
"""
import array
import json
import struct

import pytest

from device.hal.i2s_pcm import MonoConverter, gain_terms
from tests.micropython import run_micropython

WORDS32 = [0, 1, -1, 0x01000000, -0x01000000, 0x00012345, -81921, 0x12345600, -0x12345600,
           0x7FFFFF00, -0x80000000, 0x7FFFFFFF, 0x0000FFFF, -0x00010000, 0x00400000, -0x00400001]
GAINS_DB = (0, 6, 12, 18, 24, -20, 60, 6.02)


def clip16(value):
    return max(-32768, min(32767, value))


def reference(words, bits, channels_in, channel, gain_db):
    """Samples the converter must produce: plain 32-bit arithmetic, no halves."""
    shift, multiplier = gain_terms(gain_db)
    frames = [words[i:i + channels_in] for i in range(0, len(words) - channels_in + 1, channels_in)]
    out = []
    for frame in frames:
        values = [(w << 16 if bits == 16 else w) >> shift for w in frame]
        if channel == "left":
            value = values[0]
        elif channel == "right":
            value = values[1]
        else:
            value = (values[0] + values[1]) >> 1
        out.append(clip16((clip16(value) * multiplier) >> 7))
    return out


def as_halves(words, bits):
    """The receive buffer machine.I2S fills, seen as an array('h')."""
    if bits == 32:
        return array.array("h", struct.pack("<%di" % len(words), *words))
    return array.array("h", struct.pack("<%dh" % len(words), *[clip16(w >> 16) for w in words]))


def convert(words, bits, stereo, channel, gain_db):
    converter = MonoConverter(bits, stereo, channel, gain_db)
    count = len(words) // (2 if stereo else 1)
    out = array.array("h", bytes(2 * count))
    converter.convert(as_halves(words, bits), count, out)
    return list(out)


def test_gain_terms_are_a_shift_and_a_7_bit_multiplier():
    assert gain_terms(0) == (16, 128)
    assert gain_terms(18) == (14, 254)   # 7.943 = 2**2 * 1.986
    assert gain_terms(24) == (13, 254)   # 15.85 = 2**3 * 1.981
    assert gain_terms(-20) == (20, 205)  # 0.1 = 2**-4 * 1.6
    assert gain_terms(60) == (7, 250)    # 1000 = 2**9 * 1.953
    assert gain_terms(6.02) == (15, 128)  # m rounds up to 2.0: one more shift instead
    for tenth_db in range(-200, 601, 7):
        gain_db = tenth_db / 10
        shift, multiplier = gain_terms(gain_db)
        assert 128 <= multiplier < 256
        assert abs(2.0 ** (16 - shift) * multiplier / 128 / 10 ** (gain_db / 20) - 1) < 0.004, gain_db


def test_inmp441_words_at_the_devkit_board_gain():
    # +18 dB (the DevKitC + INMP441 board): 0x01000000 is 256 at 0 dB, 2033.5 exactly at 7.943x.
    assert convert([0x01000000, -0x01000000, -81921, 0], 32, False, "left", 18) == [2032, -2032, -12, 0]
    assert convert([0x01000000, 0x7FFFFF00, -0x80000000], 32, False, "left", 0) == [256, 32767, -32768]
    # Full scale saturates instead of wrapping.
    assert convert([0x7FFFFF00, -0x80000000, 0x12345600], 32, False, "left", 24) == [32767, -32768, 32767]


def test_channel_selection_from_a_stereo_buffer():
    left, right = 0x00400000, -0x00200000   # 64 and -32 at 0 dB
    words = [left, right, right, left]
    assert convert(words, 32, True, "left", 0) == [64, -32]
    assert convert(words, 32, True, "right", 0) == [-32, 64]
    assert convert(words, 32, True, "stereo", 0) == [16, 16]
    assert convert(words, 16, True, "right", 0) == [-32, 64]


@pytest.mark.parametrize("bits", [32, 16])
@pytest.mark.parametrize("stereo,channel",
                         [(False, "left"), (True, "left"), (True, "right"), (True, "stereo")])
def test_every_sample_matches_the_reference(bits, stereo, channel):
    for gain_db in GAINS_DB:
        expected = reference(WORDS32 if bits == 32 else [clip16(w >> 16) for w in WORDS32], bits,
                             2 if stereo else 1, channel, gain_db)
        assert convert(WORDS32, bits, stereo, channel, gain_db) == expected, gain_db


def test_a_mono_buffer_has_no_right_channel():
    with pytest.raises(ValueError, match="right channel needs a STEREO buffer"):
        MonoConverter(32, False, "right", 0)
    with pytest.raises(ValueError, match="bits must be 16 or 32"):
        MonoConverter(24, False, "left", 0)


MICROPYTHON_SCRIPT = r'''
import array, json, struct
from device.hal.i2s_pcm import MonoConverter, gain_terms
words = %s
results = {}
for bits in (32, 16):
    if bits == 32:
        halves = array.array("h", struct.pack("<%%di" %% len(words), *words))
    else:
        tops = [max(-32768, min(32767, w >> 16)) for w in words]
        halves = array.array("h", struct.pack("<%%dh" %% len(words), *tops))
    for stereo, channel in ((False, "left"), (True, "left"), (True, "right"), (True, "stereo")):
        for gain_db in %s:
            converter = MonoConverter(bits, stereo, channel, gain_db)
            count = len(words) // (2 if stereo else 1)
            out = array.array("h", bytes(2 * count))
            converter.convert(halves, count, out)
            key = "%%d %%s %%s %%s" %% (bits, stereo, channel, gain_db)
            results[key] = [list(gain_terms(gain_db)), list(out)]
print(json.dumps(results))
'''


def test_micropython_gives_the_same_samples():
    output = run_micropython(MICROPYTHON_SCRIPT % (WORDS32, list(GAINS_DB)))
    results = json.loads(output.strip().splitlines()[-1])
    assert len(results) == 2 * 4 * len(GAINS_DB)
    for key, (terms, samples) in results.items():
        bits, stereo, channel, gain_db = key.split()
        bits, stereo, gain_db = int(bits), stereo == "True", float(gain_db)
        assert tuple(terms) == gain_terms(gain_db), key
        assert samples == convert(WORDS32, bits, stereo, channel, gain_db), key
