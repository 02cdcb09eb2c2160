"""What the downlink tests share: a relay on the path, a device in this process.

Relay is host/netem.py's, between the device and the gateway (two real UDP
sockets on 127.0.0.1): it forwards both ways and, on the downlink, drops,
swaps or delays chosen RTP packets and logs when each arrived.

InProcessDevice is the real device runtime (device/uplink.py with a silent
virtual microphone, device/downlink.py with a virtual speaker writing a WAV and
its timeline) on a real socket, run as tasks of the test's event loop.
"""
import asyncio
import math
import struct
import time

import numpy as np

from device.hal.net import UdpEndpoint
from device.hal.virtual import VirtualMic, VirtualSpeaker, read_timeline
from device.downlink import Downlink
from device.uplink import Uplink
from device.wav import WavReader

WAIT_S = 15.0


async def wait_until(predicate, what, timeout_s=WAIT_S):
    """Poll predicate on the event loop until it holds; AssertionError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        await asyncio.sleep(0.005)


def tone_pcm(duration_ms, frequency_hz=440.0, amplitude=8000, rate_hz=16000):
    """s16le mono sine."""
    count = rate_hz * duration_ms // 1000
    return struct.pack("<%dh" % count, *[
        int(amplitude * math.sin(2 * math.pi * frequency_hz * i / rate_hz)) for i in range(count)])


def numbered_frames_pcm(frames, frame_samples=320):
    """L16-identifiable audio: every sample of frame i is i + 1."""
    return b"".join(struct.pack("<%dh" % frame_samples, *([i + 1] * frame_samples))
                    for i in range(frames))


def read_wav_samples(path):
    """Samples of a mono 16-bit WAV as an int16 numpy array."""
    wav = WavReader(str(path))
    data = bytearray(wav.data_bytes)
    wav.readinto(data)
    wav.close()
    return np.frombuffer(bytes(data), dtype="<i2")


def dominant_hz(samples, rate_hz=16000):
    """Frequency of the strongest FFT bin."""
    values = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(values * np.hanning(len(values))))
    return float(np.argmax(spectrum)) * rate_hz / len(values)


class InProcessDevice:
    """The device runtime (uplink + downlink) on the virtual board, as tasks of this loop."""

    def __init__(self, session, speaker_path, target, playout_delay_ms=60):
        self.speaker_path = str(speaker_path)
        self.speaker = VirtualSpeaker(self.speaker_path, session.sample_rate_hz, session.channels,
                                      timeline=True)
        self.downlink = Downlink(session, self.speaker, playout_delay_ms)
        self.mic = VirtualMic(frame_ms=session.frame_ms, keep_open=True,
                              sample_rate_hz=session.sample_rate_hz, channels=session.channels)
        self.endpoint = UdpEndpoint(*target)
        self.uplink = Uplink(session, self.mic, self.endpoint, on_rtp=self.downlink.handle)
        self._tasks = []

    @property
    def stats(self):
        return self.downlink.stats

    @property
    def idle(self):
        """Nothing playing and nothing buffered."""
        playout = self.downlink.playout
        return not playout.playing and not playout.buffered_ms

    async def __aenter__(self):
        self._tasks = [asyncio.create_task(self.uplink.run()),
                       asyncio.create_task(self.downlink.run())]
        return self

    async def __aexit__(self, *exc):
        self.uplink.stop()
        self.downlink.stop()
        for task in self._tasks:
            await task
        self.endpoint.close()
        self.mic.close()
        self.speaker.close()

    def timeline(self):
        """(sample_offset, ticks_ms, samples) per speaker write; after the device stopped."""
        return read_timeline(self.speaker_path + ".timeline")

    def samples(self):
        """What the speaker played, back to back; after the device stopped."""
        return read_wav_samples(self.speaker_path)


async def wait_for_address(gateway, session):
    """Wait until the gateway has latched the device's address (its first uplink packet)."""
    served = gateway.session(session.uplink_ssrc)
    await wait_until(lambda: served.address is not None, "the device's first packet")
    return served
