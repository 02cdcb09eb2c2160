"""CONNECT and CONNACK (MQTT 3.1.1 sections 3.1 and 3.2): the handshake that opens a session.

Pure encode and decode like the other packets (device/mqtt/packets.py, whose
decode() also turns these two back into objects).
"""
import struct

from device.mqtt.wire import CONNACK, CONNECT, Packet, blob, check_qos, frame, validate_topic_name

PROTOCOL_NAME = b"MQTT"
PROTOCOL_LEVEL = 4
CONNACK_REASONS = ("accepted", "unacceptable protocol version", "identifier rejected",
                   "server unavailable", "bad username or password", "not authorised")


class Connect(Packet):
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
            check_qos(self.will_qos)
            flags |= 0x04 | (self.will_qos << 3) | (0x20 if self.will_retain else 0)
        if self.password is not None:
            flags |= 0x40
        if self.username is not None:
            flags |= 0x80
        return flags

    def to_bytes(self):
        flags = self._flags()
        body = blob(PROTOCOL_NAME) + struct.pack("!BBH", PROTOCOL_LEVEL, flags, self.keepalive_s)
        body += blob(self.client_id.encode("utf-8"))
        if self.will_topic is not None:
            body += blob(validate_topic_name(self.will_topic)) + blob(self.will_payload)
        if self.username is not None:
            body += blob(self.username.encode("utf-8"))
        if self.password is not None:
            password = self.password
            body += blob(password.encode("utf-8") if isinstance(password, str) else bytes(password))
        return frame(CONNECT << 4, body)

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


class Connack(Packet):
    """CONNACK (3.2): return_code 0 means accepted."""
    kind = CONNACK

    def __init__(self, session_present, return_code):
        self.session_present = bool(session_present)
        self.return_code = return_code

    def to_bytes(self):
        return frame(CONNACK << 4, bytes([1 if self.session_present else 0, self.return_code]))

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
