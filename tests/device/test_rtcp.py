"""RTCP reports (RFC 3550 section 6): byte layouts, round trips, malformed input."""
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device import rtcp, rtcp_time, rtp
from device.rtcp_report_block import ReportBlock

# An SR with one report block, written out field by field from the layout in
# RFC 3550 section 6.4.1 (not produced by the code under test).
HAND_BUILT_SR = bytes.fromhex(
    "81"        # V=2, P=0, RC=1
    "c8"        # PT=200 (SR)
    "000c"      # length: 13 words - 1
    "11223344"  # SSRC of sender
    "e8fe6f80"  # NTP timestamp, most significant word
    "40000000"  # NTP timestamp, least significant word (0.25 s)
    "01020304"  # RTP timestamp
    "00000064"  # sender's packet count: 100
    "00001f40"  # sender's octet count: 8000
    "55667788"  # SSRC_1 (source of the report block)
    "40"        # fraction lost: 64/256
    "fffffe"    # cumulative number of packets lost: -2 (signed 24-bit)
    "0001000a"  # extended highest sequence number: 1 cycle, seq 10
    "00000020"  # interarrival jitter: 32
    "6f804000"  # last SR (LSR)
    "00010000"  # delay since last SR (DLSR): 1 s
)


def hand_built_sr_object():
    return rtcp.SenderReport(
        ssrc=0x11223344, ntp_timestamp=(0xE8FE6F80 << 32) | 0x40000000,
        rtp_timestamp=0x01020304, packet_count=100, octet_count=8000,
        reports=[ReportBlock(0x55667788, fraction_lost=64, packets_lost=-2,
                             highest_sequence=0x0001000A, jitter=32,
                             lsr=0x6F804000, dlsr=0x00010000)])


def test_sender_report_matches_the_rfc_layout_byte_for_byte():
    assert hand_built_sr_object().to_bytes() == HAND_BUILT_SR
    assert bytes(hand_built_sr_object()) == HAND_BUILT_SR


def test_hand_built_sender_report_parses_to_its_fields():
    report = rtcp.SenderReport.parse(HAND_BUILT_SR)
    assert report == hand_built_sr_object()
    block = report.reports[0]
    assert (block.fraction_lost, block.packets_lost, block.highest_sequence) == (64, -2, 0x1000A)
    assert report.extension == b""


def test_receiver_report_without_blocks_is_two_words():
    data = rtcp.ReceiverReport(0xCAFEBABE).to_bytes()
    assert data == bytes.fromhex("80c90001cafebabe")
    assert rtcp.ReceiverReport.parse(data) == rtcp.ReceiverReport(0xCAFEBABE)


def test_receiver_report_round_trip_with_blocks_and_extension():
    blocks = [ReportBlock(i, i, -i, i << 16, i * 3, i * 5, i * 7) for i in range(1, 4)]
    report = rtcp.ReceiverReport(7, blocks, extension=b"\x01\x02\x03\x04")
    data = report.to_bytes()
    assert data[0] == 0x83 and data[1] == 201
    assert struct.unpack("!H", data[2:4])[0] == (len(data) // 4) - 1
    assert rtcp.ReceiverReport.parse(data) == report


def test_sender_counters_and_rtp_timestamp_wrap():
    report = rtcp.SenderReport(1, 0, rtp_timestamp=(1 << 32) + 3,
                               packet_count=(1 << 32) + 5, octet_count=(1 << 33) + 6)
    parsed = rtcp.SenderReport.parse(report.to_bytes())
    assert (parsed.rtp_timestamp, parsed.packet_count, parsed.octet_count) == (3, 5, 6)


def test_too_many_report_blocks_refused():
    with pytest.raises(ValueError, match="at most 31"):
        rtcp.ReceiverReport(1, [ReportBlock(i) for i in range(32)]).to_bytes()


def test_compound_with_sdes_bye_app_round_trips():
    app = rtcp.RtcpUnknown(rtcp.PT_APP, 3, b"\x00\x00\x00\x09PIPT\xde\xad\xbe\xef")
    packets = [hand_built_sr_object(), rtcp.sdes_cname(0x11223344, "pipit-01"),
               app, rtcp.bye([0x11223344])]
    data = rtcp.build_compound(packets)
    parsed = rtcp.parse_compound(data)
    assert parsed == packets
    assert [type(p).__name__ for p in parsed] == [
        "SenderReport", "RtcpUnknown", "RtcpUnknown", "RtcpUnknown"]
    assert rtcp.build_compound(parsed) == data


def test_sdes_cname_layout():
    # SSRC, CNAME=1, length 3, "dev", then a null item end and padding to 32 bits.
    packet = rtcp.sdes_cname(0x01020304, "dev")
    assert packet.to_bytes() == bytes.fromhex("81ca0003" "01020304" "0103") + b"dev" + bytes(3)
    # A name that fills the word exactly still needs one null: a whole null word.
    assert rtcp.sdes_cname(1, "ab").to_bytes()[-4:] == bytes(4)


def test_bye_layout():
    assert rtcp.bye([1, 2]).to_bytes() == bytes.fromhex("82cb0002" "00000001" "00000002")


def test_build_compound_must_start_with_a_report():
    with pytest.raises(ValueError, match="start with SR or RR"):
        rtcp.build_compound([rtcp.bye([1])])
    with pytest.raises(ValueError, match="at least one"):
        rtcp.build_compound([])


def test_reduced_size_rtcp_without_a_report_is_accepted():
    data = rtcp.bye([5]).to_bytes()
    assert rtcp.parse_compound(data) == [rtcp.bye([5])]


def test_padding_on_the_last_packet_is_removed():
    padded = bytes.fromhex("a0c90002" "cafebabe" "00000004")  # P=1, 4 bytes of padding
    assert rtcp.parse_compound(padded) == [rtcp.ReceiverReport(0xCAFEBABE)]
    compound = rtcp.ReceiverReport(1).to_bytes() + bytes.fromhex("a1cb0002" "00000009" "00000004")
    assert rtcp.parse_compound(compound)[1] == rtcp.bye([9])


@pytest.mark.parametrize("data, message", [
    (b"", "empty packet"),
    (b"\x80\xc9", "shorter than a 4-byte header"),
    (bytes.fromhex("40c90001cafebabe"), "version is 1"),
    (bytes.fromhex("80c90002cafebabe"), "claims 12 bytes, only 8 remain"),
    (bytes.fromhex("80c90001cafebabe00"), "1 trailing bytes"),
    (bytes.fromhex("81c90001cafebabe"), "RR with 1 report blocks needs 28 bytes"),
    (bytes.fromhex("81c80001cafebabe"), "SR with 1 report blocks needs 48 bytes"),
    (bytes.fromhex("80c80001cafebabe"), "SR with 0 report blocks needs 24 bytes"),
    (bytes.fromhex("80600001cafebabe"), "packet type 96"),
    (bytes.fromhex("a0c90002cafebabe00000000"), "padding count 0"),
    (bytes.fromhex("a0c90001cafebabe"), "padding count 190"),
    (bytes.fromhex("a0c90001cafebabe") + bytes.fromhex("80cb0000"), "not last"),
])
def test_malformed_compound_packets_raise_precise_value_errors(data, message):
    with pytest.raises(ValueError, match=message):
        rtcp.parse_compound(data)


def test_parse_of_one_kind_refuses_another():
    with pytest.raises(ValueError, match="expected one ReceiverReport"):
        rtcp.ReceiverReport.parse(HAND_BUILT_SR)
    with pytest.raises(ValueError, match="expected one SenderReport"):
        rtcp.SenderReport.parse(HAND_BUILT_SR + rtcp.bye([1]).to_bytes())


def test_round_trip_from_an_sr_and_the_rr_answering_it():
    sent_at = 1700000000.0
    sr = rtcp.SenderReport(1, rtcp_time.ntp_from_unix(sent_at))
    lsr = rtcp_time.compact_ntp(sr.ntp_timestamp)
    dlsr = int(0.2 * 65536)  # the peer held it 200 ms
    arrival = rtcp_time.compact_ntp(rtcp_time.ntp_from_unix(sent_at + 0.25))
    assert rtcp_time.round_trip_s(arrival, lsr, dlsr) == pytest.approx(0.05, abs=2 / 65536)


# --- property tests ---------------------------------------------------------

u32 = st.integers(0, 0xFFFFFFFF)
report_blocks = st.builds(ReportBlock, u32, st.integers(0, 255),
                          st.integers(-0x800000, 0x7FFFFF), u32, u32, u32, u32)
block_lists = st.lists(report_blocks, max_size=31)
sender_reports = st.builds(rtcp.SenderReport, u32, st.integers(0, (1 << 64) - 1), u32, u32, u32,
                           block_lists)
receiver_reports = st.builds(rtcp.ReceiverReport, u32, block_lists)
others = st.builds(rtcp.RtcpUnknown, st.integers(202, 223), st.integers(0, 31),
                   st.binary(max_size=64).map(lambda b: b + bytes(-len(b) % 4)))
compounds = st.tuples(st.one_of(sender_reports, receiver_reports),
                      st.lists(st.one_of(sender_reports, receiver_reports, others), max_size=4))

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(compounds)
def test_any_valid_compound_round_trips(compound):
    first, rest = compound
    packets = [first] + rest
    data = rtcp.build_compound(packets)
    assert rtcp.parse_compound(data) == packets
    assert rtcp.build_compound(rtcp.parse_compound(data)) == data


def _demux_and_parse(data):
    """What the muxed port does with a datagram (RFC 5761)."""
    if rtp.is_rtcp(data):
        return rtcp.parse_compound(data)
    return rtp.RtpPacket.parse(data)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_on_the_muxed_port_only_raise_value_error(data):
    for parse in (rtcp.parse_compound, rtp.RtpPacket.parse, _demux_and_parse):
        try:
            parse(data)
        except ValueError:
            pass


def _mutate(data, edits):
    data = bytearray(data)
    for kind, position, value in edits:
        if not data:
            break
        at = position % len(data)
        if kind == 0:
            data[at] = value
        elif kind == 1:
            del data[at:]
        else:
            data.insert(at, value)
    return bytes(data)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10000), st.integers(0, 255)),
                 min_size=1, max_size=4)


@FUZZ
@given(compounds, edits)
def test_mutated_compounds_only_raise_value_error(compound, changes):
    first, rest = compound
    data = _mutate(rtcp.build_compound([first] + rest), changes)
    try:
        packets = rtcp.parse_compound(data)
    except ValueError:
        return
    for packet in packets:
        try:
            packet.to_bytes()
        except ValueError:
            pass


rtp_packets = st.builds(
    rtp.RtpPacket, st.integers(0, 127), st.integers(0, 0xFFFF), u32, u32, st.binary(max_size=40),
    st.booleans(), st.lists(u32, max_size=15),
    st.one_of(st.none(), st.integers(0, 0xFFFF)),
    st.binary(max_size=16).map(lambda b: b + bytes(-len(b) % 4)))


@FUZZ
@given(rtp_packets, edits)
def test_mutated_rtp_packets_only_raise_value_error(packet, changes):
    data = _mutate(packet.to_bytes(), changes)
    try:
        _demux_and_parse(data)
    except ValueError:
        pass
