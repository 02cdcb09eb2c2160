"""Control messages: every one round-trips; every bad field is refused by name and reason."""
import json

import pytest

from device.control import messages, settings
from device.control.messages import (Command, CommandAck, Config, ConfigAck, Hello, SessionGrant,
                                     SessionRequest, Status, Telemetry)
from device.session import MediaSession
from tests.device.control.examples import MORE_VALID, NAMES, SESSION, VALID, payload, refusals

ALL_VALID = list(VALID.items()) + MORE_VALID


@pytest.mark.parametrize("kind, data", ALL_VALID, ids=[kind for kind, _ in ALL_VALID])
def test_every_message_round_trips(kind, data):
    message = messages.decode(kind, payload(data))
    assert type(message).KIND == kind and type(message).NAME == NAMES[kind]
    assert message.to_dict() == data
    encoded = message.encode()
    assert encoded == json.dumps(data, separators=(",", ":")).encode()  # compact
    assert messages.decode(kind, encoded) == message
    assert type(message).from_dict(data) == message


def test_decode_takes_bytes_bytearray_memoryview_and_text():
    raw = payload(VALID["status"])
    decoded = [messages.decode("status", form) for form in (raw, bytearray(raw), memoryview(raw), raw.decode())]
    assert all(message == decoded[0] for message in decoded)


def test_objects_built_in_code_encode_to_the_documented_json():
    session = MediaSession.from_dict(SESSION)
    built = [
        Status("online", "0.1.0", 12),
        Hello("esp32-s3-box-3", "0.1.0", "micropython", ["opus", "l16"],
              ["speaker", "microphone", "button", "led"], 4),
        Config(5, VALID["config"]["settings"]),
        ConfigAck(5, False, VALID["config/ack"]["error"]),
        SessionRequest("r-7", ["opus", "l16"], "boot"),
        SessionGrant("r-7", session, 3600),
        Command("c-1", "volume", {"volume_pct": 40}),
        CommandAck("c-1", True, result={"volume_pct": 40}),
        Telemetry(3600, 123456, -61, VALID["telemetry"]["audio"], VALID["telemetry"]["mqtt"],
                  VALID["telemetry"]["conversation"]),
    ]
    for message in built:
        assert json.loads(message.encode()) == VALID[message.KIND]


def test_accessors():
    assert Status("online", "x").online and not Status("offline", "x").online
    grant = messages.decode("session/grant", payload(VALID["session/grant"]))
    assert grant.granted and grant.session.srtp_master_key == bytes(range(16))
    assert not SessionGrant("r", error="no gateway").granted
    config = Config(2, {"volume_pct": 10})
    assert config.effective() == dict(settings.DEFAULTS, volume_pct=10)


def test_unknown_extra_fields_are_ignored():
    data = dict(VALID["telemetry"], future_field={"x": 1})
    data["audio"] = dict(data["audio"], future_counter=3)
    message = messages.decode("telemetry", payload(data))
    assert message.to_dict() == VALID["telemetry"]


CASES = refusals()


@pytest.mark.parametrize("kind, data, expected", CASES, ids=[text for _, _, text in CASES])
def test_bad_fields_are_refused_with_message_field_and_reason(kind, data, expected):
    with pytest.raises(ValueError) as refused:
        messages.decode(kind, payload(data))
    assert str(refused.value).startswith(expected), str(refused.value)


def test_refusal_table_covers_every_message():
    assert {kind for kind, _, _ in CASES} == set(VALID)
    assert len(CASES) > 150


@pytest.mark.parametrize("raw, reason", [
    (b"", "not valid JSON"),
    (b"{", "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON (not UTF-8)"),
    (b'{"v": 1, "state": "online", "firmware": "x", "ts_s": NaN}', "not valid JSON"),
    (b'{"v": 1, "state": "online", "firmware": "x", "ts_s": Infinity}', "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "too large"),
    (b"[" * 4000 + b"]" * 4000, "not valid JSON"),  # deeper than CPython recurses
    (b"null", "expected a JSON object"),
    (b"[]", "expected a JSON object"),
    (b'"status"', "expected a JSON object"),
    (b"{}", "field 'v' is missing"),
    (b'{"v": true}', "field 'v' must be an integer, got True"),
    (b'{"v": 1.0}', "field 'v' must be an integer, got 1.0"),
])
def test_malformed_payloads_are_refused(raw, reason):
    with pytest.raises(ValueError, match="^Status: " + reason.replace("(", r"\(").replace(")", r"\)")):
        messages.decode("status", raw)


def test_too_large_payloads_are_refused_at_the_limit():
    def padded(size):
        data = dict(VALID["status"], pad="")
        data["pad"] = "x" * (size - len(payload(data)))
        raw = payload(data)
        assert len(raw) == size
        return raw

    assert messages.decode("status", padded(messages.MAX_PAYLOAD_BYTES)).state == "online"
    with pytest.raises(ValueError, match="^Status: too large: 8193 bytes, max 8192$"):
        messages.decode("status", padded(messages.MAX_PAYLOAD_BYTES + 1))


def test_infinite_numbers_are_refused_where_a_number_is_expected():
    data = json.loads(json.dumps(VALID["telemetry"]))
    raw = payload(data).replace(b'"jitter_ms": 4.5', b'"jitter_ms": 1e999')
    with pytest.raises(ValueError, match="field 'audio.jitter_ms' must be a number, got inf"):
        messages.decode("telemetry", raw)


def test_free_form_results_must_still_be_json():
    raw = b'{"v": 1, "id": "c", "ok": true, "result": {"a": [1, {"b": 1e999}]}}'
    with pytest.raises(ValueError, match="^CommandAck: field 'result' contains a number that is not finite: inf$"):
        messages.decode("command/ack", raw)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown message kind 'gossip'"):
        messages.decode("gossip", payload(VALID["status"]))


@pytest.mark.parametrize("message, reason", [
    (Status("busy", "0.1.0"), "Status: field 'state' must be one of"),
    (Hello("virtual", "0.1.0", "cpython", [], [], 0), "Hello: field 'codecs' must have 1[.][.]16 item"),
    (Config(0, {}), "Config: field 'version' must be >= 1"),
    (Config(1, {"volume": 3}), "Config: field 'settings.volume' is not a known setting"),
    (ConfigAck(3, False), "ConfigAck: field 'error' is missing"),
    (Command("c", "volume", {}), "Command: field 'args.volume_pct' is missing"),
    (CommandAck("c", True, result={"x": float("nan")}), "CommandAck: field 'result' contains a number"),
    (Status("online", "x" * 9000), "Status: field 'firmware' must have 1..64 characters"),
    (CommandAck("c", True, result={"x": "y" * 9000}), "CommandAck: too large: 9"),
])
def test_encode_refuses_what_the_receiver_would_refuse(message, reason):
    with pytest.raises(ValueError, match="^" + reason):
        message.encode()


def test_settings_are_checked_for_host_callers_too():
    assert settings.validate_dict({"volume_pct": 5}) == {"volume_pct": 5}
    with pytest.raises(ValueError, match="^settings: field 'volume_pct' must be in 0..100, got 500$"):
        settings.validate_dict({"volume_pct": 500})
    assert set(settings.DEFAULTS) == set(settings.SCHEMA) == set(settings.NAMES)
    assert settings.validate_dict(settings.DEFAULTS) == settings.DEFAULTS
