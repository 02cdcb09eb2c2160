"""A media session: everything both ends need to exchange SRTP media.

The same description comes from a local session file in development mode
(`pipit device stream --session FILE`) and, once provisioning exists, from a
session grant over MQTT. Validation is strict: a bad field is refused with its
name and the reason (ValueError), so neither side starts on a half-good config.
"""
import binascii
import json

from device.validate import Fields

SRTP_MASTER_KEY_SIZE = 16
SRTP_MASTER_SALT_SIZE = 14
CODECS = ("opus", "l16")
FRAME_MS_CHOICES = (10, 20, 40, 60)
SAMPLE_RATES_HZ = (8000, 16000, 24000, 48000)
SESSION_FORMAT_VERSION = 1


def _b64_field(fields, name, size):
    text = fields.require(name, str)
    try:
        raw = binascii.a2b_base64(text)
    except ValueError:  # binascii.Error is a ValueError; MicroPython has no binascii.Error
        raise fields.error(name, "is not valid base64")
    if len(raw) != size:
        raise fields.error(name, "must decode to %d bytes, got %d" % (size, len(raw)))
    return raw


def _b64(raw):
    return binascii.b2a_base64(raw).decode().strip()


class MediaSession:
    """Addresses, SSRCs, codec and SRTP keys of one device's media session."""

    def __init__(self, gateway_host, gateway_port, uplink_ssrc, downlink_ssrc,
                 codec, payload_type, sample_rate_hz, frame_ms,
                 srtp_master_key, srtp_master_salt, channels=1):
        self.gateway_host = gateway_host
        self.gateway_port = gateway_port
        self.uplink_ssrc = uplink_ssrc
        self.downlink_ssrc = downlink_ssrc
        self.codec = codec
        self.payload_type = payload_type
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.frame_ms = frame_ms
        self.srtp_master_key = srtp_master_key
        self.srtp_master_salt = srtp_master_salt

    @property
    def srtp_key_and_salt(self):
        """Master key followed by master salt: the 30-byte layout libsrtp takes."""
        return self.srtp_master_key + self.srtp_master_salt

    @property
    def samples_per_frame(self):
        """PCM samples per channel in one frame at the session's sample rate."""
        return self.sample_rate_hz * self.frame_ms // 1000

    @classmethod
    def from_dict(cls, data):
        """Validate a decoded JSON object; raise ValueError naming the bad field."""
        fields = Fields("session", data)
        fields.version(SESSION_FORMAT_VERSION)
        uplink = fields.int_in("uplink_ssrc", 0, 0xFFFFFFFF)
        downlink = fields.int_in("downlink_ssrc", 0, 0xFFFFFFFF)
        if uplink == downlink:
            raise fields.error("downlink_ssrc", "must differ from 'uplink_ssrc'")
        host = fields.require("gateway_host", str)
        if not host:
            raise fields.error("gateway_host", "is empty")
        return cls(
            gateway_host=host,
            gateway_port=fields.int_in("gateway_port", 1, 65535),
            uplink_ssrc=uplink,
            downlink_ssrc=downlink,
            codec=fields.one_of("codec", CODECS, str),
            payload_type=fields.int_in("payload_type", 96, 127),
            sample_rate_hz=fields.one_of("sample_rate_hz", SAMPLE_RATES_HZ, int),
            frame_ms=fields.one_of("frame_ms", FRAME_MS_CHOICES, int),
            srtp_master_key=_b64_field(fields, "srtp_master_key", SRTP_MASTER_KEY_SIZE),
            srtp_master_salt=_b64_field(fields, "srtp_master_salt", SRTP_MASTER_SALT_SIZE),
            channels=fields.int_in("channels", 1, 2) if fields.has("channels") else 1,
        )

    def to_dict(self):
        """The JSON object form (keys base64), as written to a session file."""
        return {
            "v": SESSION_FORMAT_VERSION,
            "gateway_host": self.gateway_host,
            "gateway_port": self.gateway_port,
            "uplink_ssrc": self.uplink_ssrc,
            "downlink_ssrc": self.downlink_ssrc,
            "codec": self.codec,
            "payload_type": self.payload_type,
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "frame_ms": self.frame_ms,
            "srtp_master_key": _b64(self.srtp_master_key),
            "srtp_master_salt": _b64(self.srtp_master_salt),
        }


def loads(text):
    """Parse a session from JSON text."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("session: not valid JSON")
    return MediaSession.from_dict(data)


def dumps(session):
    """Serialize a session to JSON text."""
    return json.dumps(session.to_dict())


def load(path):
    """Read a session file."""
    with open(path) as handle:
        return loads(handle.read())


def save(session, path):
    """Write a session file."""
    with open(path, "w") as handle:
        handle.write(dumps(session))
