"""Speaker volume: volume_pct 0..100 applied on the way to the HAL speaker.

A board whose speaker has its own volume (an audio codec chip with a gain
register) offers `set_volume(volume_pct)` in its HAL and gets the setting
there; for any other speaker, VolumeControl scales the PCM in software.

Curve: gain = (volume_pct / 100) ** 2, so 100 is unity (the PCM untouched,
no work at all), 50 is -12 dB, 10 is -40 dB and 0 is silence; loudness then
follows the setting roughly evenly, which a linear gain does not. The gain
is Q15 fixed point (32768 = 1.0) so boards without fast floats scale with
integer multiplies only. Runs on MicroPython and CPython (little-endian
16-bit PCM, as everywhere in pipit).
"""
import array

UNITY_Q15 = 32768


def gain_q15(volume_pct):
    """Q15 gain for a volume setting (ValueError outside 0..100)."""
    if not isinstance(volume_pct, int) or isinstance(volume_pct, bool) or not 0 <= volume_pct <= 100:
        raise ValueError("volume: volume_pct must be an integer 0..100, got %r" % (volume_pct,))
    return volume_pct * volume_pct * UNITY_Q15 // 10000


def _byte_view(samples):
    """A writable byte view of an array('h') (no copy)."""
    try:
        return memoryview(samples).cast("B")
    except AttributeError:  # MicroPython: memoryview has no cast()
        import uctypes
        return uctypes.bytearray_at(uctypes.addressof(samples), len(samples) * 2)


class VolumeControl:
    """A HAL speaker seen through a volume setting; same write() interface."""

    def __init__(self, speaker, volume_pct=100):
        self.speaker = speaker
        self.sample_rate_hz = speaker.sample_rate_hz
        self.channels = speaker.channels
        self._hardware = hasattr(speaker, "set_volume")
        self._samples = array.array("h")
        self._bytes = None
        self.volume_pct = None
        self._gain = UNITY_Q15
        self.set_volume(volume_pct)

    def set_volume(self, volume_pct):
        """Apply a volume setting (0..100) from the next frame on."""
        gain = gain_q15(volume_pct)
        self.volume_pct = volume_pct
        if self._hardware:
            self.speaker.set_volume(volume_pct)
            gain = UNITY_Q15
        self._gain = gain

    async def write(self, pcm):
        """Play PCM at the current volume."""
        if self._gain != UNITY_Q15:
            pcm = self._scale(pcm)
        await self.speaker.write(pcm)

    def flush(self):
        """Drop what the speaker has queued, if it queues (an abort)."""
        flush = getattr(self.speaker, "flush", None)
        if flush is not None:
            flush()

    def _scale(self, pcm):
        size = len(pcm)
        if size > len(self._samples) * 2:
            self._samples = array.array("h", bytes(size))  # once per frame size
            self._bytes = _byte_view(self._samples)
        samples = self._samples
        self._bytes[:size] = pcm
        gain = self._gain
        for i in range(size // 2):
            samples[i] = (samples[i] * gain) >> 15
        return memoryview(self._bytes)[:size]
