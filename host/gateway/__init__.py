"""pipit gateway: receives devices' SRTP media, records it as 16 kHz mono PCM.

The CLI and other callers use: Gateway / GatewaySettings / serve (server.py),
WavSink / wav_sink_factory (wav_sink.py) and the counter names (counters.py).
"""
from host.gateway.counters import COUNTER_NAMES, COUNTERS, Counters
from host.gateway.server import Gateway, GatewaySettings, serve
from host.gateway.wav_sink import WavSink, wav_sink_factory

__all__ = ["COUNTER_NAMES", "COUNTERS", "Counters", "Gateway", "GatewaySettings", "serve",
           "WavSink", "wav_sink_factory"]
