"""What the user says in `pipit talk`: utterances, when, and where their speech ends.

Pure planning, no I/O but the WAV files: each Utterance becomes a 16 kHz mono
WAV (spoken by espeak-ng on the spot, or given), placed on the microphone's
timeline, with the offset of its last voiced sample (the "end of the user's
speech" that voice-to-voice latency is measured from). device/talk_script.py
reads the schedule as `a.wav@0,b.wav@3200`.
"""
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host.speech import synthesise

SAMPLE_RATE_HZ = 16000
DEFAULT_GAP_MS = 4500        # after an utterance, time for the answer before the next one
FIRST_AT_MS = 500            # the first utterance, unless placed: after the board settles
VOICED_RMS = 300             # 10 ms windows above this RMS are speech (espeak: ~3000)
_WINDOW = SAMPLE_RATE_HZ // 100


@dataclass
class Utterance:
    """One thing the user says: a text to synthesise or a WAV; optional start time."""
    text: str = None
    wav: str = None
    at_ms: int = None            # ms after the microphone starts; None: after the one before
    voice: str = "en-us"
    words_per_minute: int = 160

    def __post_init__(self):
        if (self.text is None) == (self.wav is None):
            raise ValueError("utterance: give exactly one of text and wav")
        if self.at_ms is not None and self.at_ms < 0:
            raise ValueError("utterance: at_ms must be >= 0, got %r" % (self.at_ms,))


@dataclass
class Placed:
    """An utterance as the microphone will play it."""
    utterance: Utterance
    path: Path
    start_ms: int                # on the microphone's timeline
    duration_ms: int
    speech_start_ms: int         # first voiced sample, from the file's start
    speech_end_ms: int           # after the last voiced sample, from the file's start


def read_pcm(path):
    """Samples of a 16 kHz mono 16-bit WAV; ValueError naming what is wrong."""
    with wave.open(str(path), "rb") as wav:
        shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
        if shape != (SAMPLE_RATE_HZ, 1, 2):
            raise ValueError("%s: %d Hz, %d channel(s), %d-byte samples; the microphone takes "
                             "16000 Hz mono 16-bit (sox IN -r 16000 -c 1 -b 16 OUT)" % ((path,) + shape))
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def voiced_span_ms(samples):
    """(first voiced ms, end of the last voiced 10 ms window in ms); ValueError if silent."""
    whole = len(samples) // _WINDOW * _WINDOW
    windows = samples[:whole].astype(np.float64).reshape(-1, _WINDOW)
    loud = np.flatnonzero(np.sqrt((windows ** 2).mean(axis=1)) > VOICED_RMS)
    if not len(loud):
        raise ValueError("no speech in it (no 10 ms above RMS %d)" % VOICED_RMS)
    return int(loud[0]) * 10, (int(loud[-1]) + 1) * 10


def prepare(utterances, work_dir, gap_ms=DEFAULT_GAP_MS):
    """Make the WAVs and place them; return [Placed]."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    placed = []
    next_ms = FIRST_AT_MS
    for index, utterance in enumerate(utterances):
        path = Path(utterance.wav) if utterance.wav else synthesise(
            utterance.text, work_dir / ("user-%02d.wav" % index), voice=utterance.voice,
            words_per_minute=utterance.words_per_minute)
        samples = read_pcm(path)
        try:
            first_ms, last_ms = voiced_span_ms(samples)
        except ValueError as error:
            raise ValueError("%s: %s" % (path, error)) from None
        start_ms = next_ms if utterance.at_ms is None else utterance.at_ms
        duration_ms = len(samples) * 1000 // SAMPLE_RATE_HZ
        placed.append(Placed(utterance, path, start_ms, duration_ms, first_ms, last_ms))
        next_ms = start_ms + duration_ms + gap_ms
    return placed


def mic_argument(placed):
    """device.talker's MIC argument: `a.wav@0,b.wav@3200`."""
    return ",".join("%s@%d" % (item.path, item.start_ms) for item in placed)


def button_schedule(placed, before_ms=200, after_ms=150):
    """Push-to-talk presses around each utterance's speech: `P:R,P:R`."""
    spans = []
    for item in placed:
        press = max(0, item.start_ms + item.speech_start_ms - before_ms)
        spans.append("%d:%d" % (press, item.start_ms + item.speech_end_ms + after_ms))
    return ",".join(spans)


def script_length_ms(placed):
    """When the last utterance's audio ends, on the microphone's timeline."""
    return max((item.start_ms + item.duration_ms for item in placed), default=0)
