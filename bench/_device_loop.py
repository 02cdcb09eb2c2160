"""Device per-packet costs, timed on whichever runtime runs this file.

Runs unchanged on the MicroPython unix port (time.ticks_us) and on CPython
(time.perf_counter_ns); bench/device.py starts it under both and reads the
JSON line it prints. What is timed is device/uplink.py's per-frame path
(Uplink._send_frame) without the socket: encode, rtp.write_header into the
preallocated packet buffer plus the payload copy, SrtpContext.protect; and a
sender report built and protected with SrtpContext.protect_rtcp.

    micropython -m bench._device_loop [iterations] [repeats]
"""
import gc
import json
import sys
import time

from device import codec, rtcp, rtp
from device.srtp import SrtpContext

FRAME_BYTES = 640  # 20 ms of 16 kHz mono s16le: also the L16 payload size
OPUS_PAYLOAD_BYTES = 60  # a typical 24 kbit/s 20 ms Opus packet (~55-65 bytes)
SSRC = 0x1234ABCD
_KEY = bytes(range(1, 17))
_SALT = bytes(range(100, 114))

if hasattr(time, "ticks_us"):
    RUNTIME = "micropython"

    def _now_us():
        return time.ticks_us()

    def _elapsed_us(start):
        return time.ticks_diff(time.ticks_us(), start)
else:
    RUNTIME = "cpython"

    def _now_us():
        return time.perf_counter_ns()

    def _elapsed_us(start):
        return (time.perf_counter_ns() - start) / 1000.0


class Frame:
    """The uplink's buffers and state for one stream (as Uplink allocates them)."""

    def __init__(self, payload_type):
        self.packet = bytearray(rtp.FIXED_HEADER_SIZE + 1500)
        self.view = memoryview(self.packet)
        self.payload_type = payload_type
        self.seq = 0
        self.ts = 0
        self.srtp = SrtpContext(_KEY, _SALT)

    def packetize(self, payload):
        """write_header into the preallocated buffer + payload copy; return the end."""
        header = rtp.write_header(self.packet, self.payload_type, False, self.seq, self.ts, SSRC)
        end = header + len(payload)
        self.view[header:end] = payload
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 960) & 0xFFFFFFFF
        return end

    def protect(self, end):
        """SrtpContext.protect of the packet in the buffer."""
        return self.srtp.protect(self.view[:end])


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def measure(body, iterations, repeats):
    """Median over repeats of the mean microseconds per call of body()."""
    for _ in range(min(iterations, 50)):
        body()
    means = []
    for _ in range(repeats):
        gc.collect()
        start = _now_us()
        for _ in range(iterations):
            body()
        means.append(_elapsed_us(start) / iterations)
    return round(_median(means), 2)


def heap_bytes_per_call(body, calls=100):
    """MicroPython only: heap bytes allocated per call (GC off while counting)."""
    if not hasattr(gc, "mem_alloc"):
        return None
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(calls):
            body()
        return (gc.mem_alloc() - before) // calls
    finally:
        gc.enable()
        gc.collect()


def _pcm_frame():
    # A deterministic two-partial triangle mix: voiced-like, no imports needed.
    pcm = bytearray(FRAME_BYTES)
    for i in range(FRAME_BYTES // 2):
        a = (i * 7) % 64
        b = (i * 29) % 23
        value = (abs(a - 32) - 16) * 400 + (abs(b - 11) - 6) * 300
        pcm[2 * i] = value & 0xFF
        pcm[2 * i + 1] = (value >> 8) & 0xFF
    return pcm


def _payload(size):
    return bytes((i * 73 + 11) & 0xFF for i in range(size))


def packet_cases(iterations, repeats):
    """packetize and packetize+protect for an L16 and an Opus-sized payload."""
    results, heap = {}, {}
    for name, size, payload_type in (("l16", FRAME_BYTES, 96), ("opus", OPUS_PAYLOAD_BYTES, 111)):
        payload = _payload(size)
        frame = Frame(payload_type)

        def packetize():
            frame.packetize(payload)

        def packet():
            frame.protect(frame.packetize(payload))

        results[name + "_packetize"] = measure(packetize, iterations, repeats)
        results[name + "_packetize_protect"] = measure(packet, iterations, repeats)
        results[name + "_protect"] = round(results[name + "_packetize_protect"] - results[name + "_packetize"], 2)
        heap[name + "_packetize_protect"] = heap_bytes_per_call(packet)
    return results, heap


def encode_cases(iterations, repeats):
    """The whole per-frame path with encoding: as Uplink._send_frame does it."""
    results, heap = {}, {}
    pcm = _pcm_frame()
    for name in codec.available_codecs():
        encoder = codec.make_encoder(name, 16000, 1, 20)
        frame = Frame(codec.DEFAULT_PAYLOAD_TYPES[name])

        def encode():
            encoder.encode(pcm)

        def send_frame():
            frame.protect(frame.packetize(encoder.encode(pcm)))

        results[name + "_encode"] = measure(encode, iterations, repeats)
        results[name + "_encode_packetize_protect"] = measure(send_frame, iterations, repeats)
        heap[name + "_encode_packetize_protect"] = heap_bytes_per_call(send_frame)
    return results, heap


def rtcp_cases(iterations, repeats):
    """A sender report: build (to_bytes) and SRTCP protect."""
    context = SrtpContext(_KEY, _SALT)
    state = [0]

    def build():
        state[0] += 1
        return rtcp.SenderReport(ssrc=SSRC, ntp_timestamp=0xE8A1B2C3D4E5F607 + state[0],
                                 rtp_timestamp=state[0] * 960, packet_count=state[0],
                                 octet_count=state[0] * 60).to_bytes()

    report = build()

    def protect():
        context.protect_rtcp(report)

    def both():
        context.protect_rtcp(build())

    results = {"sr_build": measure(build, iterations, repeats),
               "sr_protect_rtcp": measure(protect, iterations, repeats),
               "sr_build_protect_rtcp": measure(both, iterations, repeats)}
    return results, {"sr_build_protect_rtcp": heap_bytes_per_call(both)}


def main(argv):
    """Time every case; print one JSON object."""
    iterations = int(argv[1]) if len(argv) > 1 else 1000
    repeats = int(argv[2]) if len(argv) > 2 else 5
    results, heap = {}, {}
    for cases in (packet_cases, encode_cases, rtcp_cases):
        timed, allocated = cases(iterations, repeats)
        results.update(timed)
        heap.update(allocated)
    print(json.dumps({"runtime": RUNTIME, "version": sys.version, "iterations": iterations,
                      "repeats": repeats, "codecs": list(codec.available_codecs()),
                      "us": results, "heap_bytes_per_call": heap}))


main(sys.argv)
