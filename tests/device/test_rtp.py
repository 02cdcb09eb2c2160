"""RTP (RFC 3550) parse/build, on CPython and under MicroPython."""
import struct

import pytest
from hypothesis import given, strategies as st

from device import rtp
from tests.micropython import run_micropython


def test_header_layout_matches_rfc3550():
    packet = rtp.RtpPacket(payload_type=111, sequence_number=0x1234, timestamp=0xDEADBEEF,
                           ssrc=0x01020304, payload=b"\xaa\xbb", marker=True)
    assert packet.to_bytes() == bytes([0x80, 0x80 | 111, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF,
                                       1, 2, 3, 4, 0xAA, 0xBB])


def test_round_trip_with_csrc_and_extension():
    packet = rtp.RtpPacket(96, 65535, 2**32 - 1, 7, b"payload", False, csrc=[1, 2, 3],
                           extension_profile=0xBEDE, extension=b"\x10\x01\x00\x00")
    data = packet.to_bytes()
    assert rtp.header_size(data) == 12 + 12 + 4 + 4
    parsed = rtp.RtpPacket.parse(data)
    assert (parsed.payload_type, parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (96, 65535, 2**32 - 1, 7)
    assert parsed.csrc == [1, 2, 3]
    assert parsed.extension_profile == 0xBEDE and parsed.extension == b"\x10\x01\x00\x00"
    assert parsed.payload == b"payload" and parsed.to_bytes() == data


def test_padding_is_removed():
    data = bytearray(rtp.RtpPacket(96, 1, 2, 3, b"abcd").to_bytes())
    data[0] |= 0x20
    data += b"\x00\x00\x03"
    assert rtp.RtpPacket.parse(bytes(data)).payload == b"abcd"


@pytest.mark.parametrize("data, reason", [
    (b"\x80\x60" + b"\x00" * 9, "shorter than the 12-byte header"),
    (b"\x40\x60" + b"\x00" * 10, "version is 1"),
    (b"\x83\x60" + b"\x00" * 10 + b"\x00" * 8, "longer than packet"),
    (b"\x90\x60" + b"\x00" * 10 + b"\x00\x00", "extension header truncated"),
    (b"\xa0\x60" + b"\x00" * 10 + b"\x00\x05", "padding length 5 is invalid"),
    (b"\xa0\x60" + b"\x00" * 10 + b"\x00\x00", "padding length 0 is invalid"),
])
def test_malformed_packets_name_the_reason(data, reason):
    with pytest.raises(ValueError, match=reason):
        rtp.RtpPacket.parse(data)


def test_rtcp_demultiplexing_follows_rfc5761():
    assert rtp.is_rtcp(bytes([0x80, 200]))  # SR
    assert rtp.is_rtcp(bytes([0x81, 201]))  # RR
    assert not rtp.is_rtcp(bytes([0x80, 111]))
    assert not rtp.is_rtcp(bytes([0x80, 0x80 | 111]))  # Opus with marker = 239
    assert not rtp.is_rtcp(b"\x80")


def test_write_header_matches_to_bytes():
    buf = bytearray(12)
    assert rtp.write_header(buf, 111, True, 70000, 2**33 + 5, 0xCAFEBABE) == 12
    assert bytes(buf) == rtp.RtpPacket(111, 70000 & 0xFFFF, 5, 0xCAFEBABE, b"", True).to_bytes()


def test_sequence_and_timestamp_deltas_wrap():
    assert rtp.sequence_delta(2, 65534) == 4
    assert rtp.sequence_delta(65534, 2) == -4
    assert rtp.timestamp_delta(100, 2**32 - 860) == 960


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_value_error(data):
    try:
        packet = rtp.RtpPacket.parse(data)
    except ValueError:
        return
    assert 0 <= packet.payload_type <= 127
    assert len(packet.payload) <= len(data) - 12


@given(st.integers(0, 127), st.integers(0, 65535), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1), st.binary(max_size=100), st.booleans(),
       st.lists(st.integers(0, 2**32 - 1), max_size=15))
def test_build_parse_round_trip(pt, seq, ts, ssrc, payload, marker, csrc):
    packet = rtp.RtpPacket(pt, seq, ts, ssrc, payload, marker, csrc)
    again = rtp.RtpPacket.parse(packet.to_bytes())
    assert again.to_bytes() == packet.to_bytes()


def test_micropython_builds_the_same_bytes():
    packet = rtp.RtpPacket(96, 40000, 123456789, 0xA1B2C3D4, b"\x01\x02\x03", True, csrc=[9])
    out = run_micropython(
        "from device import rtp\n"
        "import binascii\n"
        "p = rtp.RtpPacket(96, 40000, 123456789, 0xA1B2C3D4, b'\\x01\\x02\\x03', True, csrc=[9])\n"
        "b = p.to_bytes()\n"
        "q = rtp.RtpPacket.parse(b)\n"
        "print(binascii.hexlify(b).decode(), q.sequence_number, q.csrc[0], rtp.header_size(b))\n")
    hex_bytes, seq, csrc, size = out.split()
    assert bytes.fromhex(hex_bytes) == packet.to_bytes()
    assert (int(seq), int(csrc), int(size)) == (40000, 9, 16)
