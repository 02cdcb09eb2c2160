"""MQTT 3.1.1 wire primitives: packet types, the remaining-length varint,
length-prefixed fields, topic rules and a bounds-checked body reader.

The packets (device/mqtt/packets.py, device/mqtt/connect.py) are built from
these. Pure, no I/O: malformed input raises ValueError("mqtt: ..."). Runs
unchanged on MicroPython and CPython.
"""
import struct

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

MAX_REMAINING_LENGTH = 268435455  # 4-byte varint (spec 2.2.3)
MAX_STRING_BYTES = 65535


def encode_varint(value):
    """Remaining-length encoding (1..4 bytes) of 0..268435455."""
    if not 0 <= value <= MAX_REMAINING_LENGTH:
        raise ValueError("mqtt: remaining length %d out of range" % value)
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def decode_varint(data, offset=0):
    """(value, offset after it) of a remaining length starting at offset."""
    value = 0
    for index in range(4):
        if offset + index >= len(data):
            raise ValueError("mqtt: remaining length truncated")
        byte = data[offset + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, offset + index + 1
    raise ValueError("mqtt: remaining length longer than 4 bytes")


def validate_topic_name(topic):
    """UTF-8 bytes of a topic name to publish to (no wildcards); ValueError if invalid."""
    encoded = _topic_bytes(topic, "topic name")
    if "+" in topic or "#" in topic:
        raise ValueError("mqtt: topic name %r contains a wildcard" % topic)
    return encoded


def validate_topic_filter(topic_filter):
    """UTF-8 bytes of a subscription filter; ValueError if its wildcards are misplaced."""
    encoded = _topic_bytes(topic_filter, "topic filter")
    levels = topic_filter.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != last):
            raise ValueError("mqtt: '#' must be a whole last level in %r" % topic_filter)
        if "+" in level and level != "+":
            raise ValueError("mqtt: '+' must be a whole level in %r" % topic_filter)
    return encoded


def _topic_bytes(topic, what):
    if not isinstance(topic, str):
        raise ValueError("mqtt: %s must be a str" % what)
    encoded = topic.encode("utf-8")
    if not 0 < len(encoded) <= MAX_STRING_BYTES:
        raise ValueError("mqtt: %s must be 1..65535 bytes, got %d" % (what, len(encoded)))
    if "\x00" in topic:
        raise ValueError("mqtt: %s contains U+0000" % what)
    return encoded


def blob(data):
    """A length-prefixed field (spec 1.5.3): 2-byte length, then data."""
    if len(data) > MAX_STRING_BYTES:
        raise ValueError("mqtt: field of %d bytes exceeds 65535" % len(data))
    return struct.pack("!H", len(data)) + data


def check_packet_id(packet_id):
    """ValueError unless packet_id is 1..65535."""
    if not isinstance(packet_id, int) or not 0 < packet_id <= 0xFFFF:
        raise ValueError("mqtt: packet id must be 1..65535, got %r" % (packet_id,))


def check_qos(qos):
    """ValueError unless qos is 0, 1 or 2."""
    if qos not in (0, 1, 2):
        raise ValueError("mqtt: QoS must be 0, 1 or 2, got %r" % (qos,))


def frame(first_byte, body, tail=b""):
    """A whole packet: fixed header byte, remaining length, body, tail."""
    # One bytearray, so a PUBLISH payload (the tail) is copied once.
    out = bytearray()
    out.append(first_byte)
    out += encode_varint(len(body) + len(tail))
    out += body
    out += tail
    return out


class Reader:
    """Cursor over a packet body; every read checks the bounds."""

    def __init__(self, body):
        self.body = body
        self.pos = 0

    def take(self, count):
        end = self.pos + count
        if end > len(self.body):
            raise ValueError("mqtt: packet truncated")
        chunk = self.body[self.pos:end]
        self.pos = end
        return chunk

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def blob(self):
        return bytes(self.take(self.u16()))

    def text(self):
        try:
            return str(self.blob(), "utf-8")
        except UnicodeError:
            raise ValueError("mqtt: string is not valid UTF-8")

    def rest(self):
        return bytes(self.take(len(self.body) - self.pos))

    def left(self):
        return len(self.body) - self.pos

    def end(self):
        if self.pos != len(self.body):
            raise ValueError("mqtt: %d unexpected bytes at the end of the packet"
                             % (len(self.body) - self.pos))


class Packet:
    """Equality and repr shared by every packet class."""

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.__dict__)
