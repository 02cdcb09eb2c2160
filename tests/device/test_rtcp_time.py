"""RTCP timing (RFC 3550 6.4.1): NTP timestamps, compact NTP and the round-trip time."""

from device import rtcp_time


def test_ntp_from_unix():
    assert rtcp_time.ntp_from_unix(0) == rtcp_time.NTP_UNIX_OFFSET_S << 32
    expected = ((1700000000 + rtcp_time.NTP_UNIX_OFFSET_S) << 32) | 0x40000000
    assert rtcp_time.ntp_from_unix(1700000000.25) == expected
    assert rtcp_time.ntp_from_unix(1700000000, microseconds=250000) == expected
    # After 2036-02-07 the NTP seconds wrap into era 1.
    assert rtcp_time.ntp_from_unix(2085978496) == 0


def test_compact_ntp_is_the_middle_32_bits():
    assert rtcp_time.compact_ntp(0x0123456789ABCDEF) == 0x456789AB
    assert rtcp_time.compact_ntp((0xE8FE6F80 << 32) | 0x40000000) == 0x6F804000


def test_round_trip_the_rfc_3550_example():
    # RFC 3550 6.4.1: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 -> 6.125 s.
    assert rtcp_time.round_trip_s(0xB7108000, 0xB7052000, 0x00054000) == 6.125


def test_round_trip_edge_cases():
    assert rtcp_time.round_trip_s(0x12345678, 0, 0) is None
    assert rtcp_time.round_trip_s(0x00001000, 0xFFFFF000, 0) == 0.125  # compact NTP wrapped
    assert rtcp_time.round_trip_s(0x00010000, 0x00010000, 0x00000002) == 0.0  # rounding below zero
