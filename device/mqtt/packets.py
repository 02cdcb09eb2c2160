"""MQTT 3.1.1 control packets: pure encode and decode, no I/O.

Each packet class has to_bytes() (a bytearray); decode(first_byte, body)
turns a fixed header byte and the remaining bytes back into a packet,
parse(data) does the same for one whole packet. Malformed input raises ValueError("mqtt: ...").
QoS 2 packets (PUBREC, PUBREL, PUBCOMP) are decoded for completeness; the
client never asks for QoS 2. Runs unchanged on MicroPython and CPython.
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

PROTOCOL_NAME = b"MQTT"
PROTOCOL_LEVEL = 4
MAX_REMAINING_LENGTH = 268435455  # 4-byte varint (spec 2.2.3)
MAX_STRING_BYTES = 65535
SUBACK_FAILURE = 0x80
CONNACK_REASONS = ("accepted", "unacceptable protocol version", "identifier rejected",
                   "server unavailable", "bad username or password", "not authorised")

# Fixed-header flags the spec requires for every type except PUBLISH (2.2.2).
_REQUIRED_FLAGS = {CONNECT: 0, CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0,
                   SUBSCRIBE: 2, SUBACK: 0, UNSUBSCRIBE: 2, UNSUBACK: 0, PINGREQ: 0,
                   PINGRESP: 0, DISCONNECT: 0}


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


def _blob(data):
    if len(data) > MAX_STRING_BYTES:
        raise ValueError("mqtt: field of %d bytes exceeds 65535" % len(data))
    return struct.pack("!H", len(data)) + data


def _check_packet_id(packet_id):
    if not isinstance(packet_id, int) or not 0 < packet_id <= 0xFFFF:
        raise ValueError("mqtt: packet id must be 1..65535, got %r" % (packet_id,))


def _check_qos(qos):
    if qos not in (0, 1, 2):
        raise ValueError("mqtt: QoS must be 0, 1 or 2, got %r" % (qos,))


def _frame(first_byte, body, tail=b""):
    # One bytearray, so a PUBLISH payload (the tail) is copied once.
    out = bytearray()
    out.append(first_byte)
    out += encode_varint(len(body) + len(tail))
    out += body
    out += tail
    return out


class _Reader:
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


class _Packet:
    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.__dict__)


class Connect(_Packet):
    """CONNECT (3.1); will_topic None means no will."""
    kind = CONNECT

    def __init__(self, client_id, keepalive_s=60, clean_session=True, username=None,
                 password=None, will_topic=None, will_payload=b"", will_qos=0, will_retain=False):
        self.client_id = client_id
        self.keepalive_s = keepalive_s
        self.clean_session = bool(clean_session)
        self.username = username
        self.password = password
        self.will_topic = will_topic
        self.will_payload = bytes(will_payload)
        self.will_qos = will_qos
        self.will_retain = bool(will_retain)

    def _flags(self):
        if not 0 <= self.keepalive_s <= 0xFFFF:
            raise ValueError("mqtt: keepalive must be 0..65535 s")
        if not self.client_id and not self.clean_session:
            raise ValueError("mqtt: an empty client id needs clean_session (3.1.3.1)")
        if self.password is not None and self.username is None:
            raise ValueError("mqtt: a password needs a username (3.1.2.9)")
        flags = 0x02 if self.clean_session else 0
        if self.will_topic is not None:
            _check_qos(self.will_qos)
            flags |= 0x04 | (self.will_qos << 3) | (0x20 if self.will_retain else 0)
        if self.password is not None:
            flags |= 0x40
        if self.username is not None:
            flags |= 0x80
        return flags

    def to_bytes(self):
        flags = self._flags()
        body = _blob(PROTOCOL_NAME) + struct.pack("!BBH", PROTOCOL_LEVEL, flags, self.keepalive_s)
        body += _blob(self.client_id.encode("utf-8"))
        if self.will_topic is not None:
            body += _blob(validate_topic_name(self.will_topic)) + _blob(self.will_payload)
        if self.username is not None:
            body += _blob(self.username.encode("utf-8"))
        if self.password is not None:
            password = self.password
            body += _blob(password.encode("utf-8") if isinstance(password, str) else bytes(password))
        return _frame(CONNECT << 4, body)

    @staticmethod
    def decode(reader):
        if reader.blob() != PROTOCOL_NAME:
            raise ValueError("mqtt: protocol name is not MQTT")
        level = reader.u8()
        if level != PROTOCOL_LEVEL:
            raise ValueError("mqtt: protocol level %d, expected 4" % level)
        flags = reader.u8()
        if flags & 0x01:
            raise ValueError("mqtt: CONNECT reserved flag is set")
        will_qos = (flags >> 3) & 3
        if not flags & 0x04 and flags & 0x38:
            raise ValueError("mqtt: will QoS/retain set without a will")
        if will_qos == 3:
            raise ValueError("mqtt: will QoS 3")
        if flags & 0x40 and not flags & 0x80:
            raise ValueError("mqtt: password flag without username flag")
        packet = Connect(None, reader.u16(), flags & 0x02, will_qos=will_qos,
                         will_retain=flags & 0x20)
        packet.client_id = reader.text()
        if flags & 0x04:
            packet.will_topic = reader.text()
            validate_topic_name(packet.will_topic)
            packet.will_payload = reader.blob()
        if flags & 0x80:
            packet.username = reader.text()
        if flags & 0x40:
            packet.password = reader.blob()
        packet._flags()
        return packet


class Connack(_Packet):
    """CONNACK (3.2): return_code 0 means accepted."""
    kind = CONNACK

    def __init__(self, session_present, return_code):
        self.session_present = bool(session_present)
        self.return_code = return_code

    def to_bytes(self):
        return _frame(CONNACK << 4, bytes([1 if self.session_present else 0, self.return_code]))

    @staticmethod
    def decode(reader):
        flags, code = reader.u8(), reader.u8()
        if flags & 0xFE:
            raise ValueError("mqtt: CONNACK reserved flags set")
        if code >= len(CONNACK_REASONS):
            raise ValueError("mqtt: CONNACK return code %d is not defined" % code)
        if code and flags:
            raise ValueError("mqtt: session present on a refused connection")
        return Connack(flags, code)


class Publish(_Packet):
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
        _check_qos(self.qos)
        body = _blob(validate_topic_name(self.topic))
        if self.qos:
            _check_packet_id(self.packet_id)
            body += struct.pack("!H", self.packet_id)
        elif self.dup or self.packet_id is not None:
            raise ValueError("mqtt: QoS 0 PUBLISH has no packet id and no DUP")
        first = (PUBLISH << 4) | (8 if self.dup else 0) | (self.qos << 1) | (1 if self.retain else 0)
        return _frame(first, body, self.payload)

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
            _check_packet_id(packet_id)
        return Publish(topic, reader.rest(), qos, flags & 1, flags & 8, packet_id)


class Ack(_Packet):
    """PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK: a type and a packet id."""

    def __init__(self, kind, packet_id):
        self.kind = kind
        self.packet_id = packet_id

    def to_bytes(self):
        _check_packet_id(self.packet_id)
        return _frame((self.kind << 4) | _REQUIRED_FLAGS[self.kind], struct.pack("!H", self.packet_id))

    @staticmethod
    def decode(reader, kind):
        packet_id = reader.u16()
        _check_packet_id(packet_id)
        return Ack(kind, packet_id)


class Subscribe(_Packet):
    """SUBSCRIBE (3.8): filters is a list of (topic_filter, requested_qos)."""
    kind = SUBSCRIBE

    def __init__(self, packet_id, filters):
        self.packet_id = packet_id
        self.filters = [(topic_filter, qos) for topic_filter, qos in filters]

    def to_bytes(self):
        _check_packet_id(self.packet_id)
        if not self.filters:
            raise ValueError("mqtt: SUBSCRIBE needs at least one filter")
        body = struct.pack("!H", self.packet_id)
        for topic_filter, qos in self.filters:
            _check_qos(qos)
            body += _blob(validate_topic_filter(topic_filter)) + bytes([qos])
        return _frame((SUBSCRIBE << 4) | 2, body)

    @staticmethod
    def decode(reader):
        packet = Subscribe(reader.u16(), [])
        _check_packet_id(packet.packet_id)
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


class Suback(_Packet):
    """SUBACK (3.9): one return code per filter (0, 1, 2 or 0x80 = failure)."""
    kind = SUBACK

    def __init__(self, packet_id, return_codes):
        self.packet_id = packet_id
        self.return_codes = list(return_codes)

    def to_bytes(self):
        _check_packet_id(self.packet_id)
        return _frame(SUBACK << 4, struct.pack("!H", self.packet_id) + bytes(self.return_codes))

    @staticmethod
    def decode(reader):
        packet = Suback(reader.u16(), reader.rest())
        _check_packet_id(packet.packet_id)
        if not packet.return_codes:
            raise ValueError("mqtt: SUBACK without return codes")
        for code in packet.return_codes:
            if code not in (0, 1, 2, SUBACK_FAILURE):
                raise ValueError("mqtt: SUBACK return code 0x%02x is invalid" % code)
        return packet


class Unsubscribe(_Packet):
    """UNSUBSCRIBE (3.10): a list of topic filters."""
    kind = UNSUBSCRIBE

    def __init__(self, packet_id, filters):
        self.packet_id = packet_id
        self.filters = list(filters)

    def to_bytes(self):
        _check_packet_id(self.packet_id)
        if not self.filters:
            raise ValueError("mqtt: UNSUBSCRIBE needs at least one filter")
        body = struct.pack("!H", self.packet_id)
        for topic_filter in self.filters:
            body += _blob(validate_topic_filter(topic_filter))
        return _frame((UNSUBSCRIBE << 4) | 2, body)

    @staticmethod
    def decode(reader):
        packet = Unsubscribe(reader.u16(), [])
        _check_packet_id(packet.packet_id)
        while reader.left():
            packet.filters.append(reader.text())
            validate_topic_filter(packet.filters[-1])
        if not packet.filters:
            raise ValueError("mqtt: UNSUBSCRIBE without filters")
        return packet


class Control(_Packet):
    """PINGREQ, PINGRESP or DISCONNECT: a type and nothing else."""

    def __init__(self, kind):
        self.kind = kind

    def to_bytes(self):
        return _frame(self.kind << 4, b"")


PINGREQ_BYTES = bytes(Control(PINGREQ).to_bytes())
DISCONNECT_BYTES = bytes(Control(DISCONNECT).to_bytes())


def decode(first_byte, body):
    """The packet whose fixed header byte is first_byte and remaining bytes are body."""
    kind, flags = first_byte >> 4, first_byte & 0x0F
    if kind == PUBLISH:
        return Publish.decode(_Reader(body), flags)
    required = _REQUIRED_FLAGS.get(kind)
    if required is None:
        raise ValueError("mqtt: packet type %d is reserved" % kind)
    if flags != required:
        raise ValueError("mqtt: packet type %d with flags 0x%x, expected 0x%x" % (kind, flags, required))
    reader = _Reader(body)
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
