"""A laptop's (or a Raspberry Pi's) sound card as the device's microphone and speaker.

CPython only, through PyAudio (PortAudio): `pip install -e .[laptop]`, which
needs the PortAudio headers first (Debian: `apt install portaudio19-dev`).
pyaudio is imported when a part is made, not when this module is, and a
missing pyaudio is a RuntimeError that says how to install it.

The parts have the virtual board's interface (device/hal/virtual.py):
PyAudioMic.readinto(buf) hands out whole frames at the sound card's pace;
PyAudioSpeaker.write(pcm) queues PCM that the card plays, flush() drops what
is queued (an abort), silence is played when nothing is queued. Both run
PortAudio in callback mode: the callback (on PortAudio's thread) only moves
bytes in or out of a buffer under a lock; the asyncio side waits on an event
the callback sets through call_soon_threadsafe.

Tested only with PyAudio's stream replaced by a test double (frame and byte
handling, queue bounds, thread hand-off); that is not a test of a sound
card. This module has not been run against real audio hardware.
"""
import asyncio
import threading

from device.hal.net import UdpEndpoint

INSTALL_HINT = ("pyaudio is not installed: pip install -e .[laptop] (PortAudio's headers first: "
                "apt install portaudio19-dev)")


def load_pyaudio(module_name="pyaudio"):
    """The pyaudio module, or RuntimeError with how to install it."""
    try:
        return __import__(module_name)
    except ImportError:
        raise RuntimeError(INSTALL_HINT) from None


class _Part:
    """What the microphone and the speaker share: a stream, a byte buffer, a wake-up."""

    def __init__(self, sample_rate_hz, channels, frame_ms, max_buffered_ms, pyaudio_module):
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.frame_ms = frame_ms
        self._module = pyaudio_module or load_pyaudio()
        self._bytes_per_ms = sample_rate_hz * channels * 2 // 1000
        self.frame_bytes = self._bytes_per_ms * frame_ms
        self._max_bytes = self._bytes_per_ms * max_buffered_ms
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._audio = None
        self._stream = None
        self._loop = None
        self._wake = None
        self.dropped_bytes = 0  # dropped because the buffer was full (oldest first)

    def _open(self, **options):
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._audio = self._module.PyAudio()
        self._stream = self._audio.open(
            format=self._module.paInt16, channels=self.channels, rate=self.sample_rate_hz,
            frames_per_buffer=self.frame_bytes // (2 * self.channels), start=True,
            stream_callback=self._callback, **options)

    def _append(self, data):
        """Add bytes at the end, dropping the oldest beyond the limit (caller holds the lock)."""
        self._buffer += data
        excess = len(self._buffer) - self._max_bytes
        if excess > 0:
            del self._buffer[:excess]
            self.dropped_bytes += excess

    def _notify(self):
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def close(self):
        """Stop and close the stream and PortAudio."""
        if self._stream is not None:
            self._stream.stop_stream()
            self._stream.close()
            self._stream = None
        if self._audio is not None:
            self._audio.terminate()
            self._audio = None


class PyAudioMic(_Part):
    """The default (or a chosen) input device, 16-bit PCM, whole frames."""

    def __init__(self, sample_rate_hz=16000, channels=1, frame_ms=20, device_index=None,
                 max_buffered_ms=1000, pyaudio_module=None):
        _Part.__init__(self, sample_rate_hz, channels, frame_ms, max_buffered_ms, pyaudio_module)
        self._device_index = device_index
        self.overflows = 0  # PortAudio reported input overflow (the card dropped audio)

    def _callback(self, in_data, frame_count, time_info, status):
        with self._lock:
            self._append(in_data)
            if status & self._module.paInputOverflow:
                self.overflows += 1
        self._notify()
        return (None, self._module.paContinue)

    async def readinto(self, buf):
        """Fill buf with the next frame of audio; return its byte count."""
        if self._stream is None:
            self._open(input=True, input_device_index=self._device_index)
        size = len(buf)
        while True:
            with self._lock:
                if len(self._buffer) >= size:
                    buf[:size] = self._buffer[:size]
                    del self._buffer[:size]
                    return size
                self._wake.clear()
            await self._wake.wait()


class PyAudioSpeaker(_Part):
    """The default (or a chosen) output device; plays silence while nothing is queued."""

    def __init__(self, sample_rate_hz=16000, channels=1, frame_ms=20, device_index=None,
                 max_buffered_ms=200, pyaudio_module=None):
        _Part.__init__(self, sample_rate_hz, channels, frame_ms, max_buffered_ms, pyaudio_module)
        self._device_index = device_index
        self.bytes_played = 0  # queued audio handed to the card
        self.padded_bytes = 0  # silence added to a card buffer that held some audio

    def _callback(self, in_data, frame_count, time_info, status):
        wanted = frame_count * self.channels * 2
        with self._lock:
            data = bytes(self._buffer[:wanted])
            del self._buffer[:wanted]
        self.bytes_played += len(data)
        if 0 < len(data) < wanted:
            self.padded_bytes += wanted - len(data)
        return (data + bytes(wanted - len(data)), self._module.paContinue)

    async def write(self, pcm):
        """Queue PCM for the card (copied: callers reuse their buffers)."""
        if self._stream is None:
            self._open(output=True, output_device_index=self._device_index)
        with self._lock:
            self._append(bytes(pcm))

    @property
    def queued_ms(self):
        """Audio queued and not yet handed to the card."""
        with self._lock:
            return len(self._buffer) // self._bytes_per_ms

    def flush(self):
        """Drop everything queued (an abort: the card falls silent after its own buffer)."""
        with self._lock:
            del self._buffer[:]


class PyAudioBoard:
    """A laptop as a board: its sound card, no button, a UDP socket."""

    name = "laptop"
    capabilities = ("speaker", "microphone")

    def __init__(self, sample_rate_hz=16000, input_device=None, output_device=None, pyaudio_module=None):
        self.mic = PyAudioMic(sample_rate_hz, device_index=input_device, pyaudio_module=pyaudio_module)
        self.speaker = PyAudioSpeaker(sample_rate_hz, device_index=output_device,
                                      pyaudio_module=pyaudio_module)
        self.button = None

    def open_endpoint(self, host, port):
        """The UDP endpoint media goes out on."""
        return UdpEndpoint(host, port)

    def close(self):
        self.mic.close()
        self.speaker.close()
