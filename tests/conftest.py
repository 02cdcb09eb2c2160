"""Shared fixtures: speech made at test time, free loopback ports."""
import socket

import numpy as np
import pytest

from host.speech import synthesise

SPEECH_TEXT = "Hello pipit. Set a timer for ten minutes and tell me the weather."


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory):
    """A 16 kHz mono WAV of a sentence spoken by espeak-ng, with short silences."""
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    return synthesise(SPEECH_TEXT, path, lead_silence_ms=200, tail_silence_ms=200)


def free_udp_port():
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_tone_wav(path, frequency_hz, duration_s, sample_rate_hz=16000, amplitude=0.3):
    """A mono 16-bit sine tone; returns the path."""
    import wave
    t = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    pcm = (amplitude * 32767 * np.sin(2 * np.pi * frequency_hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate_hz)
        handle.writeframes(pcm.tobytes())
    return path


def dominant_frequency_hz(samples, sample_rate_hz):
    """Frequency of the strongest FFT bin of a float signal."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum)) * sample_rate_hz / len(samples)
