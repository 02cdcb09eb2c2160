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
    a quiet room would. say_at() schedules a file at a time after the
    microphone's start (its first frame), cutting short whatever it hears
    then: the user speaking again, over the device's answer (barge-in).
    `heard` lists (path, ticks_ms) of when each file began to be captured.
    """

    def __init__(self, wav_path=None, frame_ms=20, realtime=True, keep_open=False,
                 sample_rate_hz=16000, channels=1):
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.frame_ms = frame_ms
        self.realtime = realtime
        self.keep_open = keep_open
        self.frames_read = 0
        self.heard = []
        self._queue = []
        self._scheduled = []  # (at_ms, path), soonest first
        self._wav = None
        self._unlogged = None  # path of the file opened but not captured yet
        self._start_ticks = None
        if wav_path is not None:
            self.say(wav_path)
            self._next_file()

    def say(self, wav_path):
        """Queue a WAV file to be heard after what is playing now."""
        self._queue.append(wav_path)

    def say_at(self, wav_path, at_ms):
        """Hear a WAV file from at_ms after the first frame (rounded down to a frame).

        It cuts short what is heard then; files queued with say() follow it.
        The file's format is checked now (ValueError if it differs).
        """
        wav = WavReader(wav_path)
        wav.close()
        if (wav.sample_rate_hz, wav.channels) != (self.sample_rate_hz, self.channels):
            raise ValueError("virtual mic: %s is %d Hz x%d, microphone runs at %d Hz x%d"
                             % (wav_path, wav.sample_rate_hz, wav.channels,
                                self.sample_rate_hz, self.channels))
        self._scheduled.append((at_ms, wav_path))
        self._scheduled.sort(key=lambda item: item[0])

    @property
    def done(self):
        """True when nothing is playing, queued or scheduled (only silence is left)."""
        return self._wav is None and not self._queue and not self._scheduled

    def _start_scheduled(self):
        position_ms = self.frames_read * self.frame_ms
        if self._scheduled and self._scheduled[0][0] <= position_ms:
            self._queue.insert(0, self._scheduled.pop(0)[1])
            self._next_file()

    def _next_file(self):
        if self._wav is not None:
            self._wav.close()
            self._wav = None
        if not self._queue:
            return False
        path = self._queue.pop(0)
        wav = WavReader(path)
        if self._start_ticks is None:
            self.sample_rate_hz = wav.sample_rate_hz
            self.channels = wav.channels
        elif (wav.sample_rate_hz, wav.channels) != (self.sample_rate_hz, self.channels):
            wav.close()
            raise ValueError("virtual mic: file is %d Hz x%d, microphone runs at %d Hz x%d"
                             % (wav.sample_rate_hz, wav.channels, self.sample_rate_hz, self.channels))
        self._wav = wav
        self._unlogged = path
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
            if self._unlogged is not None:
                offset_ms = self.frames_read * self.frame_ms + got * 1000 // self._bytes_per_s()
                self.heard.append((self._unlogged, clock.ticks_add(self._start_ticks, offset_ms)))
                self._unlogged = None
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
        self._start_scheduled()
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

    def _bytes_per_s(self):
        return self.sample_rate_hz * self.channels * 2

    @property
    def start_ticks_ms(self):
        """ticks_ms of the first frame's start (None before it)."""
        return self._start_ticks

    def close(self):
        if self._wav is not None:
            self._wav.close()
            self._wav = None


class VirtualButton:
    """A push button pressed and released on a schedule, as a test script says.

    schedule: [(press_ms, release_ms)], times after start() (called by the
    first reading of `pressed` if not before); held=True keeps it down for
    good. A real board's button offers the same `pressed` (a debounced GPIO
    level), polled by the device.
    """

    def __init__(self, schedule=(), held=False):
        self.held = held
        schedule = sorted(schedule)
        last_release = None
        for press_ms, release_ms in schedule:
            if not 0 <= press_ms < release_ms or (last_release is not None and press_ms < last_release):
                raise ValueError("virtual button: presses must be 0 <= press < release and not "
                                 "overlap, got %r" % (schedule,))
            last_release = release_ms
        self.schedule = schedule
        self._start = None

    def start(self, ticks_ms=None):
        """Start the schedule's clock now (or at ticks_ms)."""
        self._start = clock.ticks_ms() if ticks_ms is None else ticks_ms

    def _elapsed_ms(self):
        if self._start is None:
            self.start()
        return clock.ticks_diff(clock.ticks_ms(), self._start)

    @property
    def pressed(self):
        """True while the schedule holds the button down."""
        if self.held:
            return True
        now = self._elapsed_ms()
        for press_ms, release_ms in self.schedule:
            if press_ms <= now < release_ms:
                return True
        return False

    @property
    def done(self):
        """True once the last release has passed (never while held for good)."""
        if self.held:
            return False
        return not self.schedule or self._elapsed_ms() >= self.schedule[-1][1]


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

    def __init__(self, mic, speaker=None, button=None):
        self.mic = mic
        self.speaker = speaker
        self.button = button
        self.capabilities = tuple(name for name, part in (
            ("speaker", speaker), ("microphone", mic), ("button", button)) if part is not None)

    def open_endpoint(self, host, port):
        """The UDP endpoint media goes out on (a real socket on every board)."""
        return UdpEndpoint(host, port)

    def close(self):
        self.mic.close()
        if self.speaker is not None:
            self.speaker.close()
