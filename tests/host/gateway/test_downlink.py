"""The gateway's downlink sender, seen from a device double's socket.

DeviceDouble (harness.py) speaks the real wire protocol: it latches the
gateway on its address with a real SRTP uplink packet and reads what comes
back with libsrtp. L16 sessions let a test compare payloads with what was said
byte for byte.
"""
import asyncio
import struct

import pytest

from device import rtcp
from device.rtp import RtpPacket
from tests.host.gateway.audio import sine_frames
from tests.host.gateway.downlink_harness import tone_pcm, wait_until
from tests.host.gateway.harness import DeviceDouble, make_session, run, running_gateway

FRAME_MS = 20
FRAME_BYTES = 640


class Listener:
    """A device double that keeps the downlink RTP (clear) and the RTCP apart."""

    def __init__(self, double):
        self.double = double
        self.rtp = []   # (RtpPacket, arrival loop time)
        self.rtcp = []  # parsed compounds

    async def collect(self, count, timeout_s=10.0):
        """Read datagrams until `count` RTP packets have come."""
        loop = asyncio.get_running_loop()
        while len(self.rtp) < count:
            data = await asyncio.wait_for(self.double.inbox.queue.get(), timeout_s)
            if 192 <= data[1] <= 223:
                self.rtcp.append(rtcp.parse_compound(self.double.rx.unprotect_rtcp(data)))
            else:
                self.rtp.append((RtpPacket.parse(self.double.rx.unprotect(data)), loop.time()))
        return [packet for packet, _ in self.rtp]


async def _latched(gateway, session):
    double = await DeviceDouble(session).open(gateway.address)
    double.send(*double.packets(sine_frames(1, 320)))
    served = gateway.session(session.uplink_ssrc)
    await wait_until(lambda: served.address is not None, "the uplink packet")
    return double, served, Listener(double)


def test_talk_spurts_marker_sequence_and_timestamps_across_a_pause(tmp_path):
    async def scenario():
        session = make_session(codec="l16")
        async with running_gateway(tmp_path, [session]) as (gateway, _, _):
            double, served, listener = await _latched(gateway, session)
            first = tone_pcm(200)
            served.downlink.say(first[:3000], more=True)  # a streaming TTS: no padding between
            served.downlink.say(first[3000:])
            await listener.collect(10)
            await wait_until(lambda: served.downlink.in_flight_ms == 0, "the answer to play out")
            await asyncio.sleep(0.1)  # the scenario: 100 ms of quiet between two answers
            second = tone_pcm(100)[:-20]  # last frame 10 samples short
            served.downlink.say(second)
            packets = await listener.collect(15)
            double.close()
            return packets, served.downlink.stats(), first, second

    packets, stats, first, second = run(scenario())
    assert [packet.marker for packet in packets] == [True] + [False] * 9 + [True] + [False] * 4
    assert all(packet.ssrc == make_session().downlink_ssrc for packet in packets)
    assert all(packet.payload_type == 96 for packet in packets)
    seqs = [packet.sequence_number for packet in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in zip(packets, packets[1:])]
    assert steps[:9] == [320] * 9 and steps[10:] == [320] * 4
    # The pause is in the timestamps, in whole frames: at least the 100 ms slept.
    assert steps[9] % 320 == 0 and 1 + 5 <= steps[9] // 320 <= 1 + 5 + 10
    pcm = b"".join(struct.pack("<%dh" % (len(p.payload) // 2), *struct.unpack(
        ">%dh" % (len(p.payload) // 2), p.payload)) for p in packets)
    assert pcm[:len(first)] == first  # L16 carries exactly what was said
    assert pcm[len(first):len(first) + len(second)] == second
    assert pcm[len(first) + len(second):] == bytes(20)  # the short last frame, padded
    assert (stats["frames_sent"], stats["talk_spurts"], stats["octets_sent"]) == (15, 2, 15 * 640)
    assert stats["max_in_flight_ms"] <= stats["lead_ms"] + FRAME_MS + 1e-6


def test_flush_drops_what_is_queued_and_the_next_answer_is_a_new_spurt_at_once(tmp_path):
    async def scenario():
        session = make_session(codec="opus")
        async with running_gateway(tmp_path, [session]) as (gateway, _, _):
            double, served, listener = await _latched(gateway, session)
            downlink = served.downlink
            downlink.say(tone_pcm(2000))
            await listener.collect(10)
            sent = downlink.counters.frames_sent
            queued = downlink.queued_ms
            dropped = downlink.flush()
            await asyncio.sleep(0)
            assert downlink.queued_ms == 0 and downlink.counters.frames_sent == sent
            downlink.say(tone_pcm(100))
            packets = await listener.collect(sent + 5)
            double.close()
            return packets, sent, queued, dropped, downlink.stats()

    packets, sent, queued, dropped, stats = run(scenario())
    assert dropped == queued == 2000 - FRAME_MS * sent
    assert (stats["flushes"], stats["frames_flushed"]) == (1, dropped // FRAME_MS)
    assert stats["frames_sent"] == sent + 5 and len(packets) == sent + 5
    after = packets[sent]
    assert after.marker and not any(packet.marker for packet in packets[sent + 1:])
    assert after.sequence_number == (packets[sent - 1].sequence_number + 1) & 0xFFFF
    # Timestamps never go back: the new spurt goes on from the last packet sent.
    assert (after.timestamp - packets[sent - 1].timestamp) & 0xFFFFFFFF == 960


def test_the_gateway_reports_with_an_sr_once_the_downlink_has_sent(tmp_path):
    async def scenario():
        session = make_session(codec="opus")
        async with running_gateway(tmp_path, [session]) as (gateway, _, _):
            double, served, listener = await _latched(gateway, session)
            double.send(double.sender_report(packet_count=1)[0])
            before = await double.receive_report()
            served.downlink.say(tone_pcm(200))
            await listener.collect(10)
            double.send(double.sender_report(packet_count=1)[0])
            after = await double.receive_report()  # answered at once
            received_at = asyncio.get_running_loop().time()
            double.close()
            return before, after, received_at, listener.rtp, served.downlink.stats(), session

    before, after, received_at, arrivals, stats, session = run(scenario())
    assert isinstance(before[0], rtcp.ReceiverReport)  # nothing sent down yet: RR
    report = after[0]
    assert isinstance(report, rtcp.SenderReport) and report.ssrc == session.downlink_ssrc
    assert (report.packet_count, report.octet_count) == (10, stats["octets_sent"])
    assert [block.ssrc for block in report.reports] == [session.uplink_ssrc]
    assert after[1].packet_type == rtcp.PT_SDES
    # The SR's RTP time is "now" on the downlink clock (48 kHz, RFC 7587): as
    # far past the first packet's timestamp as the wall clock has gone since
    # that packet (sent at its slot: it starts the spurt).
    first, first_at = arrivals[0]
    rtp_ms = ((report.rtp_timestamp - first.timestamp) & 0xFFFFFFFF) / 48
    assert rtp_ms == pytest.approx((received_at - first_at) * 1000, abs=10)


def test_without_a_latched_address_frames_are_counted_not_sent(tmp_path):
    async def scenario():
        session = make_session(codec="l16")
        async with running_gateway(tmp_path, [session]) as (gateway, _, _):
            downlink = gateway.session(session.uplink_ssrc).downlink
            downlink.say(tone_pcm(100))
            await wait_until(lambda: downlink.counters.no_address == 5, "five frames")
            return downlink.stats()

    stats = run(scenario())
    assert (stats["frames_sent"], stats["no_address"]) == (0, 5)


def test_say_refuses_odd_bytes_and_a_closed_session(tmp_path):
    async def scenario():
        session = make_session(codec="opus")
        async with running_gateway(tmp_path, [session]) as (gateway, _, _):
            downlink = gateway.session(session.uplink_ssrc).downlink
            with pytest.raises(ValueError, match="not whole 16-bit samples"):
                downlink.say(b"\x00" * 3)
            gateway.remove_session(session.uplink_ssrc)
            with pytest.raises(RuntimeError, match="closed"):
                downlink.say(bytes(FRAME_BYTES))

    run(scenario())
