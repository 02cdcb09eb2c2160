"""Test signals and measurements shared by the gateway tests."""
import math
import struct

import numpy as np


def sine_pcm(samples, rate_hz=16000, frequency_hz=440.0, start=0, amplitude=8000, channels=1):
    """s16le PCM of a sine wave, starting at sample index `start`."""
    values = [int(amplitude * math.sin(2 * math.pi * frequency_hz * (start + i) / rate_hz))
              for i in range(samples)]
    if channels == 2:
        values = [v for value in values for v in (value, value)]
    return struct.pack("<%dh" % len(values), *values)


def sine_frames(count, frame_samples, rate_hz=16000, frequency_hz=440.0, channels=1):
    """`count` consecutive frames of one continuous sine."""
    return [sine_pcm(frame_samples, rate_hz, frequency_hz, i * frame_samples, channels=channels)
            for i in range(count)]


def dominant_frequency_hz(pcm, rate_hz=16000):
    """Frequency of the strongest FFT bin of s16le mono PCM."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum)) * rate_hz / len(samples)


def rms(pcm):
    """Root mean square of s16le PCM."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0


def rms_difference(a, b):
    """RMS of the sample-wise difference of two equally long s16le PCM buffers."""
    x = np.frombuffer(a, dtype="<i2").astype(np.float64)
    y = np.frombuffer(b, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean((x - y) ** 2)))
