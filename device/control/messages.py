"""Control messages: one class per message, and decode(kind, payload) for any of them.

Each class validates in from_dict()/decode() (ValueError "<Name>: field 'x'
<reason>"), and gives to_dict() and encode() -> compact JSON bytes. Unknown
extra fields are ignored, for forward compatibility, and so are codec and
capability names this runtime does not know (kept, not refused); unknown
settings are refused.
The session and command exchanges live in device/control/exchanges.py.
"""
from device.control import settings as settings_rules
from device.control.exchanges import Command, CommandAck, SessionGrant, SessionRequest
from device.control.wire import MAX_PAYLOAD_BYTES, VERSION, Message, optional_int, outcome_error, put_optional
from device.rtcp_app import MODES as CONVERSATION_MODES
from device.rtcp_app import STATES as CONVERSATION_STATES

STATES = ("online", "offline")
RUNTIMES = ("micropython", "cpython")
NAME_MAX_CHARS = 64
ERROR_MAX_CHARS = 512


class Status(Message):
    """Retained on .../status; the last will is Status("offline", firmware)."""

    NAME = "Status"
    KIND = "status"

    def __init__(self, state, firmware, ts_s=None):
        self.state = state
        self.firmware = firmware
        self.ts_s = ts_s

    @property
    def online(self):
        """True when state is "online"."""
        return self.state == "online"

    @classmethod
    def _read(cls, fields):
        return cls(fields.one_of("state", STATES, str), fields.text("firmware", 1, NAME_MAX_CHARS),
                   optional_int(fields, "ts_s", 0))

    def to_dict(self):
        """The JSON object form."""
        data = {"v": VERSION, "state": self.state, "firmware": self.firmware}
        return put_optional(data, "ts_s", self.ts_s)


class Hello(Message):
    """What the device is and runs, sent after every (re)connect."""

    NAME = "Hello"
    KIND = "hello"

    def __init__(self, board, firmware, runtime, codecs, capabilities, config_version=0):
        self.board = board
        self.firmware = firmware
        self.runtime = runtime
        self.codecs = list(codecs)
        self.capabilities = list(capabilities)
        self.config_version = config_version

    @classmethod
    def _read(cls, fields):
        return cls(
            board=fields.text("board", 1, NAME_MAX_CHARS),
            firmware=fields.text("firmware", 1, NAME_MAX_CHARS),
            runtime=fields.one_of("runtime", RUNTIMES, str),
            codecs=fields.name_list("codecs", 1),
            capabilities=fields.name_list("capabilities"),
            config_version=fields.int_in("config_version", 0),
        )

    def to_dict(self):
        """The JSON object form."""
        return {"v": VERSION, "board": self.board, "firmware": self.firmware,
                "runtime": self.runtime, "codecs": list(self.codecs),
                "capabilities": list(self.capabilities), "config_version": self.config_version}


class Config(Message):
    """The complete desired settings (retained); keys left out mean the default."""

    NAME = "Config"
    KIND = "config"

    def __init__(self, version, settings):
        self.version = version
        self.settings = dict(settings)

    @classmethod
    def _read(cls, fields):
        version = fields.int_in("version", 1)
        return cls(version, settings_rules.validate(fields.nested("settings")))

    def to_dict(self):
        """The JSON object form."""
        return {"v": VERSION, "version": self.version, "settings": dict(self.settings)}

    def effective(self):
        """The settings the device runs with: defaults overlaid with these."""
        return settings_rules.effective(self.settings)


class ConfigAck(Message):
    """The device applied (ok) or refused a Config; version 0 = the Config was unreadable."""

    NAME = "ConfigAck"
    KIND = "config/ack"

    def __init__(self, version, ok, error=None):
        self.version = version
        self.ok = ok
        self.error = error

    @classmethod
    def _read(cls, fields):
        version = fields.int_in("version", 0)
        ok = fields.require("ok", bool)
        return cls(version, ok, outcome_error(fields, ok, ERROR_MAX_CHARS))

    def to_dict(self):
        """The JSON object form."""
        data = {"v": VERSION, "version": self.version, "ok": self.ok}
        return put_optional(data, "error", self.error)


AUDIO_COUNTERS = ("frames_captured", "packets_sent", "rtcp_received")
MQTT_COUNTERS = ("connects", "publish_retries")
RTCP_LOST_MIN = -0x800000  # cumulative lost is a signed 24-bit field (RFC 3550)
RTCP_LOST_MAX = 0x7FFFFF


def _read_audio(audio):
    values = {}
    for name in AUDIO_COUNTERS:
        values[name] = audio.int_in(name, 0)
    values["fraction_lost"] = audio.number_in("fraction_lost", 0, 1)
    values["packets_lost"] = audio.int_in("packets_lost", RTCP_LOST_MIN, RTCP_LOST_MAX)
    values["jitter_ms"] = audio.number_in("jitter_ms", 0)
    values["round_trip_ms"] = audio.number_in("round_trip_ms", 0, None, True)
    return values


def _read_mqtt(mqtt):
    values = {}
    for name in MQTT_COUNTERS:
        values[name] = mqtt.int_in(name, 0)
    return values


CONVERSATION_COUNTERS = ("turns", "aborts", "app_malformed")


def _read_conversation(fields):
    if not fields.has("conversation"):
        return None
    conversation = fields.nested("conversation")
    values = {"state": conversation.one_of("state", CONVERSATION_STATES, str),
              "mode": conversation.one_of("mode", CONVERSATION_MODES, str)}
    for name in CONVERSATION_COUNTERS:
        values[name] = conversation.int_in(name, 0)
    return values


class Telemetry(Message):
    """Periodic health: uptime, memory, Wi-Fi, audio quality, MQTT counters, conversation."""

    NAME = "Telemetry"
    KIND = "telemetry"

    def __init__(self, uptime_s, free_memory_bytes, wifi_rssi_dbm, audio, mqtt, conversation=None):
        self.uptime_s = uptime_s
        self.free_memory_bytes = free_memory_bytes
        self.wifi_rssi_dbm = wifi_rssi_dbm
        self.audio = dict(audio)
        self.mqtt = dict(mqtt)
        self.conversation = None if conversation is None else dict(conversation)

    @classmethod
    def _read(cls, fields):
        return cls(
            uptime_s=fields.int_in("uptime_s", 0),
            free_memory_bytes=fields.int_or_null("free_memory_bytes", 0),
            wifi_rssi_dbm=fields.int_or_null("wifi_rssi_dbm", -127, 0),
            audio=_read_audio(fields.nested("audio")),
            mqtt=_read_mqtt(fields.nested("mqtt")),
            conversation=_read_conversation(fields),
        )

    def to_dict(self):
        """The JSON object form (null for unknown memory, RSSI and round trip)."""
        data = {"v": VERSION, "uptime_s": self.uptime_s,
                "free_memory_bytes": self.free_memory_bytes, "wifi_rssi_dbm": self.wifi_rssi_dbm,
                "audio": dict(self.audio), "mqtt": dict(self.mqtt)}
        return put_optional(data, "conversation",
                            None if self.conversation is None else dict(self.conversation))


CLASSES = (Status, Hello, Config, ConfigAck, SessionRequest, SessionGrant, Command, CommandAck,
           Telemetry)
BY_KIND = {}
for _cls in CLASSES:
    BY_KIND[_cls.KIND] = _cls


def decode(kind, payload):
    """The message object for a payload received on a topic of `kind` (see topics.KINDS)."""
    cls = BY_KIND.get(kind)
    if cls is None:
        raise ValueError("control: unknown message kind %r" % (kind,))
    return cls.decode(payload)


def encode(message):
    """Compact JSON bytes of a message object (same as message.encode())."""
    return message.encode()


__all__ = ("MAX_PAYLOAD_BYTES", "VERSION", "Status", "Hello", "Config", "ConfigAck",
           "SessionRequest", "SessionGrant", "Command", "CommandAck", "Telemetry", "decode",
           "encode", "BY_KIND", "CLASSES")
