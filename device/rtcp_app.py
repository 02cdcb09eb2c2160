"""The conversation's in-band signals: RTCP APP packets (RFC 3550 6.7) named "PPIT".

They ride the media session's SRTCP, on the same port as the audio, so a
barge-in abort reaches the device without a broker round trip and a session
made without the control plane (`pipit talk`, development sessions) still has
them. Shared by the device and the host; runs on MicroPython and CPython.

APP packet: V=2, P, subtype (5 bits, the count field), PT=204, length; SSRC
of the sender; name "PPIT"; 8 bytes of data, the first being the format
version (1). One message per subtype:

    STATE  (1), device -> gateway, SSRC = uplink_ssrc
        version, state, mode, flags (bit 0: half duplex), turn (16), reserved (16)
    ABORT  (2), gateway -> device, SSRC = downlink_ssrc
        version, flags (bit 0: resume_seq is set), abort_id (16), resume_seq (16), reserved (16)
    TURN   (3), gateway -> device, SSRC = downlink_ssrc
        version, event, turn (16), reserved (32)
    VOLUME (4), gateway -> device, SSRC = downlink_ssrc (the agent's "volume up")
        version, volume_pct (0..100), request_id (16), reserved (32)

UDP can lose any of them: STATE is repeated in every RTCP report and sent on
every change; ABORT, TURN and VOLUME are sent three times, and abort_id,
(event, turn) and request_id let the receiver act on each once. parse() raises ValueError with the
reason for a PPIT packet it cannot read and returns None for anyone else's
APP packet (or a newer version), which the receiver ignores.
"""
import struct

from device import rtcp

NAME = b"PPIT"
VERSION = 1
SUBTYPE_STATE = 1
SUBTYPE_ABORT = 2
SUBTYPE_TURN = 3
SUBTYPE_VOLUME = 4
_DATA_BYTES = 8
_BODY_BYTES = 8 + _DATA_BYTES  # SSRC, name, data

STATES = ("idle", "listening", "thinking", "speaking")
MODES = ("always_listening", "push_to_talk")
# What the pipeline tells the device about its turn.
TURN_EVENTS = ("heard", "answering", "done", "nothing")
_U16 = 0xFFFF


def _index(name, value, choices):
    if value not in choices:
        raise ValueError("rtcp_app: %s %r is not one of %s" % (name, value, ", ".join(choices)))
    return choices.index(value)


def _u16(name, value):
    if not 0 <= value <= _U16:
        raise ValueError("rtcp_app: %s %r is not an unsigned 16-bit value" % (name, value))
    return value


def _choice(name, code, choices):
    if code >= len(choices):
        raise ValueError("rtcp_app: %s code %d is unknown (0..%d)" % (name, code, len(choices) - 1))
    return choices[code]


def _app(subtype, ssrc, data):
    return rtcp.RtcpUnknown(rtcp.PT_APP, subtype, struct.pack("!I", ssrc) + NAME + data)


class _Message:
    """What every PPIT message shares: equality by its FIELDS."""

    FIELDS = ()

    def fields(self):
        """The message's values, in FIELDS order."""
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other):
        return type(other) is type(self) and other.fields() == self.fields()


class DeviceState(_Message):
    """Where the device is in the conversation, and how it listens."""

    FIELDS = ("ssrc", "state", "mode", "turn", "half_duplex")

    def __init__(self, ssrc, state, mode, turn=0, half_duplex=False):
        self.ssrc = ssrc
        self.state = state
        self.mode = mode
        self.turn = turn
        self.half_duplex = half_duplex

    def __repr__(self):
        return "DeviceState(%s, %s, turn=%d%s)" % (
            self.state, self.mode, self.turn, ", half duplex" if self.half_duplex else "")

    def to_packet(self):
        """The RTCP APP packet (an rtcp.RtcpUnknown) for a compound."""
        data = struct.pack("!BBBBHH", VERSION, _index("state", self.state, STATES),
                           _index("mode", self.mode, MODES), 1 if self.half_duplex else 0,
                           _u16("turn", self.turn), 0)
        return _app(SUBTYPE_STATE, self.ssrc, data)

    @classmethod
    def _from_data(cls, ssrc, data):
        _, state, mode, flags, turn, _ = struct.unpack("!BBBBHH", data)
        return cls(ssrc, _choice("state", state, STATES), _choice("mode", mode, MODES),
                   turn, bool(flags & 1))


class Abort(_Message):
    """Drop the answer you are playing; resume at resume_seq (or the next marker)."""

    FIELDS = ("ssrc", "abort_id", "resume_seq")

    def __init__(self, ssrc, abort_id, resume_seq=None):
        self.ssrc = ssrc
        self.abort_id = abort_id
        self.resume_seq = resume_seq

    def __repr__(self):
        return "Abort(id=%d, resume_seq=%r)" % (self.abort_id, self.resume_seq)

    def to_packet(self):
        """The RTCP APP packet (an rtcp.RtcpUnknown) for a compound."""
        has_resume = self.resume_seq is not None
        data = struct.pack("!BBHHH", VERSION, 1 if has_resume else 0, _u16("abort_id", self.abort_id),
                           _u16("resume_seq", self.resume_seq) if has_resume else 0, 0)
        return _app(SUBTYPE_ABORT, self.ssrc, data)

    @classmethod
    def _from_data(cls, ssrc, data):
        _, flags, abort_id, resume_seq, _ = struct.unpack("!BBHHH", data)
        return cls(ssrc, abort_id, resume_seq if flags & 1 else None)


class TurnEvent(_Message):
    """The pipeline's news about a turn: heard it, answering, done, nothing to say."""

    FIELDS = ("ssrc", "event", "turn")

    def __init__(self, ssrc, event, turn):
        self.ssrc = ssrc
        self.event = event
        self.turn = turn

    def __repr__(self):
        return "TurnEvent(%s, turn=%d)" % (self.event, self.turn)

    def to_packet(self):
        """The RTCP APP packet (an rtcp.RtcpUnknown) for a compound."""
        data = struct.pack("!BBHI", VERSION, _index("event", self.event, TURN_EVENTS),
                           _u16("turn", self.turn), 0)
        return _app(SUBTYPE_TURN, self.ssrc, data)

    @classmethod
    def _from_data(cls, ssrc, data):
        _, event, turn, _ = struct.unpack("!BBHI", data)
        return cls(ssrc, _choice("event", event, TURN_EVENTS), turn)


class Volume(_Message):
    """Set the speaker volume (what a local "volume up" intent does)."""

    FIELDS = ("ssrc", "volume_pct", "request_id")

    def __init__(self, ssrc, volume_pct, request_id):
        self.ssrc = ssrc
        self.volume_pct = volume_pct
        self.request_id = request_id

    def __repr__(self):
        return "Volume(%d%%, request=%d)" % (self.volume_pct, self.request_id)

    def to_packet(self):
        """The RTCP APP packet (an rtcp.RtcpUnknown) for a compound."""
        if not 0 <= self.volume_pct <= 100:
            raise ValueError("rtcp_app: volume_pct %r is not 0..100" % (self.volume_pct,))
        data = struct.pack("!BBHI", VERSION, self.volume_pct, _u16("request_id", self.request_id), 0)
        return _app(SUBTYPE_VOLUME, self.ssrc, data)

    @classmethod
    def _from_data(cls, ssrc, data):
        _, volume_pct, request_id, _ = struct.unpack("!BBHI", data)
        if volume_pct > 100:
            raise ValueError("rtcp_app: volume_pct %d is not 0..100" % volume_pct)
        return cls(ssrc, volume_pct, request_id)


_KINDS = {SUBTYPE_STATE: DeviceState, SUBTYPE_ABORT: Abort, SUBTYPE_TURN: TurnEvent,
          SUBTYPE_VOLUME: Volume}


def parse(packet):
    """A PPIT message from an RTCP packet; None if it is not ours; ValueError if broken."""
    if not isinstance(packet, rtcp.RtcpUnknown) or packet.packet_type != rtcp.PT_APP:
        return None
    body = packet.body
    if len(body) < 8 or bytes(body[4:8]) != NAME:
        return None
    if len(body) < 9 or body[8] != VERSION:
        return None  # a newer version: ignored, not an error
    kind = _KINDS.get(packet.count)
    if kind is None:
        raise ValueError("rtcp_app: subtype %d is unknown" % packet.count)
    if len(body) != _BODY_BYTES:
        raise ValueError("rtcp_app: %s body is %d bytes, expected %d"
                         % (kind.__name__, len(body), _BODY_BYTES))
    return kind._from_data(struct.unpack("!I", body[:4])[0], bytes(body[8:]))


def messages(packets):
    """The PPIT messages among parsed RTCP packets, in order; ValueError if one is broken."""
    found = []
    for packet in packets:
        message = parse(packet)
        if message is not None:
            found.append(message)
    return found


def compound(ssrc, *messages_):
    """A compound packet for SRTCP: an empty RR from ssrc, then the messages."""
    return rtcp.build_compound([rtcp.ReceiverReport(ssrc, [])]
                               + [message.to_packet() for message in messages_])
