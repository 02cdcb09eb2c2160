"""The PPIT RTCP APP messages (device/rtcp_app.py): round trips, refusals, and
the same bytes under MicroPython as under CPython."""
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from device import rtcp, rtcp_app
from tests.micropython import REPO_ROOT, run_micropython

MESSAGES = [
    rtcp_app.DeviceState(0x11223344, "speaking", "push_to_talk", 513, half_duplex=True),
    rtcp_app.DeviceState(1, "idle", "always_listening"),
    rtcp_app.Abort(0xDEADBEEF, 7, resume_seq=65535),
    rtcp_app.Abort(2, 0),
    rtcp_app.TurnEvent(3, "nothing", 9),
    rtcp_app.Volume(4, 100, 42),
]


@pytest.mark.parametrize("message", MESSAGES, ids=repr)
def test_each_message_survives_a_compound(message):
    data = rtcp_app.compound(0x55, message)
    packets = rtcp.parse_compound(data)
    assert isinstance(packets[0], rtcp.ReceiverReport) and packets[0].ssrc == 0x55
    assert rtcp_app.messages(packets) == [message]
    assert len(data) == 8 + 4 + 16  # empty RR, APP header, SSRC + name + 8 data bytes


def test_several_messages_keep_their_order():
    packets = rtcp.parse_compound(rtcp_app.compound(1, *MESSAGES))
    assert rtcp_app.messages(packets) == MESSAGES


def test_other_app_packets_and_reports_are_not_ours():
    foreign = rtcp.RtcpUnknown(rtcp.PT_APP, 1, b"\x00\x00\x00\x01ABCD" + bytes(8))
    newer = rtcp.RtcpUnknown(rtcp.PT_APP, 1, b"\x00\x00\x00\x01PPIT\x02" + bytes(7))
    packets = [rtcp.ReceiverReport(1), rtcp.sdes_cname(1, "x"), foreign, newer]
    assert rtcp_app.messages(packets) == []


@pytest.mark.parametrize("body, reason", [
    (b"\x00\x00\x00\x01PPIT\x01" + bytes(3), "body is 12 bytes"),
    (b"\x00\x00\x00\x01PPIT\x01" + bytes(11), "body is 20 bytes"),
    (b"\x00\x00\x00\x01PPIT\x01\x09" + bytes(6), "state code 9 is unknown"),
    (b"\x00\x00\x00\x01PPIT\x01\x00\x05" + bytes(5), "mode code 5 is unknown"),
])
def test_broken_state_is_refused_with_the_reason(body, reason):
    with pytest.raises(ValueError, match=reason):
        rtcp_app.parse(rtcp.RtcpUnknown(rtcp.PT_APP, rtcp_app.SUBTYPE_STATE, body))


def test_unknown_subtype_and_bad_volume_are_refused():
    with pytest.raises(ValueError, match="subtype 17 is unknown"):
        rtcp_app.parse(rtcp.RtcpUnknown(rtcp.PT_APP, 17, b"\x00\x00\x00\x01PPIT\x01" + bytes(7)))
    with pytest.raises(ValueError, match="volume_pct 101"):
        rtcp_app.parse(rtcp.RtcpUnknown(rtcp.PT_APP, rtcp_app.SUBTYPE_VOLUME,
                                        b"\x00\x00\x00\x01PPIT\x01\x65" + bytes(6)))


@pytest.mark.parametrize("make, reason", [
    (lambda: rtcp_app.DeviceState(1, "asleep", "push_to_talk"), "state 'asleep'"),
    (lambda: rtcp_app.DeviceState(1, "idle", "push_to_talk", turn=70000), "turn 70000"),
    (lambda: rtcp_app.Abort(1, -1), "abort_id -1"),
    (lambda: rtcp_app.TurnEvent(1, "later", 1), "event 'later'"),
    (lambda: rtcp_app.Volume(1, 101, 1), "volume_pct 101"),
])
def test_building_a_bad_message_names_the_field(make, reason):
    with pytest.raises(ValueError, match=reason):
        make().to_packet()


@given(st.binary(min_size=0, max_size=24), st.integers(0, 31))
def test_any_app_body_parses_or_raises_value_error(body, subtype):
    packet = rtcp.RtcpUnknown(rtcp.PT_APP, subtype, b"\x00\x00\x00\x01PPIT" + body)
    try:
        message = rtcp_app.parse(packet)
    except ValueError:
        return
    if message is not None:
        assert rtcp_app.parse(message.to_packet()) == message


SCRIPT = r'''
import binascii
from device import rtcp, rtcp_app
msgs = [rtcp_app.DeviceState(0x11223344, "speaking", "push_to_talk", 513, True),
        rtcp_app.Abort(0xDEADBEEF, 7, 65535), rtcp_app.Abort(2, 0),
        rtcp_app.TurnEvent(3, "answering", 9), rtcp_app.Volume(4, 35, 42)]
data = rtcp_app.compound(0x55, *msgs)
print(binascii.hexlify(data).decode())
print(rtcp_app.messages(rtcp.parse_compound(data)))
'''


def test_same_bytes_and_messages_under_micropython():
    micro = run_micropython(SCRIPT)
    cpython = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=str(REPO_ROOT),
                             check=True).stdout
    assert micro == cpython
    assert "Abort(id=7, resume_seq=65535)" in micro
