"""Valid control messages, and the table of what must be refused and why.

Shared by the CPython tests, the hypothesis tests and the MicroPython parity
test. Every example is in canonical form: decode + to_dict gives it back.
"""
import copy
import json

SESSION = {
    "v": 1, "gateway_host": "192.168.1.20", "gateway_port": 5004, "uplink_ssrc": 305419896,
    "downlink_ssrc": 2596069104, "codec": "l16", "payload_type": 96, "sample_rate_hz": 16000,
    "channels": 1, "frame_ms": 20, "srtp_master_key": "AAECAwQFBgcICQoLDA0ODw==",
    "srtp_master_salt": "EBESExQVFhcYGRobHB0=",
}

# kind -> the fullest valid example (every field present).
VALID = {
    "status": {"v": 1, "state": "online", "firmware": "0.1.0", "ts_s": 12},
    "hello": {"v": 1, "board": "esp32-s3-box-3", "firmware": "0.1.0", "runtime": "micropython",
              "codecs": ["opus", "l16"], "capabilities": ["speaker", "microphone", "button", "led"],
              "config_version": 4},
    "config": {"v": 1, "version": 5, "settings": {
        "volume_pct": 70, "listen_mode": "always_listening", "telemetry_interval_s": 30,
        "preferred_codec": "opus", "opus_bitrate_bps": 24000, "half_duplex": True}},
    "config/ack": {"v": 1, "version": 5, "ok": False,
                   "error": "Config: field 'settings.volume_pct' must be in 0..100, got 150"},
    "session/request": {"v": 1, "request_id": "r-7", "codecs": ["opus", "l16"], "reason": "boot"},
    "session/grant": {"v": 1, "request_id": "r-7", "session": SESSION, "expires_in_s": 3600},
    "command": {"v": 1, "id": "c-1", "name": "volume", "args": {"volume_pct": 40}},
    "command/ack": {"v": 1, "id": "c-1", "ok": True, "result": {"volume_pct": 40}},
    "telemetry": {"v": 1, "uptime_s": 3600, "free_memory_bytes": 123456, "wifi_rssi_dbm": -61,
                  "audio": {"frames_captured": 1500, "packets_sent": 1498, "rtcp_received": 6,
                            "fraction_lost": 0.25, "packets_lost": 3, "jitter_ms": 4.5,
                            "round_trip_ms": 38.0},
                  "mqtt": {"connects": 2, "publish_retries": 1},
                  "conversation": {"state": "speaking", "mode": "push_to_talk", "turns": 12,
                                   "aborts": 2, "app_malformed": 0}},
}

# Further valid shapes: optional fields left out, the other branch of a reply.
MORE_VALID = [
    ("status", {"v": 1, "state": "offline", "firmware": "0.1.0"}),
    ("hello", {"v": 1, "board": "virtual", "firmware": "0.1.0", "runtime": "cpython",
               "codecs": ["l16"], "capabilities": [], "config_version": 0}),
    # A newer firmware's codec and capability: kept, not refused (forward compatibility).
    ("hello", {"v": 1, "board": "virtual", "firmware": "0.9.0", "runtime": "micropython",
               "codecs": ["lc3", "opus"], "capabilities": ["display", "led"], "config_version": 3}),
    ("session/request", {"v": 1, "request_id": "r-9", "codecs": ["lc3", "l16"], "reason": "boot"}),
    ("config", {"v": 1, "version": 1, "settings": {}}),
    ("config/ack", {"v": 1, "version": 5, "ok": True}),
    ("config/ack", {"v": 1, "version": 0, "ok": False, "error": "Config: not valid JSON"}),
    ("session/request", {"v": 1, "request_id": "x" * 64, "codecs": ["l16"], "reason": "renew"}),
    ("session/grant", {"v": 1, "request_id": "r-8", "error": "no gateway available"}),
    ("command", {"v": 1, "id": "c-2", "name": "listen", "args": {}}),
    ("command", {"v": 1, "id": "c-3", "name": "stop", "args": {}}),
    ("command", {"v": 1, "id": "c-4", "name": "reboot", "args": {}}),
    ("command", {"v": 1, "id": "c-5", "name": "set_config",
                 "args": {"settings": {"volume_pct": 0, "half_duplex": False}}}),
    ("command/ack", {"v": 1, "id": "c-2", "ok": True}),
    ("command/ack", {"v": 1, "id": "c-4", "ok": False, "error": "busy speaking"}),
    ("telemetry", {"v": 1, "uptime_s": 0, "free_memory_bytes": None, "wifi_rssi_dbm": None,
                   "audio": {"frames_captured": 0, "packets_sent": 0, "rtcp_received": 0,
                             "fraction_lost": 0, "packets_lost": -2, "jitter_ms": 0,
                             "round_trip_ms": None},
                   "mqtt": {"connects": 1, "publish_retries": 0}}),
]

NAMES = {"status": "Status", "hello": "Hello", "config": "Config", "config/ack": "ConfigAck",
         "session/request": "SessionRequest", "session/grant": "SessionGrant", "command": "Command",
         "command/ack": "CommandAck", "telemetry": "Telemetry"}

_SESSION_FIELDS = ["session." + name for name in SESSION if name != "channels"]
# kind -> every required field of its VALID example (dotted for nested ones).
REQUIRED = {
    "status": ["v", "state", "firmware"],
    "hello": ["v", "board", "firmware", "runtime", "codecs", "capabilities", "config_version"],
    "config": ["v", "version", "settings"],
    "config/ack": ["v", "version", "ok", "error"],
    "session/request": ["v", "request_id", "codecs", "reason"],
    "session/grant": ["v", "request_id", "session", "expires_in_s"] + _SESSION_FIELDS,
    "command": ["v", "id", "name", "args", "args.volume_pct"],
    "command/ack": ["v", "id", "ok"],
    "telemetry": ["v", "uptime_s", "free_memory_bytes", "wifi_rssi_dbm", "audio", "mqtt",
                  "audio.frames_captured", "audio.packets_sent", "audio.rtcp_received",
                  "audio.fraction_lost", "audio.packets_lost", "audio.jitter_ms",
                  "audio.round_trip_ms", "mqtt.connects", "mqtt.publish_retries",
                  # conversation itself is optional; inside it every field is required
                  "conversation.state", "conversation.mode", "conversation.turns",
                  "conversation.aborts", "conversation.app_malformed"],
}


def _wrong_type(value):
    """A value of another JSON type than `value`."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, (int, float)):
        return "7"
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return "opus"
    if isinstance(value, dict):
        return ["x"]
    return True


# (kind, dotted field to set, value, expected text after "<Name>: ").
OUT_OF_RANGE = [
    ("status", "v", 2, "field 'v' is 2, this runtime reads version 1"),
    ("status", "state", "busy", "field 'state' must be one of ('online', 'offline'), got 'busy'"),
    ("status", "firmware", "", "field 'firmware' must have 1..64 characters, got 0"),
    ("status", "firmware", "x" * 65, "field 'firmware' must have 1..64 characters, got 65"),
    ("status", "ts_s", -1, "field 'ts_s' must be >= 0, got -1"),
    ("hello", "board", "", "field 'board' must have 1..64 characters"),
    ("hello", "runtime", "pypy", "field 'runtime' must be one of"),
    ("hello", "codecs", [], "field 'codecs' must have 1..16 item(s), got 0"),
    ("hello", "codecs", ["MP3"], "field 'codecs[0]' must be 1..32 of a-z 0-9 _ -, got 'MP3'"),
    ("hello", "codecs", ["opus"] * 17, "field 'codecs' must have 1..16 item(s), got 17"),
    ("hello", "codecs", ["opus", 3], "field 'codecs[1]' must be a string, got 3"),
    ("hello", "codecs", ["opus", "opus"], "field 'codecs' lists 'opus' twice"),
    ("hello", "capabilities", ["led", "d" * 33], "field 'capabilities[1]' must be 1..32 of a-z"),
    ("hello", "capabilities", ["led", ""], "field 'capabilities[1]' must be 1..32 of a-z"),
    ("hello", "config_version", -1, "field 'config_version' must be >= 0, got -1"),
    ("config", "version", 0, "field 'version' must be >= 1, got 0"),
    ("config", "settings.volume_pct", 101, "field 'settings.volume_pct' must be in 0..100, got 101"),
    ("config", "settings.volume_pct", -1, "field 'settings.volume_pct' must be in 0..100, got -1"),
    ("config", "settings.volume_pct", 50.0, "field 'settings.volume_pct' must be an integer, got 50.0"),
    ("config", "settings.volume_pct", True, "field 'settings.volume_pct' must be an integer, got True"),
    ("config", "settings.listen_mode", "sometimes", "field 'settings.listen_mode' must be one of"),
    ("config", "settings.telemetry_interval_s", 0, "field 'settings.telemetry_interval_s' must be in 1..3600"),
    ("config", "settings.telemetry_interval_s", 3601, "field 'settings.telemetry_interval_s' must be in 1..3600"),
    ("config", "settings.preferred_codec", "mp3", "field 'settings.preferred_codec' must be one of"),
    ("config", "settings.opus_bitrate_bps", 5999, "field 'settings.opus_bitrate_bps' must be in 6000..128000"),
    ("config", "settings.opus_bitrate_bps", 128001, "field 'settings.opus_bitrate_bps' must be in 6000..128000"),
    ("config", "settings.half_duplex", "yes", "field 'settings.half_duplex' must be a boolean, got 'yes'"),
    ("config", "settings.half_duplex", 1, "field 'settings.half_duplex' must be a boolean, got 1"),
    ("config", "settings.volum_pct", 50, "field 'settings.volum_pct' is not a known setting"),
    ("config/ack", "version", -1, "field 'version' must be >= 0, got -1"),
    ("config/ack", "error", "", "field 'error' must have 1..512 characters, got 0"),
    ("config/ack", "ok", True, "field 'error' must be absent when 'ok' is true"),
    ("session/request", "request_id", "", "field 'request_id' must have 1..64 characters, got 0"),
    ("session/request", "request_id", "x" * 65, "field 'request_id' must have 1..64 characters, got 65"),
    ("session/request", "codecs", [], "field 'codecs' must have 1..16 item(s), got 0"),
    ("session/request", "reason", "bored", "field 'reason' must be one of"),
    ("session/grant", "expires_in_s", 9, "field 'expires_in_s' must be in 10..86400, got 9"),
    ("session/grant", "expires_in_s", 86401, "field 'expires_in_s' must be in 10..86400, got 86401"),
    ("session/grant", "session.gateway_port", 0, "field 'session.gateway_port' must be in 1..65535, got 0"),
    ("session/grant", "session.codec", "mp3", "field 'session.codec' must be one of"),
    ("session/grant", "session.v", 2, "field 'session.v' is 2, this runtime reads version 1"),
    ("session/grant", "session.srtp_master_key", "AAAA", "field 'session.srtp_master_key' must decode to 16 bytes"),
    ("session/grant", "session.downlink_ssrc", 305419896, "field 'session.downlink_ssrc' must differ"),
    ("session/grant", "error", "no gateway", "field 'error' must be absent when 'session' is given"),
    ("command", "id", "", "field 'id' must have 1..64 characters, got 0"),
    ("command", "name", "dance", "field 'name' must be one of"),
    ("command", "args.volume_pct", 101, "field 'args.volume_pct' must be in 0..100, got 101"),
    ("command", "args.loudness", 3, "field 'args.loudness' is not an argument of 'volume'"),
    ("command/ack", "ok", False, "field 'error' is missing"),
    ("command/ack", "result", [1], "field 'result' must be an object, got [1]"),
    ("command/ack", "id", "x" * 65, "field 'id' must have 1..64 characters, got 65"),
    ("telemetry", "uptime_s", -1, "field 'uptime_s' must be >= 0, got -1"),
    ("telemetry", "free_memory_bytes", -1, "field 'free_memory_bytes' must be >= 0, got -1"),
    ("telemetry", "wifi_rssi_dbm", 1, "field 'wifi_rssi_dbm' must be in -127..0, got 1"),
    ("telemetry", "wifi_rssi_dbm", -128, "field 'wifi_rssi_dbm' must be in -127..0, got -128"),
    ("telemetry", "audio.frames_captured", -1, "field 'audio.frames_captured' must be >= 0"),
    ("telemetry", "audio.fraction_lost", 1.5, "field 'audio.fraction_lost' must be in 0..1, got 1.5"),
    ("telemetry", "audio.fraction_lost", -0.25, "field 'audio.fraction_lost' must be in 0..1, got -0.25"),
    ("telemetry", "audio.packets_lost", 8388608, "field 'audio.packets_lost' must be in -8388608..8388607"),
    ("telemetry", "audio.jitter_ms", -1, "field 'audio.jitter_ms' must be >= 0, got -1"),
    ("telemetry", "audio.round_trip_ms", -0.5, "field 'audio.round_trip_ms' must be >= 0, got -0.5"),
    ("telemetry", "mqtt.connects", -1, "field 'mqtt.connects' must be >= 0, got -1"),
    ("telemetry", "mqtt.publish_retries", "2", "field 'mqtt.publish_retries' must be an integer, got '2'"),
    ("telemetry", "conversation", None, "field 'conversation' must be an object, got None"),
    ("telemetry", "conversation.state", "dozing", "field 'conversation.state' must be one of"),
    ("telemetry", "conversation.mode", "sometimes", "field 'conversation.mode' must be one of"),
    ("telemetry", "conversation.turns", -1, "field 'conversation.turns' must be >= 0, got -1"),
    ("telemetry", "conversation.aborts", 1.5, "field 'conversation.aborts' must be an integer"),
]

# Commands whose args differ from VALID["command"]: (args, expected text).
BAD_COMMAND_ARGS = [
    ({"name": "stop", "args": {"now": True}}, "field 'args.now' is not an argument of 'stop' (it takes: none)"),
    ({"name": "set_config", "args": {"settings": {"volume_pct": 101}}},
     "field 'args.settings.volume_pct' must be in 0..100, got 101"),
    ({"name": "set_config", "args": {"settings": {"loud": True}}}, "field 'args.settings.loud' is not a known setting"),
    ({"name": "set_config", "args": {}}, "field 'args.settings' is missing"),
]


def _parent(data, path):
    parts = path.split(".")
    for part in parts[:-1]:
        data = data[part]
    return data, parts[-1]


def with_value(kind, path, value):
    """A deep copy of VALID[kind] with the dotted field set to value."""
    data = copy.deepcopy(VALID[kind])
    parent, name = _parent(data, path)
    parent[name] = value
    return data


def without(kind, path):
    """A deep copy of VALID[kind] without the dotted field."""
    data = copy.deepcopy(VALID[kind])
    parent, name = _parent(data, path)
    del parent[name]
    return data


def refusals():
    """[(kind, payload dict, expected full error text prefix)]: missing, mistyped, out of range."""
    cases = []
    for kind, paths in REQUIRED.items():
        for path in paths:
            prefix = "%s: field '%s' " % (NAMES[kind], path)
            cases.append((kind, without(kind, path), prefix + "is missing"))
            parent, name = _parent(VALID[kind], path)
            cases.append((kind, with_value(kind, path, _wrong_type(parent[name])), prefix + "must be "))
    for kind, path, value, text in OUT_OF_RANGE:
        cases.append((kind, with_value(kind, path, value), "%s: %s" % (NAMES[kind], text)))
    for change, text in BAD_COMMAND_ARGS:
        data = dict(VALID["command"], **change)
        cases.append(("command", data, "Command: " + text))
    return cases


def payload(data):
    """JSON bytes as a sender would write them."""
    return json.dumps(data).encode()
