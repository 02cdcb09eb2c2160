"""WAV files (RIFF, 16-bit PCM) read and written with struct only.

MicroPython has no `wave` module; the virtual board's microphone and speaker
use this on both runtimes.
"""
import struct

_PCM_FORMAT = 1
_EXTENSIBLE_FORMAT = 0xFFFE


class WavReader:
    """Streams 16-bit PCM frames out of a WAV file."""

    def __init__(self, path):
        self._file = open(path, "rb")
        try:
            self._read_header()
        except Exception:
            self._file.close()
            raise

    def _read_header(self):
        riff = self._file.read(12)
        if len(riff) < 12 or riff[0:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise ValueError("wav: not a RIFF/WAVE file")
        fmt = None
        while True:
            chunk = self._file.read(8)
            if len(chunk) < 8:
                raise ValueError("wav: no data chunk")
            kind, size = chunk[0:4], struct.unpack("<I", chunk[4:8])[0]
            if kind == b"fmt ":
                fmt = self._file.read(size + (size & 1))
            elif kind == b"data":
                break
            else:
                self._file.read(size + (size & 1))
        if fmt is None or len(fmt) < 16:
            raise ValueError("wav: fmt chunk missing or short")
        format_tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[0:16])
        if format_tag not in (_PCM_FORMAT, _EXTENSIBLE_FORMAT) or bits != 16:
            raise ValueError("wav: only 16-bit PCM is supported (format %d, %d bits)" % (format_tag, bits))
        self.sample_rate_hz = rate
        self.channels = channels
        self.data_bytes = size
        self._remaining = size

    @property
    def duration_ms(self):
        """Length of the audio in milliseconds."""
        return self.data_bytes * 1000 // (2 * self.channels * self.sample_rate_hz)

    def readinto(self, buf):
        """Fill buf with PCM; return the byte count (0 at the end)."""
        want = min(len(buf), self._remaining)
        if want <= 0:
            return 0
        got = self._file.readinto(memoryview(buf)[:want])
        got = got or 0
        self._remaining -= got
        return got

    def close(self):
        self._file.close()


class WavWriter:
    """Writes 16-bit PCM to a WAV file; sizes are patched on close."""

    def __init__(self, path, sample_rate_hz, channels=1):
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.data_bytes = 0
        self._file = open(path, "wb")
        self._file.write(self._header(0))

    def _header(self, data_bytes):
        block = 2 * self.channels
        return struct.pack(
            "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16,
            _PCM_FORMAT, self.channels, self.sample_rate_hz,
            self.sample_rate_hz * block, block, 16, b"data", data_bytes)

    def write(self, pcm):
        """Append PCM bytes (16-bit little-endian, interleaved)."""
        self._file.write(pcm)
        self.data_bytes += len(pcm)

    def close(self):
        """Patch the RIFF and data sizes and close the file."""
        if self._file is None:
            return
        self._file.seek(0)
        self._file.write(self._header(self.data_bytes))
        self._file.close()
        self._file = None
