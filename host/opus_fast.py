"""A faster CPython binding of the libopus decoder for the gateway.

opuslib_next's Decoder allocates a fresh ctypes array per call and copies the
PCM out through a Python list of ints: about half of the gateway's per-packet
cost. This module keeps one output buffer per decoder and copies it out with
one memmove. It offers the same small subset as the Opus modules that
device/codec.py accepts (Encoder, Decoder(rate, channels).decode(data,
samples, fec), OpusError) and is handed to it with codec.use_opus_module():
the device code never imports host code.
"""
import ctypes

import opuslib_next
from opuslib_next.api import decoder as _api

Encoder = opuslib_next.Encoder
OpusError = opuslib_next.OpusError

_MAX_FRAME_MS = 120


class Decoder:
    """libopus decoder state plus a reused PCM buffer."""

    def __init__(self, sample_rate_hz, channels):
        self._state = _api.create_state(sample_rate_hz, channels)
        self._channels = channels
        self._capacity = sample_rate_hz * _MAX_FRAME_MS // 1000
        self._pcm = (ctypes.c_int16 * (self._capacity * channels))()
        self._pcm_pointer = ctypes.cast(self._pcm, opuslib_next.api.c_int16_pointer)

    def decode(self, data, frame_size, decode_fec=False):
        """PCM bytes for one packet (b"" for concealment), at most frame_size samples."""
        if frame_size > self._capacity:
            raise OpusError(opuslib_next.BUFFER_TOO_SMALL)
        samples = _api.libopus_decode(self._state, data or None, len(data), self._pcm_pointer,
                                      frame_size, 1 if decode_fec else 0)
        if samples < 0:
            raise OpusError(samples)
        return ctypes.string_at(self._pcm, samples * self._channels * 2)

    def __del__(self):
        state = getattr(self, "_state", None)
        if state is not None:
            _api.destroy(state)
