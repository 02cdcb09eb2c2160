"""Speech made on the spot with espeak-ng, resampled to the pipeline's rate.

Used for the demo and the tests: a question spoken by a synthetic voice is a
repeatable stand-in for a person at the microphone.
"""
import shutil
import subprocess
from pathlib import Path


def _require(tool, package):
    if shutil.which(tool) is None:
        raise RuntimeError("%s is not installed (Debian package %s): run ./run setup" % (tool, package))


def synthesise(text, wav_path, voice="en-us", words_per_minute=160,
               sample_rate_hz=16000, lead_silence_ms=0, tail_silence_ms=0):
    """Speak text into a mono 16-bit WAV at sample_rate_hz; return the path."""
    _require("espeak-ng", "espeak-ng")
    _require("sox", "sox")
    wav_path = Path(wav_path)
    raw = wav_path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(raw), text],
                   check=True, capture_output=True)
    effects = ["rate", str(sample_rate_hz)]
    if lead_silence_ms or tail_silence_ms:
        effects += ["pad", "%.3f" % (lead_silence_ms / 1000), "%.3f" % (tail_silence_ms / 1000)]
    # -D: no dither. sox dithers with random noise by default when it requantises,
    # which made the same phrase differ from run to run (and the tests with it).
    subprocess.run(["sox", "-D", str(raw), "-b", "16", "-c", "1", str(wav_path), *effects],
                   check=True, capture_output=True)
    raw.unlink()
    return wav_path
