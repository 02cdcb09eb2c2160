"""The device's voice gate: silence held back, speech sent with its pre-roll, same on MicroPython."""
import math
import struct
import subprocess
import sys

import pytest

from device.voice_gate import VoiceGate, frame_level
from tests.micropython import REPO_ROOT, run_micropython

FRAME = 320  # 20 ms at 16 kHz


def tone(amplitude, frames=1, frequency_hz=300.0):
    count = FRAME * frames
    return struct.pack("<%dh" % count, *[int(amplitude * math.sin(2 * math.pi * frequency_hz * i / 16000))
                                         for i in range(count)])


def frames_of(pcm):
    return [pcm[i:i + 2 * FRAME] for i in range(0, len(pcm), 2 * FRAME)]


def run_gate(gate, pcm):
    """[(sent?, pre-roll frame count)] per frame."""
    return [(send, len(preroll)) for send, preroll in map(gate.feed, frames_of(pcm))]


def test_level_is_the_mean_absolute_value():
    assert frame_level(bytes(2 * FRAME)) == 0
    assert frame_level(struct.pack("<4h", 100, -7, 7, 7) * (FRAME // 4)) == 100
    assert frame_level(struct.pack("<4h", -32768, 0, 0, 0) * (FRAME // 4)) == 32768


def test_silence_is_held_and_speech_opens_with_the_preroll():
    gate = VoiceGate(preroll_ms=100, hangover_ms=200)
    decisions = run_gate(gate, bytes(2 * FRAME * 30) + tone(3000, 10) + bytes(2 * FRAME * 30))
    assert decisions[:30] == [(False, 0)] * 30
    # Two loud frames open it: the first is held, the second is sent with 5 frames of pre-roll
    # (the first loud frame and the 4 silent ones before it).
    assert decisions[30] == (False, 0) and decisions[31] == (True, 5)
    assert all(send for send, _ in decisions[32:40 + 10])   # the hangover: 10 frames of 200 ms
    assert decisions[50:] == [(False, 0)] * 20
    assert gate.opened == 1 and not gate.open


def test_a_steady_noise_floor_does_not_open_it_but_speech_over_it_does():
    gate = VoiceGate(hangover_ms=200)
    noise = tone(200, 50, frequency_hz=3000.0)     # a fan: level ~127, steady
    assert not any(send for send, _ in run_gate(gate, noise))
    assert 90 <= gate.floor < 140
    assert any(send for send, _ in run_gate(gate, tone(2500, 5)))


def test_a_single_click_does_not_open_it():
    gate = VoiceGate()
    assert run_gate(gate, bytes(2 * FRAME * 5) + tone(8000, 1) + bytes(2 * FRAME * 5)) == [(False, 0)] * 11


def test_reset_drops_the_preroll():
    gate = VoiceGate(preroll_ms=100)
    run_gate(gate, bytes(2 * FRAME * 10))
    gate.reset()
    assert run_gate(gate, tone(3000, 2))[1] == (True, 1)  # only the first loud frame


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="hangover_ms >= frame_ms"):
        VoiceGate(hangover_ms=10)


SCRIPT = r'''
import math, struct
from device.voice_gate import VoiceGate
def tone(a, n, f=300.0):
    return struct.pack("<%dh" % (320 * n), *[int(a * math.sin(2 * math.pi * f * i / 16000)) for i in range(320 * n)])
pcm = bytes(640 * 20) + tone(150, 20, 2000.0) + tone(4000, 15) + bytes(640 * 60)
gate = VoiceGate()
out = []
for i in range(0, len(pcm), 640):
    send, pre = gate.feed(pcm[i:i + 640])
    out.append("%d%d" % (send, len(pre)) if pre else str(int(send)))
print(" ".join(out), gate.floor, gate.opened, gate.frames_held)
'''


def test_the_same_decisions_under_micropython():
    cpython = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                             cwd=str(REPO_ROOT)).stdout
    assert run_micropython(SCRIPT) == cpython
    assert " 115 " in cpython  # it opened with 15 frames of pre-roll
