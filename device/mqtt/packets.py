"""MQTT 3.1.1 control packets: pure encode and decode, no I/O.

Each packet class has to_bytes() (a bytearray); decode(first_byte, body)
turns a fixed header byte and the remaining bytes back into a packet,
parse(data) does the same for one whole packet. Malformed input raises ValueError("mqtt: ...").
QoS 2 packets (PUBREC, PUBREL, PUBCOMP) are decoded for completeness; the
client never asks for QoS 2. Runs unchanged on MicroPython and CPython.
CONNECT and CONNACK are in device/mqtt/connect.py, the varint, field and
topic primitives every packet is built from in device/mqtt/wire.py.
"""
import struct

from device.mqtt.connect import Connack, Connect
from device.mqtt.wire import (
    CONNACK, CONNECT, DISCONNECT, PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL,
    SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, Packet, Reader, blob, check_packet_id, check_qos,
    decode_varint, frame, validate_topic_filter, validate_topic_name,
)

SUBACK_FAILURE = 0x80

# Fixed-header flags the spec requires for every type except PUBLISH (2.2.2).
_REQUIRED_FLAGS = {CONNECT: 0, CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0,
                   SUBSCRIBE: 2, SUBACK: 0, UNSUBSCRIBE: 2, UNSUBACK: 0, PINGREQ: 0,
                   PINGRESP: 0, DISCONNECT: 0}


class Publish(Packet):
    """PUBLISH (3.3): payload bytes; packet_id only for QoS 1 and 2."""
    kind = PUBLISH

    def __init__(self, topic, payload, qos=0, retain=False, dup=False, packet_id=None):
        self.topic = topic
        self.payload = bytes(payload)
        self.qos = qos
        self.retain = bool(retain)
        self.dup = bool(dup)
        self.packet_id = packet_id

    def to_bytes(self):
        check_qos(self.qos)
        body = blob(validate_topic_name(self.topic))
        if self.qos:
            check_packet_id(self.packet_id)
            body += struct.pack("!H", self.packet_id)
        elif self.dup or self.packet_id is not None:
            raise ValueError("mqtt: QoS 0 PUBLISH has no packet id and no DUP")
        first = (PUBLISH << 4) | (8 if self.dup else 0) | (self.qos << 1) | (1 if self.retain else 0)
        return frame(first, body, self.payload)

    @staticmethod
    def decode(reader, flags):
        qos = (flags >> 1) & 3
        if qos == 3:
            raise ValueError("mqtt: PUBLISH with QoS 3")
        if qos == 0 and flags & 8:
            raise ValueError("mqtt: DUP set on a QoS 0 PUBLISH")
        topic = reader.text()
        validate_topic_name(topic)
        packet_id = None
        if qos:
            packet_id = reader.u16()
            check_packet_id(packet_id)
        return Publish(topic, reader.rest(), qos, flags & 1, flags & 8, packet_id)


class Ack(Packet):
    """PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK: a type and a packet id."""

    def __init__(self, kind, packet_id):
        self.kind = kind
        self.packet_id = packet_id

    def to_bytes(self):
        check_packet_id(self.packet_id)
        return frame((self.kind << 4) | _REQUIRED_FLAGS[self.kind], struct.pack("!H", self.packet_id))

    @staticmethod
    def decode(reader, kind):
        packet_id = reader.u16()
        check_packet_id(packet_id)
        return Ack(kind, packet_id)


class Subscribe(Packet):
    """SUBSCRIBE (3.8): filters is a list of (topic_filter, requested_qos)."""
    kind = SUBSCRIBE

    def __init__(self, packet_id, filters):
        self.packet_id = packet_id
        self.filters = [(topic_filter, qos) for topic_filter, qos in filters]

    def to_bytes(self):
        check_packet_id(self.packet_id)
        if not self.filters:
            raise ValueError("mqtt: SUBSCRIBE needs at least one filter")
        body = struct.pack("!H", self.packet_id)
        for topic_filter, qos in self.filters:
            check_qos(qos)
            body += blob(validate_topic_filter(topic_filter)) + bytes([qos])
        return frame((SUBSCRIBE << 4) | 2, body)

    @staticmethod
    def decode(reader):
        packet = Subscribe(reader.u16(), [])
        check_packet_id(packet.packet_id)
        while reader.left():
            topic_filter = reader.text()
            validate_topic_filter(topic_filter)
            qos = reader.u8()
            if qos > 2:
                raise ValueError("mqtt: requested QoS byte 0x%02x is invalid" % qos)
            packet.filters.append((topic_filter, qos))
        if not packet.filters:
            raise ValueError("mqtt: SUBSCRIBE without filters")
        return packet


class Suback(Packet):
    """SUBACK (3.9): one return code per filter (0, 1, 2 or 0x80 = failure)."""
    kind = SUBACK

    def __init__(self, packet_id, return_codes):
        self.packet_id = packet_id
        self.return_codes = list(return_codes)

    def to_bytes(self):
        check_packet_id(self.packet_id)
        return frame(SUBACK << 4, struct.pack("!H", self.packet_id) + bytes(self.return_codes))

    @staticmethod
    def decode(reader):
        packet = Suback(reader.u16(), reader.rest())
        check_packet_id(packet.packet_id)
        if not packet.return_codes:
            raise ValueError("mqtt: SUBACK without return codes")
        for code in packet.return_codes:
            if code not in (0, 1, 2, SUBACK_FAILURE):
                raise ValueError("mqtt: SUBACK return code 0x%02x is invalid" % code)
        return packet


class Unsubscribe(Packet):
    """UNSUBSCRIBE (3.10): a list of topic filters."""
    kind = UNSUBSCRIBE

    def __init__(self, packet_id, filters):
        self.packet_id = packet_id
        self.filters = list(filters)

    def to_bytes(self):
        check_packet_id(self.packet_id)
        if not self.filters:
            raise ValueError("mqtt: UNSUBSCRIBE needs at least one filter")
        body = struct.pack("!H", self.packet_id)
        for topic_filter in self.filters:
            body += blob(validate_topic_filter(topic_filter))
        return frame((UNSUBSCRIBE << 4) | 2, body)

    @staticmethod
    def decode(reader):
        packet = Unsubscribe(reader.u16(), [])
        check_packet_id(packet.packet_id)
        while reader.left():
            packet.filters.append(reader.text())
            validate_topic_filter(packet.filters[-1])
        if not packet.filters:
            raise ValueError("mqtt: UNSUBSCRIBE without filters")
        return packet


class Control(Packet):
    """PINGREQ, PINGRESP or DISCONNECT: a type and nothing else."""

    def __init__(self, kind):
        self.kind = kind

    def to_bytes(self):
        return frame(self.kind << 4, b"")


PINGREQ_BYTES = bytes(Control(PINGREQ).to_bytes())
DISCONNECT_BYTES = bytes(Control(DISCONNECT).to_bytes())


def decode(first_byte, body):
    """The packet whose fixed header byte is first_byte and remaining bytes are body."""
    kind, flags = first_byte >> 4, first_byte & 0x0F
    if kind == PUBLISH:
        return Publish.decode(Reader(body), flags)
    required = _REQUIRED_FLAGS.get(kind)
    if required is None:
        raise ValueError("mqtt: packet type %d is reserved" % kind)
    if flags != required:
        raise ValueError("mqtt: packet type %d with flags 0x%x, expected 0x%x" % (kind, flags, required))
    reader = Reader(body)
    if kind in (PINGREQ, PINGRESP, DISCONNECT):
        packet = Control(kind)
    elif kind in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
        packet = Ack.decode(reader, kind)
    else:
        packet = _DECODERS[kind](reader)
    reader.end()
    return packet


_DECODERS = {CONNECT: Connect.decode, CONNACK: Connack.decode, SUBSCRIBE: Subscribe.decode,
             SUBACK: Suback.decode, UNSUBSCRIBE: Unsubscribe.decode}


def parse(data):
    """Decode exactly one whole packet (fixed header included) from data."""
    if not data:
        raise ValueError("mqtt: empty packet")
    length, start = decode_varint(data, 1)
    if len(data) - start != length:
        raise ValueError("mqtt: remaining length %d but %d bytes follow the header"
                         % (length, len(data) - start))
    return decode(data[0], memoryview(data)[start:])
