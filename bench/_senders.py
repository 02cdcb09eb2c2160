"""Load generator: one process drives many device uplinks over real SRTP/UDP.

What a board sends, built cheaply so that the sender is not what is measured:
the Opus payloads are encoded once (bench/_audio.py); per packet only the RTP
header (device/rtp.py write_header), libsrtp protect (pylibsrtp) and sendto
remain. Each stream keeps a 20 ms schedule at its own phase, so packets from
all streams arrive spread over each 20 ms; once a second (by default) it also
sends an SRTCP sender report, which the gateway answers. The run is bounded by
frame count and by a wall-clock deadline.
"""
import array
import socket
import time

from pylibsrtp import Policy, Session

from bench._gateway_proc import cpu_s, pin
from bench._report import percentile
from device import rtcp, rtcp_time, rtp
from device.session import MediaSession

FRAME_S = 0.020
_RTP_TICKS_PER_FRAME = 960  # Opus: 48 kHz RTP clock (RFC 7587) x 20 ms
_SLEEP_MIN_S = 0.0003  # send up to this early rather than sleep for less
_DEADLINE_SLACK_S = 5.0


class _Stream:
    """Send state of one device uplink."""

    __slots__ = ("ssrc", "payload_type", "seq", "ts", "tx", "phase_s", "offset",
                 "report_slot", "packets", "octets")

    def __init__(self, session, phase_s, offset, report_slot):
        self.ssrc = session.uplink_ssrc
        self.payload_type = session.payload_type
        self.seq = session.uplink_ssrc & 0xFFFF
        self.ts = (session.uplink_ssrc * 7919) & 0xFFFFFFFF
        self.tx = Session(Policy(key=session.srtp_key_and_salt, ssrc_type=Policy.SSRC_SPECIFIC,
                                 ssrc_value=session.uplink_ssrc,
                                 srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))
        self.phase_s = phase_s
        self.offset = offset
        self.report_slot = report_slot
        self.packets = 0
        self.octets = 0


class _Plan:
    """When to send: start, warm-up, measured window and RTCP rate."""

    def __init__(self, t0_s, warm_s, duration_s, rtcp_interval_s):
        self.t0_s = t0_s
        self.window = (t0_s + warm_s, t0_s + warm_s + duration_s)
        self.frames = int(round((warm_s + duration_s) / FRAME_S))
        self.report_every = int(round(rtcp_interval_s / FRAME_S)) if rtcp_interval_s > 0 else 0
        self.deadline_s = self.window[1] + _DEADLINE_SLACK_S


def run_sender(results, index, streams, port, plan_args, payloads, cores):
    """Process entry point: send every stream's frames, put a summary on `results`."""
    pin(cores)
    plan = _Plan(*plan_args)
    states = [_Stream(MediaSession.from_dict(data), phase_s, offset, slot)
              for data, phase_s, offset, slot in streams]
    states.sort(key=lambda state: state.phase_s)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        summary = _send_all(sock, ("127.0.0.1", port), states, plan, payloads)
    finally:
        sock.close()
    summary["index"] = index
    summary["streams"] = len(states)
    results.put(summary)


def _send_all(sock, address, states, plan, payloads):
    buffer = bytearray(rtp.FIXED_HEADER_SIZE + 1500)
    view = memoryview(buffer)
    lateness = array.array("d")
    counts = {"sent_rtp": 0, "sent_rtcp": 0, "sent_rtp_in_window": 0, "rtcp_answers": 0}
    start_cpu = cpu_s()
    window_start, window_end = plan.window
    aborted = False
    for frame in range(plan.frames):
        base = plan.t0_s + frame * FRAME_S
        for state in states:
            due = base + state.phase_s
            now = time.monotonic()
            if due - now > _SLEEP_MIN_S:
                time.sleep(due - now)
                now = time.monotonic()
            lateness.append(now - due)
            _send_rtp(sock, address, state, buffer, view, payloads, frame)
            if window_start <= due < window_end:
                counts["sent_rtp_in_window"] += 1
            if plan.report_every and frame % plan.report_every == state.report_slot:
                sock.sendto(_sender_report(state), address)
                counts["sent_rtcp"] += 1
        counts["sent_rtp"] += len(states)
        counts["rtcp_answers"] += _drain(sock)
        if time.monotonic() > plan.deadline_s:
            aborted = True
            break
    counts.update(_lateness_summary(lateness))
    counts["cpu_s"] = cpu_s() - start_cpu
    counts["aborted"] = aborted
    return counts


def _send_rtp(sock, address, state, buffer, view, payloads, frame):
    payload = payloads[(state.offset + frame) % len(payloads)]
    size = rtp.write_header(buffer, state.payload_type, frame == 0, state.seq, state.ts,
                            state.ssrc) + len(payload)
    view[rtp.FIXED_HEADER_SIZE:size] = payload
    sock.sendto(state.tx.protect(bytes(view[:size])), address)
    state.seq = (state.seq + 1) & 0xFFFF
    state.ts = (state.ts + _RTP_TICKS_PER_FRAME) & 0xFFFFFFFF
    state.packets += 1
    state.octets += len(payload)


def _sender_report(state):
    report = rtcp.SenderReport(
        ssrc=state.ssrc, ntp_timestamp=rtcp_time.ntp_from_unix(time.time()),
        rtp_timestamp=(state.ts - _RTP_TICKS_PER_FRAME) & 0xFFFFFFFF,
        packet_count=state.packets, octet_count=state.octets)
    return state.tx.protect_rtcp(report.to_bytes())


def _drain(sock):
    # The gateway's receiver reports: counted, not parsed.
    received = 0
    while True:
        try:
            sock.recv(2048, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return received
        received += 1


def _lateness_summary(lateness):
    ordered = sorted(lateness)
    def ms(value):
        return None if value is None else round(max(value, 0.0) * 1000.0, 3)
    return {"late_p50_ms": ms(percentile(ordered, 0.5)), "late_p99_ms": ms(percentile(ordered, 0.99)),
            "late_max_ms": ms(ordered[-1] if ordered else None)}
