"""The benchmark's test signal: a few seconds of speech, Opus-encoded once.

espeak-ng (through host/speech.py) gives speech-like content, which matters
because Opus decode cost depends on the signal; without espeak-ng or sox a
tone mix with a syllable-rate envelope stands in, and the result says so.
"""
import array
import math
import tempfile
import wave
from pathlib import Path

from device.codec import make_encoder

SAMPLE_RATE_HZ = 16000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE_HZ * FRAME_MS // 1000 * 2
_TEXT = ("What time is it in Lisbon? Set a timer for ten minutes, please. "
         "Turn the volume down a little, and tell me the weather tomorrow morning.")


def _speech_pcm():
    from host.speech import synthesise
    with tempfile.TemporaryDirectory(prefix="pipit-bench-") as folder:
        path = synthesise(_TEXT, Path(folder) / "speech.wav", sample_rate_hz=SAMPLE_RATE_HZ)
        with wave.open(str(path), "rb") as wav:
            return wav.readframes(wav.getnframes())


def _tone_pcm(seconds):
    # Three partials under a 4 Hz envelope: voiced, syllable-like energy.
    samples = array.array("h", bytes(2 * SAMPLE_RATE_HZ * seconds))
    for i in range(len(samples)):
        t = i / SAMPLE_RATE_HZ
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 4 * t)
        value = (math.sin(2 * math.pi * 180 * t) + 0.5 * math.sin(2 * math.pi * 360 * t)
                 + 0.25 * math.sin(2 * math.pi * 1250 * t))
        samples[i] = int(7000 * envelope * value)
    return samples.tobytes()


def test_signal(seconds=4):
    """(pcm, source): 16 kHz mono s16le, whole 20 ms frames, at most `seconds` long."""
    try:
        pcm, source = _speech_pcm(), "espeak-ng speech"
    except (RuntimeError, OSError) as error:
        pcm, source = _tone_pcm(seconds), "tone mix (no speech: %s)" % error
    frames = min(len(pcm), seconds * SAMPLE_RATE_HZ * 2) // FRAME_BYTES
    return pcm[:frames * FRAME_BYTES], source


def opus_packets(pcm):
    """Opus payloads of every 20 ms frame, with the device's encoder defaults."""
    encoder = make_encoder("opus", SAMPLE_RATE_HZ, 1, FRAME_MS)
    return [encoder.encode(pcm[at:at + FRAME_BYTES]) for at in range(0, len(pcm), FRAME_BYTES)]
