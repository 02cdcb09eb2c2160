"""Speaker volume (device/volume.py): the curve, software scaling on both runtimes,
and handing the setting to a speaker that has its own volume."""
import asyncio
import struct
import subprocess
import sys

import numpy as np
import pytest

from device.volume import UNITY_Q15, VolumeControl, gain_q15
from tests.micropython import REPO_ROOT, run_micropython


class KeepingSpeaker:
    sample_rate_hz = 16000
    channels = 1

    def __init__(self):
        self.written = []
        self.flushed = 0

    async def write(self, pcm):
        self.written.append(bytes(pcm))

    def flush(self):
        self.flushed += 1


class HardwareVolumeSpeaker(KeepingSpeaker):
    def __init__(self):
        KeepingSpeaker.__init__(self)
        self.volumes = []

    def set_volume(self, volume_pct):
        self.volumes.append(volume_pct)


def test_the_curve_is_square_law_with_unity_at_100():
    assert gain_q15(100) == UNITY_Q15 and gain_q15(0) == 0
    assert gain_q15(50) == UNITY_Q15 // 4
    assert 20 * np.log10(gain_q15(10) / UNITY_Q15) == pytest.approx(-40, abs=0.05)
    for bad in (-1, 101, 50.0, True, "50"):
        with pytest.raises(ValueError, match="volume_pct must be an integer 0..100"):
            gain_q15(bad)


def test_software_volume_scales_every_sample_and_unity_leaves_pcm_alone():
    speaker = KeepingSpeaker()
    control = VolumeControl(speaker, 60)
    samples = np.array([0, 1, -1, 1000, -1000, 32767, -32768] * 40, dtype="<i2")

    async def play():
        await control.write(samples.tobytes())
        control.set_volume(100)
        await control.write(samples.tobytes())
        control.set_volume(0)
        await control.write(samples.tobytes())

    asyncio.run(play())
    scaled = np.frombuffer(speaker.written[0], dtype="<i2")
    expected = (samples.astype(np.int64) * gain_q15(60)) >> 15
    assert np.array_equal(scaled, expected)
    assert speaker.written[1] == samples.tobytes()
    assert not np.frombuffer(speaker.written[2], dtype="<i2").any()  # volume 0 is silence
    control.flush()
    assert speaker.flushed == 1 and (control.sample_rate_hz, control.channels) == (16000, 1)


def test_a_speaker_with_its_own_volume_gets_the_setting_and_untouched_pcm():
    speaker = HardwareVolumeSpeaker()
    control = VolumeControl(speaker, 30)
    pcm = struct.pack("<4h", 100, -100, 2000, -2000)
    asyncio.run(control.write(pcm))
    control.set_volume(70)
    assert speaker.written == [pcm] and speaker.volumes == [30, 70]


SCRIPT = r'''
import asyncio, struct
from device.volume import VolumeControl
class S:
    sample_rate_hz = 16000
    channels = 1
    def __init__(self):
        self.out = []
    async def write(self, pcm):
        self.out.append(bytes(pcm))
speaker = S()
control = VolumeControl(speaker, 45)
pcm = struct.pack("<8h", 0, 1, -1, 300, -300, 32767, -32768, 12345)
asyncio.run(control.write(pcm))
asyncio.run(control.write(pcm + pcm))
print(struct.unpack("<8h", speaker.out[0]), len(speaker.out[1]))
'''


def test_same_samples_under_micropython():
    micro = run_micropython(SCRIPT)
    cpython = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                             cwd=str(REPO_ROOT), check=True).stdout
    assert micro == cpython and micro.endswith(" 32\n")
