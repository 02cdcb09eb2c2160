"""WavSink: the default per-session sink, a 16 kHz mono 16-bit WAV file."""
import os
import wave

SINK_SAMPLE_RATE_HZ = 16000
SINK_CHANNELS = 1
SINK_SAMPLE_WIDTH_BYTES = 2


class WavSink:
    """Writes the gateway's 16 kHz mono s16le PCM to a WAV file."""

    def __init__(self, path):
        self.path = str(path)
        self._wav = wave.open(self.path, "wb")
        self._wav.setnchannels(SINK_CHANNELS)
        self._wav.setsampwidth(SINK_SAMPLE_WIDTH_BYTES)
        self._wav.setframerate(SINK_SAMPLE_RATE_HZ)
        self.bytes_written = 0

    def write(self, pcm):
        """Append PCM (s16le, 16 kHz mono)."""
        # writeframesraw: writeframes would seek back and patch the header on
        # every call; the header is patched once, on close.
        self._wav.writeframesraw(pcm)
        self.bytes_written += len(pcm)

    def close(self):
        """Patch the WAV header and close the file; safe to call twice."""
        if self._wav is not None:
            self._wav.close()
            self._wav = None

    @property
    def duration_s(self):
        """Seconds of audio written so far."""
        return self.bytes_written / (SINK_SAMPLE_RATE_HZ * SINK_SAMPLE_WIDTH_BYTES * SINK_CHANNELS)


def wav_sink_factory(directory):
    """sink_factory writing <directory>/<uplink SSRC as 8 hex digits>.wav per session."""
    def factory(session):
        return WavSink(os.path.join(str(directory), "%08x.wav" % session.uplink_ssrc))

    return factory
