"""Speech made at test time for the pipeline tests: espeak-ng via host.speech.

`spoken(text, voice, words_per_minute)` returns 16 kHz mono s16le PCM and caches
it for the session, so a phrase used by several tests is synthesised once.
"""
import wave

import numpy as np
import pytest

from host.speech import synthesise


def read_pcm(path):
    """The s16le frames of a mono 16 kHz WAV."""
    with wave.open(str(path), "rb") as handle:
        assert (handle.getframerate(), handle.getnchannels(), handle.getsampwidth()) == (16000, 1, 2)
        return handle.readframes(handle.getnframes())


def silence(ms):
    """Digital silence of ms milliseconds at 16 kHz."""
    return bytes(32 * ms)


def noise(ms, rms, seed=0):
    """White Gaussian noise of the given RMS (in s16 units) at 16 kHz."""
    samples = np.random.default_rng(seed).normal(0.0, rms, 16 * ms)
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


@pytest.fixture(scope="session")
def spoken(tmp_path_factory):
    """A function text, voice, words_per_minute -> PCM of espeak-ng saying it."""
    folder = tmp_path_factory.mktemp("spoken")
    cache = {}

    def speak(text, voice="en-us", words_per_minute=160):
        key = (text, voice, words_per_minute)
        if key not in cache:
            name = "utt%d.wav" % len(cache)
            cache[key] = read_pcm(synthesise(text, folder / name, voice=voice,
                                             words_per_minute=words_per_minute))
        return cache[key]

    return speak
