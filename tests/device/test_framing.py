"""RFC 4571 framing: length prefixes, reassembly at any split point, bad streams."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device import framing
from device.framing import Deframer

PACKETS = [b"\x80\x6f" + bytes(range(10)), b"\x81\xc9\x00\x01abcd", b"x"]
STREAM = b"".join(framing.frame(p) for p in PACKETS)


def test_frame_layout():
    assert framing.frame(b"\x01\x02\x03") == b"\x00\x03\x01\x02\x03"
    big = bytes(300)
    assert framing.frame(big)[:2] == b"\x01\x2c"
    assert framing.frame(bytearray(b"ab")) == b"\x00\x02ab"


def test_frame_limits():
    assert framing.frame(bytes(65535))[:2] == b"\xff\xff"
    with pytest.raises(ValueError, match="framing: packet of 65536 bytes exceeds the 65535-byte limit"):
        framing.frame(bytes(65536))
    with pytest.raises(ValueError, match="framing: zero-length frame"):
        framing.frame(b"")


def test_frame_into_writes_without_allocating_a_frame():
    buf = bytearray(16)
    assert framing.frame_into(b"hello", buf) == 7
    assert bytes(buf[:7]) == b"\x00\x05hello"
    with pytest.raises(ValueError, match="too small"):
        framing.frame_into(bytes(15), buf)


def test_all_packets_in_one_chunk():
    assert Deframer().feed(STREAM) == PACKETS


def test_every_single_split_point():
    for cut in range(len(STREAM) + 1):
        deframer = Deframer()
        got = deframer.feed(STREAM[:cut]) + deframer.feed(STREAM[cut:])
        assert got == PACKETS, cut
        assert deframer.pending_bytes == 0


def test_every_pair_of_split_points():
    for first in range(len(STREAM) + 1):
        for second in range(first, len(STREAM) + 1):
            deframer = Deframer()
            got = (deframer.feed(STREAM[:first]) + deframer.feed(STREAM[first:second])
                   + deframer.feed(STREAM[second:]))
            assert got == PACKETS, (first, second)


def test_one_byte_at_a_time_and_pending_bytes():
    deframer = Deframer()
    got = []
    for i in range(len(STREAM)):
        got += deframer.feed(STREAM[i:i + 1])
    assert got == PACKETS
    deframer.feed(b"\x00")
    assert deframer.pending_bytes == 1
    deframer.feed(b"\x04ab")
    assert deframer.pending_bytes == 4
    assert deframer.feed(b"cd") == [b"abcd"]
    assert deframer.pending_bytes == 0


def test_memoryview_and_bytearray_chunks():
    deframer = Deframer()
    assert deframer.feed(memoryview(STREAM)[:5]) + deframer.feed(bytearray(STREAM[5:])) == PACKETS


def test_packets_are_independent_copies():
    deframer = Deframer()
    first = deframer.feed(b"\x00\x03ab")
    first += deframer.feed(b"c")
    second = deframer.feed(b"\x00\x03x") + deframer.feed(b"yz")
    assert first == [b"abc"] and second == [b"xyz"]
    assert all(isinstance(p, bytes) for p in first + second)


def test_largest_frame_with_the_largest_buffer():
    deframer = Deframer(framing.MAX_FRAME_BYTES)
    packet = bytes(range(256)) * 255 + bytes(255)
    stream = framing.frame(packet)
    assert deframer.feed(stream[:30000]) == []
    assert deframer.feed(stream[30000:]) == [packet]


def test_zero_length_prefix_is_refused_and_the_stream_stays_failed():
    deframer = Deframer()
    assert deframer.feed(b"\x00\x02ok") == [b"ok"]
    with pytest.raises(ValueError, match="framing: zero-length frame"):
        deframer.feed(b"\x00\x00\x00\x02ok")
    with pytest.raises(ValueError, match="stream failed earlier: framing: zero-length frame"):
        deframer.feed(b"\x00\x02ok")


def test_length_over_the_limit_is_refused():
    deframer = Deframer(max_packet_bytes=100)
    with pytest.raises(ValueError, match="packet of 101 bytes exceeds the 100-byte limit"):
        deframer.feed(b"\x00\x65")


def test_max_packet_bytes_must_fit_rfc_4571():
    for bad in (0, 65536):
        with pytest.raises(ValueError, match="max_packet_bytes"):
            Deframer(bad)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
packet_lists = st.lists(st.binary(min_size=1, max_size=300), max_size=8)


@FUZZ
@given(packet_lists, st.lists(st.integers(0, 3000), max_size=8))
def test_any_packets_survive_any_chunking(packets, cuts):
    stream = b"".join(framing.frame(p) for p in packets)
    points = sorted(set(c % (len(stream) + 1) for c in cuts)) + [len(stream)]
    deframer = Deframer(1024)
    got = []
    start = 0
    for point in points:
        got += deframer.feed(stream[start:point])
        start = point
    assert got == packets
    assert deframer.pending_bytes == 0


@FUZZ
@given(st.lists(st.binary(max_size=400), max_size=6))
def test_random_bytes_only_raise_value_error(chunks):
    deframer = Deframer(256)
    for chunk in chunks:
        try:
            for packet in deframer.feed(chunk):
                assert 0 < len(packet) <= 256
        except ValueError:
            break
