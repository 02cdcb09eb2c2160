"""The virtual board: a WAV file as the microphone, a WAV file as the speaker.

The firmware runs unchanged on it; only the HAL differs from a real board.
The microphone hands out frames at real-time pace (a frame becomes available
once its duration has elapsed, as from an I2S DMA buffer), so the network sees
the same timing as from hardware.
"""
from device.hal import clock
from device.hal.net import UdpEndpoint
from device.wav import WavReader, WavWriter


class VirtualMic:
    """Microphone that plays WAV files into the runtime.

    With keep_open, the microphone does not end with its file: it hears
    silence until another file is queued with say(), as a real microphone in
    a quiet room would.
    """

    def __init__(self, wav_path=None, frame_ms=20, realtime=True, keep_open=False,
                 sample_rate_hz=16000, channels=1):
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.frame_ms = frame_ms
        self.realtime = realtime
        self.keep_open = keep_open
        self.frames_read = 0
        self._queue = []
        self._wav = None
        self._start_ticks = None
        if wav_path is not None:
            self.say(wav_path)
            self._next_file()

    def say(self, wav_path):
        """Queue a WAV file to be heard after what is playing now."""
        self._queue.append(wav_path)

    def _next_file(self):
        if self._wav is not None:
            self._wav.close()
            self._wav = None
        if not self._queue:
            return False
        wav = WavReader(self._queue.pop(0))
        if self._start_ticks is None:
            self.sample_rate_hz = wav.sample_rate_hz
            self.channels = wav.channels
        elif (wav.sample_rate_hz, wav.channels) != (self.sample_rate_hz, self.channels):
            wav.close()
            raise ValueError("virtual mic: file is %d Hz x%d, microphone runs at %d Hz x%d"
                             % (wav.sample_rate_hz, wav.channels, self.sample_rate_hz, self.channels))
        self._wav = wav
        return True

    @property
    def duration_ms(self):
        """Length of the recording playing now (0 when silent)."""
        return self._wav.duration_ms if self._wav is not None else 0

    def _fill(self, buf):
        got = 0
        view = memoryview(buf)
        while got < len(buf):
            if self._wav is None and not self._next_file():
                break
            n = self._wav.readinto(view[got:])
            if n == 0:
                self._wav.close()
                self._wav = None
            got += n
        return got

    async def readinto(self, buf):
        """Fill buf with the next frame; return its byte count, 0 at the end.

        A last partial frame is padded with silence to a whole frame.
        """
        if self._start_ticks is None:
            self._start_ticks = clock.ticks_ms()
        got = self._fill(buf)
        if got == 0 and not self.keep_open:
            return 0
        for i in range(got, len(buf)):
            buf[i] = 0
        self.frames_read += 1
        if self.realtime:
            due = clock.ticks_add(self._start_ticks, self.frames_read * self.frame_ms)
            await clock.sleep_until(due)
        return len(buf)

    def close(self):
        if self._wav is not None:
            self._wav.close()
            self._wav = None


class VirtualSpeaker:
    """Speaker that writes everything it is given to a WAV file.

    With timeline, it also writes "<wav>.timeline", one CSV line per write:
    `sample_offset,ticks_ms,samples` (where in the WAV the write starts, when
    it was played by device.hal.clock.ticks_ms, how many samples per channel).
    Silence is not written: while nothing plays, nothing is written, so the
    WAV is the audio played back to back and the timeline says when; the
    speaker is silent from ticks_ms + samples / rate of a write until the next
    one. ticks_ms is CLOCK_MONOTONIC in ms on both the unix port and CPython,
    so a test can line it up with its own clock.
    """

    def __init__(self, wav_path, sample_rate_hz=16000, channels=1, timeline=False):
        self._wav = WavWriter(wav_path, sample_rate_hz, channels)
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.samples_written = 0
        self._timeline = open(str(wav_path) + ".timeline", "w") if timeline else None
        if self._timeline is not None:
            self._timeline.write("sample_offset,ticks_ms,samples\n")

    async def write(self, pcm):
        """Play PCM (16-bit little-endian)."""
        samples = len(pcm) // (2 * self.channels)
        if self._timeline is not None:
            self._timeline.write("%d,%d,%d\n" % (self.samples_written, clock.ticks_ms(), samples))
        self._wav.write(pcm)
        self.samples_written += samples

    def close(self):
        self._wav.close()
        if self._timeline is not None:
            self._timeline.close()
            self._timeline = None


def read_timeline(path):
    """Rows (sample_offset, ticks_ms, samples) of a speaker timeline file."""
    rows = []
    with open(path) as handle:
        for line in handle:
            if line and line[0].isdigit():
                offset, ticks, samples = line.split(",")
                rows.append((int(offset), int(ticks), int(samples)))
    return rows


class VirtualBoard:
    """A board assembled from the virtual parts; real boards pass real HAL parts."""

    name = "virtual"
    capabilities = ("microphone", "speaker")

    def __init__(self, mic, speaker=None):
        self.mic = mic
        self.speaker = speaker

    def open_endpoint(self, host, port):
        """The UDP endpoint media goes out on (a real socket on every board)."""
        return UdpEndpoint(host, port)

    def close(self):
        self.mic.close()
        if self.speaker is not None:
            self.speaker.close()
