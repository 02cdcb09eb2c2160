"""MQTT 3.1.1 packets: byte layouts from the spec, round trips, malformed input."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.mqtt import packets, wire
from device.mqtt.connect import Connack, Connect
from device.mqtt.packets import Ack, Control, Publish, Suback, Subscribe, Unsubscribe, parse
from device.mqtt.wire import decode_varint, encode_varint, validate_topic_filter, validate_topic_name

# MQTT 3.1.1 section 2.2.3, table 2.4 (and one value either side of each edge).
VARINTS = [
    (0, "00"), (127, "7f"), (128, "8001"), (16383, "ff7f"), (16384, "808001"),
    (2097151, "ffff7f"), (2097152, "80808001"), (268435455, "ffffff7f"),
]


@pytest.mark.parametrize("value,encoded", VARINTS)
def test_varint_spec_table(value, encoded):
    assert encode_varint(value).hex() == encoded
    assert decode_varint(bytes.fromhex(encoded)) == (value, len(encoded) // 2)
    assert decode_varint(b"\xaa" + bytes.fromhex(encoded) + b"\xbb", 1) == (value, 1 + len(encoded) // 2)


def test_varint_refusals():
    with pytest.raises(ValueError, match="mqtt: remaining length longer than 4 bytes"):
        decode_varint(bytes.fromhex("ffffffff7f"))
    with pytest.raises(ValueError, match="mqtt: remaining length longer than 4 bytes"):
        decode_varint(bytes.fromhex("8080808001"))
    with pytest.raises(ValueError, match="mqtt: remaining length truncated"):
        decode_varint(bytes.fromhex("ff"))
    with pytest.raises(ValueError, match="mqtt: remaining length truncated"):
        decode_varint(b"")
    for value in (-1, 268435456):
        with pytest.raises(ValueError, match="out of range"):
            encode_varint(value)


def test_connect_for_a_client_id_is_the_spec_layout():
    # Fixed header 0x10, remaining length 13, "MQTT", level 4, flags 0x02
    # (clean session), keepalive 60, client id "a" (spec 3.1.2 figures 3.2-3.6).
    assert Connect("a", 60).to_bytes().hex() == "100d00044d5154540402003c000161"


def test_connect_flags_of_the_spec_example():
    # Spec figure 3.6: username, password, will QoS 1, will flag, clean session
    # -> flags 0xCE; keepalive 10.
    packet = Connect("cid", 10, True, "user", "pass", "will/t", b"gone", 1, False)
    data = packet.to_bytes()
    assert data[2:12].hex() == "00044d5154540" "4ce000a"
    payload = data[12:]
    assert payload == (b"\x00\x03cid" b"\x00\x06will/t" b"\x00\x04gone" b"\x00\x04user"
                       b"\x00\x04pass")
    assert parse(data) == Connect("cid", 10, True, "user", b"pass", "will/t", b"gone", 1, False)


def test_connect_will_retain_and_no_clean_session():
    data = Connect("dev-1", 30, False, will_topic="s", will_payload=b"off", will_qos=1,
                   will_retain=True).to_bytes()
    assert data[9] == 0x2C  # will retain | will QoS 1 | will flag, no clean session
    assert parse(data).will_retain is True


def test_connect_refusals():
    with pytest.raises(ValueError, match="empty client id needs clean_session"):
        Connect("", 60, clean_session=False).to_bytes()
    with pytest.raises(ValueError, match="password needs a username"):
        Connect("a", 60, password="x").to_bytes()
    with pytest.raises(ValueError, match="keepalive"):
        Connect("a", 65536).to_bytes()
    with pytest.raises(ValueError, match="wildcard"):
        Connect("a", 60, will_topic="a/#").to_bytes()
    good = bytearray(Connect("a", 60).to_bytes())
    for index, value, reason in ((9, 0x03, "reserved flag"), (9, 0x1A, "without a will"),
                                 (9, 0x1E, "will QoS 3"), (9, 0x42, "password flag without"),
                                 (8, 3, "protocol level 3"), (4, ord("m"), "protocol name")):
        bad = bytearray(good)
        bad[index] = value
        with pytest.raises(ValueError, match=reason):
            parse(bytes(bad))


def test_publish_spec_example_and_flags():
    # Spec 3.3.2.3: topic "a/b", packet id 10.
    data = Publish("a/b", b"hi", qos=1, packet_id=10).to_bytes()
    assert data.hex() == "3209" "0003612f62000a" + b"hi".hex()
    assert Publish("a/b", b"", retain=True).to_bytes().hex() == "3105" "0003612f62"
    dup = Publish("a/b", b"x", qos=1, dup=True, retain=True, packet_id=65535).to_bytes()
    assert dup[0] == 0x3B
    assert parse(dup) == Publish("a/b", b"x", 1, True, True, 65535)


def test_publish_refusals():
    with pytest.raises(ValueError, match="packet id must be 1..65535"):
        Publish("a", b"", qos=1).to_bytes()
    with pytest.raises(ValueError, match="QoS 0 PUBLISH has no packet id"):
        Publish("a", b"", qos=0, dup=True).to_bytes()
    with pytest.raises(ValueError, match="QoS must be 0, 1 or 2"):
        Publish("a", b"", qos=3, packet_id=1).to_bytes()
    for hex_packet, reason in (("36030001 61", "QoS 3"), ("38030001 61", "DUP set on a QoS 0"),
                               ("32050001610000", "packet id must be 1..65535"),
                               ("3003000261", "truncated"), ("30030001 2b", "wildcard"),
                               ("30040002c328", "not valid UTF-8"),
                               ("3003000100", "U\\+0000")):
        with pytest.raises(ValueError, match=reason):
            parse(bytes.fromhex(hex_packet.replace(" ", "")))


def test_subscribe_spec_example():
    # Spec 3.8.3 / figure 3.23: "a/b" QoS 1 and "c/d" QoS 2.
    data = Subscribe(10, [("a/b", 1), ("c/d", 2)]).to_bytes()
    assert data.hex() == "820e" "000a" "0003612f6201" "0003632f6402"
    assert parse(data) == Subscribe(10, [("a/b", 1), ("c/d", 2)])
    # Spec 3.9.3: SUBACK return codes 0, 1, 2 and failure.
    assert Suback(10, [0, 1, 2, 0x80]).to_bytes().hex() == "9006000a00010280"
    assert parse(bytes.fromhex("9006000a00010280")) == Suback(10, [0, 1, 2, 0x80])


def test_small_packets_layout():
    assert Connack(False, 0).to_bytes().hex() == "20020000"
    assert Connack(True, 0).to_bytes().hex() == "20020100"
    assert Ack(wire.PUBACK, 0x1234).to_bytes().hex() == "40021234"
    assert Ack(wire.UNSUBACK, 7).to_bytes().hex() == "b0020007"
    assert Ack(wire.PUBREL, 7).to_bytes().hex() == "62020007"
    assert Unsubscribe(2, ["a/+", "#"]).to_bytes().hex() == "a20a" "0002" "0003612f2b" "000123"
    assert packets.PINGREQ_BYTES.hex() == "c000"
    assert Control(wire.PINGRESP).to_bytes().hex() == "d000"
    assert packets.DISCONNECT_BYTES.hex() == "e000"


ROUND_TRIPS = [
    Connect("pipit-fleet", 0, True, "pipit-fleet", b"\x00secret\xff"),
    Connect("d", 65535, False, will_topic="pipit/v1/devices/d/status", will_payload=b"{}",
            will_qos=1, will_retain=True),
    Connack(True, 0), Connack(False, 5),
    Publish("x/y", bytes(range(256)) * 3, 1, False, False, 1),
    Publish("\u00e9t\u00e9/\u4e2d", b"", 0, True),
    Publish("t", b"q2", 2, False, True, 9),
    Ack(wire.PUBACK, 1), Ack(wire.PUBREC, 2), Ack(wire.PUBREL, 3),
    Ack(wire.PUBCOMP, 4), Ack(wire.UNSUBACK, 65535),
    Subscribe(65535, [("#", 0), ("+/+/x", 1), ("/", 2)]), Suback(1, [0x80]),
    Unsubscribe(3, ["a", "a/b/#"]),
    Control(wire.PINGREQ), Control(wire.PINGRESP), Control(wire.DISCONNECT),
]


@pytest.mark.parametrize("packet", ROUND_TRIPS, ids=lambda p: type(p).__name__)
def test_round_trip(packet):
    data = packet.to_bytes()
    assert parse(data) == packet
    assert parse(bytearray(data)) == packet


def test_long_publish_uses_a_multi_byte_remaining_length():
    packet = Publish("t", bytes(20000), 1, packet_id=5)
    data = packet.to_bytes()
    assert data[1:4] == encode_varint(20000 - 0 + 5)  # 2+1 topic, 2 id, 20000 payload
    assert parse(data) == packet


def test_framing_and_flags_refusals():
    for hex_packet, reason in (
            ("", "empty packet"), ("c0", "remaining length truncated"),
            ("c00100", "unexpected bytes at the end"), ("c001", "but 0 bytes follow"),
            ("c100", "flags 0x1, expected 0x0"), ("8000", "flags 0x0, expected 0x2"),
            ("0000", "type 0 is reserved"), ("f000", "type 15 is reserved"),
            ("20020200", "CONNACK reserved flags"), ("20020006", "return code 6"),
            ("20020105", "session present on a refused"), ("40020000", "packet id"),
            ("82020001", "SUBSCRIBE without filters"), ("820600010001 6103", "requested QoS"),
            ("820500010002 23", "truncated"), ("9002000a", "without return codes"),
            ("9003000a03", "return code 0x03"), ("a2020001", "UNSUBSCRIBE without filters"),
            ("a20600010002 2361", "'#' must be a whole last level"),
            ("82070001000261 2b01", "'\\+' must be a whole level")):
        with pytest.raises(ValueError, match=reason):
            parse(bytes.fromhex(hex_packet.replace(" ", "")))


@pytest.mark.parametrize("topic_filter", [
    "sport/tennis/player1/#", "sport/tennis/#", "#", "+", "+/tennis/#", "sport/+/player1",
    "/+", "+/+", "/", "pipit/v1/devices/+/status", "$SYS/#"])
def test_valid_filters_from_spec_4_7(topic_filter):
    assert validate_topic_filter(topic_filter) == topic_filter.encode()


@pytest.mark.parametrize("topic_filter", [
    "sport/tennis#", "sport/tennis/#/ranking", "sport+", "#/", "a/b#", "++", "", "a\x00b"])
def test_invalid_filters_from_spec_4_7(topic_filter):
    with pytest.raises(ValueError, match="mqtt: "):
        validate_topic_filter(topic_filter)


def test_topic_names():
    assert validate_topic_name("pipit/v1/devices/d-1/hello") == b"pipit/v1/devices/d-1/hello"
    assert validate_topic_name("/") == b"/"
    for bad in ("", "a/+", "#", "a\x00", "x" * 65536, b"bytes"):
        with pytest.raises(ValueError, match="mqtt: "):
            validate_topic_name(bad)
    assert len(validate_topic_name("\u00e9" * 32767)) == 65534


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_value_error(data):
    try:
        packet = parse(data)
    except ValueError as exc:
        assert str(exc).startswith("mqtt: ")
    else:
        assert parse(packet.to_bytes()) == packet


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=48))
def test_random_bodies_behind_a_valid_header_only_raise_value_error(first_byte, body):
    # Well-framed garbage reaches every type's body decoder, not just the framing.
    data = bytes([first_byte]) + encode_varint(len(body)) + body
    try:
        packet = parse(data)
    except ValueError as exc:
        assert str(exc).startswith("mqtt: ")
    else:
        assert parse(packet.to_bytes()) == packet


TOPICS = st.text(st.characters(blacklist_characters="+#\x00", blacklist_categories=["Cs"]),
                 min_size=1, max_size=40)


@settings(max_examples=500, deadline=None)
@given(TOPICS, st.binary(max_size=300), st.integers(0, 2), st.booleans(), st.booleans(),
       st.integers(1, 65535))
def test_publish_round_trip_property(topic, payload, qos, retain, dup, packet_id):
    if qos == 0:
        dup, packet_id = False, None
    packet = Publish(topic, payload, qos, retain, dup, packet_id)
    assert parse(packet.to_bytes()) == packet
