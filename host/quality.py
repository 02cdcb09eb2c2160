"""Objective audio quality: time alignment and wideband PESQ (ITU-T P.862.2).

The gateway's recording is compared with what the device's microphone heard.
Alignment is found by cross-correlation, so a recording that is shifted or
stretched shows up as a lag rather than as a bad score.
"""
import wave

import numpy as np


def read_wav(path):
    """Mono 16-bit WAV as (float samples in -1..1, sample rate)."""
    with wave.open(str(path), "rb") as handle:
        if handle.getsampwidth() != 2 or handle.getnchannels() != 1:
            raise ValueError("%s: expected mono 16-bit PCM" % path)
        frames = handle.readframes(handle.getnframes())
        return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0, handle.getframerate()


def lag_samples(reference, degraded, max_lag_samples):
    """Lag of degraded behind reference that maximises their correlation."""
    n = min(len(reference), len(degraded))
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(degraded[:n], size) * np.conj(np.fft.rfft(reference[:n], size))
    correlation = np.fft.irfft(spectrum, size)
    lags = np.concatenate([np.arange(0, max_lag_samples + 1), np.arange(-max_lag_samples, 0)])
    values = np.concatenate([correlation[:max_lag_samples + 1], correlation[-max_lag_samples:]])
    return int(lags[int(np.argmax(values))])


def compare(reference_path, degraded_path, max_lag_ms=500):
    """Alignment and PESQ of a recording against its source.

    Returns a dict: lag_ms (positive: the recording is late), duration
    difference, and PESQ wideband MOS-LQO on the aligned signals.
    """
    from pesq import pesq

    reference, rate = read_wav(reference_path)
    degraded, degraded_rate = read_wav(degraded_path)
    if rate != degraded_rate:
        raise ValueError("sample rates differ: %d and %d" % (rate, degraded_rate))
    lag = lag_samples(reference, degraded, max_lag_ms * rate // 1000)
    aligned = degraded[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), degraded])
    n = min(len(reference), len(aligned))
    score = pesq(rate, reference[:n], aligned[:n], "wb")
    return {
        "lag_ms": lag * 1000 / rate,
        "reference_ms": len(reference) * 1000 / rate,
        "recorded_ms": len(degraded) * 1000 / rate,
        "pesq_wb": float(score),
    }
