"""What every control message shares: payload limits, JSON in and out, the base class.

A payload is UTF-8 JSON, one object, at most MAX_PAYLOAD_BYTES, with "v": VERSION.
Anything else is refused with ValueError("<Message>: <reason>") before a single
field is read.
"""
import json

from device.validate import Fields

VERSION = 1
MAX_PAYLOAD_BYTES = 8192


def _refuse_constant(name):
    raise ValueError("not valid JSON: %s" % name)


# NaN and Infinity are not JSON; CPython accepts them unless told otherwise,
# MicroPython refuses them already (and takes no keyword arguments).
try:
    json.loads("1", parse_constant=_refuse_constant)
    _LOADS_OPTIONS = {"parse_constant": _refuse_constant}
except TypeError:
    _LOADS_OPTIONS = {}
try:
    json.dumps(1.0, allow_nan=False)
    _DUMPS_OPTIONS = {"separators": (",", ":"), "allow_nan": False}
except TypeError:
    _DUMPS_OPTIONS = {"separators": (",", ":")}


def load(label, payload):
    """The JSON object in payload (bytes, bytearray, memoryview or str), checked for size."""
    if isinstance(payload, str):
        payload = payload.encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError("%s: too large: %d bytes, max %d" % (label, len(payload), MAX_PAYLOAD_BYTES))
    try:
        text = bytes(payload).decode()
    except UnicodeError:
        raise ValueError("%s: not valid JSON (not UTF-8)" % label)
    try:
        data = json.loads(text, **_LOADS_OPTIONS)
    except (ValueError, RuntimeError):  # RecursionError is a RuntimeError on CPython
        raise ValueError("%s: not valid JSON" % label)
    if not isinstance(data, dict):
        raise ValueError("%s: expected a JSON object" % label)
    return data


def dump(label, data):
    """Compact JSON bytes of data; refused if the result is over MAX_PAYLOAD_BYTES."""
    try:
        raw = json.dumps(data, **_DUMPS_OPTIONS).encode()
    except ValueError:  # NaN or infinity in a free-form field (CommandAck.result)
        raise ValueError("%s: not representable as JSON (NaN or infinity)" % label)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ValueError("%s: too large: %d bytes, max %d" % (label, len(raw), MAX_PAYLOAD_BYTES))
    return raw


class Message:
    """Base of all control messages: subclasses set NAME and KIND, define _read and to_dict."""

    NAME = "Message"
    KIND = ""

    @classmethod
    def from_dict(cls, data):
        """Validate a decoded JSON object; ValueError names the message, field and reason."""
        fields = Fields(cls.NAME, data)
        fields.version(VERSION)
        return cls._read(fields)

    @classmethod
    def decode(cls, payload):
        """Parse and validate one payload (bytes) of this message."""
        return cls.from_dict(load(cls.NAME, payload))

    def encode(self):
        """Compact JSON bytes; refused here if the receiver would refuse them."""
        data = self.to_dict()
        self.from_dict(data)
        return dump(self.NAME, data)

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "%s(%r)" % (self.NAME, self.to_dict())


def optional_int(fields, name, low, high=None):
    """An optional integer field: None when absent."""
    return fields.int_in(name, low, high) if fields.has(name) else None


def outcome_error(fields, ok, max_chars):
    """The error text of a reply: required when ok is false, absent when ok is true."""
    if ok:
        if fields.has("error"):
            raise fields.error("error", "must be absent when 'ok' is true")
        return None
    return fields.text("error", 1, max_chars)


def put_optional(data, name, value):
    """Set data[name] unless value is None (optional fields are omitted, not null)."""
    if value is not None:
        data[name] = value
    return data
