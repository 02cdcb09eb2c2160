"""Turn taking from per-frame voice activity: when the user starts and stops.

`EndOfTurn` takes 16 kHz s16le PCM in chunks of any size, slices it into the
frames its VAD wants (`SileroVad` or `WebRtcVad` from host.pipeline.vad) and
reports typed events with times in stream milliseconds (0 = first sample fed):

- `SpeechStarted` once voice has lasted `start_ms` (start_ms is debounce
  against clicks and short noises);
- `TurnEnded` once silence after the speech has lasted `stop_ms`.

The detector itself is cheap; `feed` is blocking only because the VAD is.
"""
from dataclasses import dataclass

SAMPLE_RATE_HZ = 16000
DEFAULT_START_MS = 60
DEFAULT_STOP_MS = 300


@dataclass(frozen=True)
class SpeechStarted:
    """Voice began at start_ms; the detector was sure at detected_ms."""
    start_ms: int
    detected_ms: int


@dataclass(frozen=True)
class TurnEnded:
    """The turn's voice ran from start_ms to end_ms; detected at detected_ms."""
    start_ms: int
    end_ms: int
    detected_ms: int


class EndOfTurn:
    """Speech start after start_ms of voice, end of turn after stop_ms of silence."""

    def __init__(self, vad, start_ms=DEFAULT_START_MS, stop_ms=DEFAULT_STOP_MS):
        if start_ms < 0 or stop_ms <= 0:
            raise ValueError("start_ms must be >= 0 and stop_ms > 0")
        self.vad = vad
        self.start_ms = start_ms
        self.stop_ms = stop_ms
        self._pending = bytearray()
        self.reset()

    def reset(self):
        """Back to silence at stream time 0 (a new stream)."""
        self.vad.reset()
        self._pending.clear()
        self._samples = 0           # samples classified so far: the stream clock
        self._voice_since = None    # first sample of the current run of voice
        self._turn_start = None     # set while a turn is open
        self._voice_until = 0       # end of the last voiced frame in the turn

    @property
    def in_speech(self):
        """True between SpeechStarted and TurnEnded."""
        return self._turn_start is not None

    @property
    def now_ms(self):
        """Stream time of the end of the last classified frame."""
        return self._ms(self._samples)

    def feed(self, pcm):
        """Classify whatever whole frames pcm completes; return the events they raise."""
        self._pending += pcm
        size = self.vad.frame_bytes
        events = []
        used = 0
        with memoryview(self._pending) as view:
            while len(view) - used >= size:
                event = self._step(self.vad.is_speech(view[used:used + size]))
                if event is not None:
                    events.append(event)
                used += size
        del self._pending[:used]
        return events

    def finish(self):
        """End of stream: close an open turn at the last voiced frame."""
        if self._turn_start is None:
            return []
        event = TurnEnded(self._ms(self._turn_start), self._ms(self._voice_until), self.now_ms)
        self._turn_start = None
        self._voice_since = None
        return [event]

    def _step(self, voiced):
        start = self._samples
        self._samples += self.vad.frame_samples
        if self._turn_start is None:
            return self._step_idle(voiced, start)
        return self._step_speaking(voiced)

    def _step_idle(self, voiced, start):
        if not voiced:
            self._voice_since = None
            return None
        if self._voice_since is None:
            self._voice_since = start
        if self._ms(self._samples - self._voice_since) < self.start_ms:
            return None
        self._turn_start = self._voice_since
        self._voice_until = self._samples
        return SpeechStarted(self._ms(self._turn_start), self.now_ms)

    def _step_speaking(self, voiced):
        if voiced:
            self._voice_until = self._samples
            return None
        if self._ms(self._samples - self._voice_until) < self.stop_ms:
            return None
        event = TurnEnded(self._ms(self._turn_start), self._ms(self._voice_until), self.now_ms)
        self._turn_start = None
        self._voice_since = None
        return event

    @staticmethod
    def _ms(samples):
        return samples * 1000 // SAMPLE_RATE_HZ
