"""The gateway over real sockets, real libsrtp and real libopus."""
import collections
import time
import wave

import pytest

from device import rtcp, rtcp_time
from device.rtcp_report_block import ReportBlock
from host.gateway.opus_fec import has_fec
from tests.host.gateway.audio import dominant_frequency_hz, sine_frames
from tests.host.gateway.harness import (
    OTHER_KEY, DeviceDouble, make_session, run, running_gateway, srtp_context)


def _read_wav(path):
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        return wav.readframes(wav.getnframes())


def _nonzero(counters):
    return {name: value for name, value in counters.as_dict().items() if value}


@pytest.mark.parametrize("codec, rate_hz", [("opus", 16000), ("opus", 48000), ("l16", 16000)])
def test_one_second_of_sine_is_recorded_time_aligned_at_16khz(tmp_path, codec, rate_hz):
    session = make_session(codec=codec, sample_rate_hz=rate_hz)
    frames = sine_frames(50, rate_hz // 50, rate_hz=rate_hz)

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, sinks, errors):
            device = await DeviceDouble(session).open(gateway.address)
            device.send(*device.packets(frames))
            await sinks[session.uplink_ssrc].wait_frames(50)
            device.close()
            counters = gateway.session(session.uplink_ssrc).counters
            assert _nonzero(counters) == {"received": 50, "frames_written": 50}
            assert errors == []

    run(scenario())
    pcm = _read_wav(tmp_path / ("%08x.wav" % session.uplink_ssrc))
    assert len(pcm) == 16000 * 2  # exactly 1 s: one 20 ms frame per packet
    assert abs(dominant_frequency_hz(pcm[640:]) - 440) < 5
    if codec == "l16":
        assert pcm == b"".join(frames)  # L16 is lossless: the very samples sent


def test_scripted_loss_reorder_duplicate_are_counted_and_reported(tmp_path):
    session = make_session()
    # 30 packets: 5 lost; 11 before 10; 15 twice; 20 and 21 lost; 25 after 29 (late).
    order = [0, 1, 2, 3, 4, 6, 7, 8, 9, 11, 10, 12, 13, 14, 15, 15, 16, 17, 18, 19,
             22, 23, 24, 26, 27, 28, 29, 25]

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, sinks, errors):
            device = await DeviceDouble(session).open(gateway.address)
            packets = device.packets(sine_frames(30, 320))
            device.send(*[packets[index] for index in order])
            report_packet, sender_report = device.sender_report(packet_count=30)
            device.send(report_packet)
            reply = await device.receive_report()
            await sinks[session.uplink_ssrc].wait_frames(30)
            device.close()
            return gateway.session(session.uplink_ssrc).counters, device, reply, sender_report

    counters, device, reply, sender_report = run(scenario())
    recovered = sum(has_fec(device.payloads[after]) for after in (6, 22, 26))
    assert recovered >= 1  # the FEC path is exercised, not only PLC
    assert _nonzero(counters) == {
        "received": 27, "lost": 4, "late": 1, "duplicate": 1, "reordered": 1,
        "concealed": 4 - recovered, "fec_recovered": recovered, "frames_written": 30,
        "rtcp_received": 1, "rtcp_sent": 1}
    receiver_report, sdes = reply
    assert isinstance(receiver_report, rtcp.ReceiverReport)
    assert receiver_report.ssrc == session.downlink_ssrc
    assert sdes.packet_type == rtcp.PT_SDES
    [block] = receiver_report.reports
    assert block.ssrc == session.uplink_ssrc
    assert block.packets_lost == 3  # RFC 3550: expected 30, received 27 (late 25 counts)
    assert block.fraction_lost == (3 << 8) // 30
    assert block.highest_sequence == 65520 + 29  # seq0 65520 wrapped once
    assert block.lsr == rtcp_time.compact_ntp(sender_report.ntp_timestamp)
    assert 0 <= block.dlsr < 65536  # answered within a second of the SR
    assert len(_read_wav(tmp_path / ("%08x.wav" % session.uplink_ssrc))) == 30 * 640


def test_receiver_reports_are_sent_periodically_to_the_device(tmp_path):
    session = make_session()

    async def scenario():
        async with running_gateway(tmp_path, [session], rtcp_interval_s=0.05) as (gateway, _, _):
            device = await DeviceDouble(session).open(gateway.address)
            device.send(*device.packets(sine_frames(5, 320)))
            reports = []
            while len(reports) < 2:  # a report racing the 5 packets may cover fewer
                compound = await device.receive_report()
                if compound[0].reports[0].highest_sequence == 65520 + 4:
                    reports.append(compound)
            device.close()
            return reports, gateway.session(session.uplink_ssrc).counters

    reports, counters = run(scenario())
    for compound in reports:
        block = compound[0].reports[0]
        assert (compound[0].ssrc, block.ssrc) == (session.downlink_ssrc, session.uplink_ssrc)
        assert (block.packets_lost, block.fraction_lost) == (0, 0)
        assert block.lsr == 0 and block.dlsr == 0  # the device sent no SR
    assert counters.rtcp_sent >= 2 and counters.rtcp_received == 0


def test_round_trip_time_from_a_device_report_about_the_downlink(tmp_path):
    session = make_session()

    async def scenario():
        async with running_gateway(tmp_path, [session]) as (gateway, _, _):
            device = await DeviceDouble(session).open(gateway.address)
            now_ntp = rtcp_time.ntp_from_unix(time.time())
            # As if the gateway's SR left 0.5 s ago and the device held it 0.2 s.
            block = ReportBlock(session.downlink_ssrc,
                                lsr=rtcp_time.compact_ntp(now_ntp - (1 << 31)),
                                dlsr=int(0.2 * 65536))
            device.send(device.sender_report(reports=[block])[0])
            await device.receive_report()
            device.close()
            return gateway.session(session.uplink_ssrc).stats()

    stats = run(scenario())
    assert 0.25 < stats["rtt_ms"] / 1000 < 0.45


def _hostile_datagrams(session, device, packets):
    """One of each kind of bad datagram, with the counter it belongs in."""
    wrong_key = srtp_context(session, session.uplink_ssrc, key=OTHER_KEY)
    stranger = make_session(uplink_ssrc=0x77777777, downlink_ssrc=0x77777778)
    short_rtcp = bytes([0x80, 200, 0, 1]) + session.uplink_ssrc.to_bytes(4, "big") + bytes(4)
    return [
        (wrong_key.protect(device.rtp(140, device.payloads[140]).to_bytes()), "auth_failed"),
        (packets[140][:-3], "auth_failed"),  # tag cut short
        (device.sender_report(context=wrong_key)[0], "auth_failed"),  # forged SRTCP
        (packets[0], "replayed"),  # older than libsrtp's 128-packet window
        (packets[139], "duplicate"),  # already received
        (packets[140][:15], "malformed"),  # shorter than header + tag
        (short_rtcp, "malformed"),
        (b"\x80\x6f", "malformed"),  # not even an RTP header
        (packets[140] + bytes(1600), "malformed"),  # larger than any SRTP packet
        (b"\x80\x6f" + bytes(10) + b"junk" * 8, "unknown_ssrc"),  # SSRC 0
        (DeviceDouble(stranger).packets(sine_frames(1, 320))[0], "unknown_ssrc"),
    ]


def test_forged_replayed_truncated_garbage_and_unknown_packets_are_counted(tmp_path):
    session = make_session()
    bystander = make_session(uplink_ssrc=0x0BADF00D, downlink_ssrc=0x0BADF00E)

    async def scenario():
        async with running_gateway(tmp_path, [session, bystander]) as (gateway, sinks, errors):
            device = await DeviceDouble(session).open(gateway.address)
            attacker = await DeviceDouble(session).open(gateway.address)
            sink = sinks[session.uplink_ssrc]
            packets = device.packets(sine_frames(142, 320))
            for start in range(0, 140, 20):  # 140 good packets, beyond the replay window
                device.send(*packets[start:start + 20])
                await sink.wait_frames(start + 20)
            hostile = _hostile_datagrams(session, device, packets)
            attacker.send(*[datagram for datagram, _ in hostile])
            device.send(packets[140], packets[141])
            await sink.wait_frames(142)
            served = gateway.session(session.uplink_ssrc)
            result = (served.counters, served.address, device.address,
                      gateway.session(bystander.uplink_ssrc).counters, gateway.counters, errors,
                      collections.Counter(label for _, label in hostile))
            device.close()
            attacker.close()
            return result

    counters, latched, device_address, bystander_counters, total, errors, labels = run(scenario())
    assert {name: getattr(total, name) for name in labels} == labels
    assert _nonzero(counters) == {
        "received": 142, "frames_written": 142, "auth_failed": 3, "replayed": 1,
        "duplicate": 1, "malformed": 2}
    assert latched == device_address  # nothing the attacker sent moved the address
    assert _nonzero(bystander_counters) == {}
    # Too short or too long to route: counted by the gateway, not by a session.
    assert (total.malformed, total.unknown_ssrc) == (2 + 2, 2)
    assert errors == []
