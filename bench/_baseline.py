"""In-process reference costs for the gateway's per-packet path, no sockets.

- libopus decode of the benchmark's packets through device/codec.OpusDecoder
  as the gateway configures it (importing host.gateway hands device/codec the
  gateway's Opus binding), through opuslib_next's own Decoder, and straight
  through ctypes into a preallocated buffer (libopus itself);
- libsrtp unprotect (pylibsrtp) of the same packets;
- GatewaySession.receive_rtp end to end (unprotect, parse, jitter buffer,
  decode, latency sample, sink write) with a null sink;
- GatewaySession.send_report (one SRTCP receiver report; the gateway sends
  one per session per second, all in one burst).
Decode and receive_rtp are also timed with 500 sessions taking turns frame by
frame, as under load: 500 decoder and libsrtp states do not fit in the CPU
caches together, and each packet pays for that. What the gateway process
spends per packet beyond receive_rtp is the socket, the event loop and RTCP.
"""
import ctypes
import statistics
import time

import opuslib_next
import opuslib_next.api.decoder as opus_api
from pylibsrtp import Policy, Session

from bench._audio import SAMPLE_RATE_HZ
from bench._gateway_proc import NullSink
from device import rtp
from device.codec import OpusDecoder
from host.gateway import srtp_streams
from host.gateway.media_session import GatewaySession
from host.sessions import new_session

_MAX_FRAME_SAMPLES = SAMPLE_RATE_HZ * 120 // 1000
MANY_SESSIONS = 500


def _median_us(run, count, repeats):
    """Median over `repeats` of the mean microseconds per call of run(count)."""
    run(min(count, 200))  # warm caches and decoder state
    means = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run(count)
        means.append((time.perf_counter_ns() - start) / count / 1000.0)
    return round(statistics.median(means), 2)


def _bare_libopus(payloads):
    """A loop of opus_decode straight through ctypes into one preallocated buffer."""
    state = opus_api.create_state(SAMPLE_RATE_HZ, 1)
    pcm = (ctypes.c_int16 * _MAX_FRAME_SAMPLES)()
    decode = opus_api.libopus_decode

    def bare(n):
        for i in range(n):
            payload = payloads[i % len(payloads)]
            decode(state, payload, len(payload), pcm, _MAX_FRAME_SAMPLES, 0)
    return bare, lambda: opus_api.destroy(state)


def _round_robin(payloads):
    # Each frame to the next of many decoders, as the gateway does: their
    # states no longer fit in the CPU caches together.
    decoders = [OpusDecoder(SAMPLE_RATE_HZ, 1) for _ in range(MANY_SESSIONS)]

    def run(n):
        for i in range(n):
            decoders[i % MANY_SESSIONS].decode(payloads[(i // MANY_SESSIONS) % len(payloads)])
    return run


def decode_costs(payloads, count=2000, repeats=5):
    """Microseconds per 20 ms frame: OpusDecoder decode and PLC, opuslib_next, bare libopus."""
    decoder = OpusDecoder(SAMPLE_RATE_HZ, 1)
    reference = opuslib_next.Decoder(SAMPLE_RATE_HZ, 1)
    frame_samples = SAMPLE_RATE_HZ // 50

    def wrapped(n):
        for i in range(n):
            decoder.decode(payloads[i % len(payloads)])

    def conceal(n):
        for _ in range(n):
            decoder.conceal(frame_samples)

    def opuslib(n):
        for i in range(n):
            reference.decode(payloads[i % len(payloads)], _MAX_FRAME_SAMPLES)

    bare, release = _bare_libopus(payloads)
    try:
        return {"opus_decoder_us": _median_us(wrapped, count, repeats),
                "opus_conceal_us": _median_us(conceal, count, repeats),
                "opus_decoder_many_us": _median_us(_round_robin(payloads), max(count, 4 * MANY_SESSIONS),
                                                   repeats),
                "libopus_bare_us": _median_us(bare, count, repeats),
                "opuslib_next_decoder_us": _median_us(opuslib, count, repeats)}
    finally:
        release()


def decode_probe_us(payloads, frames=200, runs=5):
    """OpusDecoder.decode us per frame, best of a few short runs: the CPU's speed right now."""
    decoder = OpusDecoder(SAMPLE_RATE_HZ, 1)
    for payload in payloads[:50]:
        decoder.decode(payload)
    best = None
    for _ in range(runs):
        start = time.perf_counter_ns()
        for i in range(frames):
            decoder.decode(payloads[i % len(payloads)])
        mean = (time.perf_counter_ns() - start) / frames / 1000.0
        best = mean if best is None else min(best, mean)
    return best


def _protected(session, payloads, count):
    tx = Session(Policy(key=session.srtp_key_and_salt, ssrc_type=Policy.SSRC_SPECIFIC,
                        ssrc_value=session.uplink_ssrc,
                        srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
    buffer = bytearray(rtp.FIXED_HEADER_SIZE + 1500)
    packets = []
    for index in range(count):
        payload = payloads[index % len(payloads)]
        size = rtp.write_header(buffer, session.payload_type, index == 0, index, index * 960,
                                session.uplink_ssrc) + len(payload)
        buffer[rtp.FIXED_HEADER_SIZE:size] = payload
        packets.append(tx.protect(bytes(buffer[:size])))
    return packets


def _per_packet_us(call, packets):
    start = time.perf_counter_ns()
    for packet in packets:
        call(packet)
    return (time.perf_counter_ns() - start) / len(packets) / 1000.0


def _served(session):
    return GatewaySession(session, NullSink(), lambda delay_s, callback: None, lambda data, addr: None)


def _many_sessions_us(payloads, frames=8):
    """receive_rtp per packet with MANY_SESSIONS sessions taking turns, frame by frame."""
    sessions = [new_session("127.0.0.1", 5004) for _ in range(MANY_SESSIONS)]
    served = [_served(session) for session in sessions]
    streams = [_protected(session, payloads, frames) for session in sessions]
    address = ("127.0.0.1", 40000)
    start = time.perf_counter_ns()
    for frame in range(frames):
        for target, packets in zip(served, streams):
            target.receive_rtp(packets[frame], address, time.monotonic())
    return (time.perf_counter_ns() - start) / (frames * MANY_SESSIONS) / 1000.0


def path_costs(payloads, count=3000, repeats=3):
    """Microseconds per packet of libsrtp unprotect, receive_rtp (one and many sessions), send_report."""
    unprotect, receive, many, report = [], [], [], []
    address = ("127.0.0.1", 40000)
    for _ in range(repeats):
        session = new_session("127.0.0.1", 5004)
        packets = _protected(session, payloads, count)
        inbound = srtp_streams.inbound_context(session)
        unprotect.append(_per_packet_us(inbound.unprotect, packets))
        served = _served(session)
        receive.append(_per_packet_us(
            lambda packet: served.receive_rtp(packet, address, time.monotonic()), packets))
        report.append(_per_packet_us(lambda _: served.send_report(time.monotonic()), range(300)))
        many.append(_many_sessions_us(payloads))
    return {"srtp_unprotect_us": round(statistics.median(unprotect), 2),
            "receive_rtp_us": round(statistics.median(receive), 2),
            "receive_rtp_many_us": round(statistics.median(many), 2),
            "send_report_us": round(statistics.median(report), 2)}
