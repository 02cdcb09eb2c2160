"""The virtual board: a WAV file as the microphone, a WAV file as the speaker.

The firmware runs unchanged on it; only the HAL differs from a real board.
The microphone hands out frames at real-time pace (a frame becomes available
once its duration has elapsed, as from an I2S DMA buffer), so the network sees
the same timing as from hardware.
"""
from device.hal import clock
from device.wav import WavReader, WavWriter


class VirtualMic:
    """Microphone that plays a WAV file into the runtime."""

    def __init__(self, wav_path, frame_ms=20, realtime=True):
        self._wav = WavReader(wav_path)
        self.sample_rate_hz = self._wav.sample_rate_hz
        self.channels = self._wav.channels
        self.frame_ms = frame_ms
        self.realtime = realtime
        self.frames_read = 0
        self._start_ticks = None

    @property
    def duration_ms(self):
        """Length of the recording behind the microphone."""
        return self._wav.duration_ms

    async def readinto(self, buf):
        """Fill buf with the next frame; return its byte count, 0 at the end.

        A last partial frame is padded with silence to a whole frame.
        """
        if self._start_ticks is None:
            self._start_ticks = clock.ticks_ms()
        got = self._wav.readinto(buf)
        if got == 0:
            return 0
        if got < len(buf):
            for i in range(got, len(buf)):
                buf[i] = 0
        self.frames_read += 1
        if self.realtime:
            due = clock.ticks_add(self._start_ticks, self.frames_read * self.frame_ms)
            await clock.sleep_until(due)
        return len(buf)

    def close(self):
        self._wav.close()


class VirtualSpeaker:
    """Speaker that writes everything it is given to a WAV file."""

    def __init__(self, wav_path, sample_rate_hz=16000, channels=1):
        self._wav = WavWriter(wav_path, sample_rate_hz, channels)
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels

    async def write(self, pcm):
        """Play PCM (16-bit little-endian)."""
        self._wav.write(pcm)

    def close(self):
        self._wav.close()


class VirtualBoard:
    """A board assembled from the virtual parts; real boards pass real HAL parts."""

    name = "virtual"

    def __init__(self, mic, speaker=None):
        self.mic = mic
        self.speaker = speaker

    def close(self):
        self.mic.close()
        if self.speaker is not None:
            self.speaker.close()
