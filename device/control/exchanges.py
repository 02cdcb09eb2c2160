"""Request/reply messages: a media session (request, grant) and a command (command, ack).

Imported by device/control/messages.py, where decode() finds them by kind.
"""
from device.control import settings as settings_rules
from device.control.wire import VERSION, Message, outcome_error, put_optional
from device.session import MediaSession

ID_MAX_CHARS = 64
ERROR_MAX_CHARS = 512
REQUEST_REASONS = ("boot", "renew", "expired", "reconnect")
EXPIRES_IN_S_MIN = 10
EXPIRES_IN_S_MAX = 86400
COMMANDS = ("listen", "stop", "volume", "reboot", "set_config")
COMMAND_ARGS = {"listen": (), "stop": (), "reboot": (), "volume": ("volume_pct",),
                "set_config": ("settings",)}


class SessionRequest(Message):
    """The device asks for a media session, offering codecs best first."""

    NAME = "SessionRequest"
    KIND = "session/request"

    def __init__(self, request_id, codecs, reason):
        self.request_id = request_id
        self.codecs = list(codecs)
        self.reason = reason

    @classmethod
    def _read(cls, fields):
        return cls(fields.text("request_id", 1, ID_MAX_CHARS), fields.name_list("codecs", 1),
                   fields.one_of("reason", REQUEST_REASONS, str))

    def to_dict(self):
        """The JSON object form."""
        return {"v": VERSION, "request_id": self.request_id, "codecs": list(self.codecs),
                "reason": self.reason}


_SESSION_PREFIX = "session: field '"


def _read_session(fields):
    data = fields.require("session", dict)
    try:
        return MediaSession.from_dict(data)
    except ValueError as error:
        # Re-root the session's own error under this field: 'session.codec'.
        text = str(error)
        if text.startswith(_SESSION_PREFIX):
            raise ValueError("%s: field 'session.%s" % (fields.label, text[len(_SESSION_PREFIX):]))
        raise fields.error("session", "is invalid: " + text)


class SessionGrant(Message):
    """The host's answer: a MediaSession valid for expires_in_s, or an error."""

    NAME = "SessionGrant"
    KIND = "session/grant"

    def __init__(self, request_id, session=None, expires_in_s=None, error=None):
        self.request_id = request_id
        self.session = session
        self.expires_in_s = expires_in_s
        self.error = error

    @property
    def granted(self):
        """True when the grant carries a session (not a refusal)."""
        return self.session is not None

    @classmethod
    def _read(cls, fields):
        request_id = fields.text("request_id", 1, ID_MAX_CHARS)
        if fields.has("error") and not fields.has("session"):
            return cls(request_id, error=fields.text("error", 1, ERROR_MAX_CHARS))
        if fields.has("error"):
            raise fields.error("error", "must be absent when 'session' is given")
        session = _read_session(fields)
        expires = fields.int_in("expires_in_s", EXPIRES_IN_S_MIN, EXPIRES_IN_S_MAX)
        return cls(request_id, session, expires)

    def to_dict(self):
        """The JSON object form (session keys base64, as in a session file)."""
        data = {"v": VERSION, "request_id": self.request_id}
        if self.session is None:
            return put_optional(data, "error", self.error)
        data["session"] = self.session.to_dict()
        data["expires_in_s"] = self.expires_in_s
        return data


def _read_args(fields, name):
    args = fields.nested("args")
    known = COMMAND_ARGS[name]
    for key in args.data:
        if key not in known:
            raise args.error(key, "is not an argument of %r (it takes: %s)"
                             % (name, ", ".join(known) or "none"))
    if name == "volume":
        return {"volume_pct": args.int_in("volume_pct", 0, 100)}
    if name == "set_config":
        return {"settings": settings_rules.validate(args.nested("settings"))}
    return {}


class Command(Message):
    """Do something now: listen, stop, volume, reboot, set_config (not persisted)."""

    NAME = "Command"
    KIND = "command"

    def __init__(self, command_id, name, args=None):
        self.id = command_id
        self.name = name
        self.args = dict(args or {})

    @classmethod
    def _read(cls, fields):
        command_id = fields.text("id", 1, ID_MAX_CHARS)
        name = fields.one_of("name", COMMANDS, str)
        return cls(command_id, name, _read_args(fields, name))

    def to_dict(self):
        """The JSON object form."""
        args = dict(self.args)
        if "settings" in args:
            args["settings"] = dict(args["settings"])
        return {"v": VERSION, "id": self.id, "name": self.name, "args": args}


class CommandAck(Message):
    """The outcome of one Command, by id; result is command-specific (optional)."""

    NAME = "CommandAck"
    KIND = "command/ack"

    def __init__(self, command_id, ok, error=None, result=None):
        self.id = command_id
        self.ok = ok
        self.error = error
        self.result = result

    @classmethod
    def _read(cls, fields):
        command_id = fields.text("id", 1, ID_MAX_CHARS)
        ok = fields.require("ok", bool)
        error = outcome_error(fields, ok, ERROR_MAX_CHARS)
        result = fields.free_object("result") if fields.has("result") else None
        return cls(command_id, ok, error, result)

    def to_dict(self):
        """The JSON object form."""
        data = {"v": VERSION, "id": self.id, "ok": self.ok}
        put_optional(data, "error", self.error)
        return put_optional(data, "result", None if self.result is None else dict(self.result))

