"""The media session description: validation names the field and the reason."""
import json

import pytest

from device import session as media_session
from host.sessions import new_session
from tests.micropython import run_micropython


def _valid():
    return new_session("127.0.0.1", 5004).to_dict()


def test_round_trip_through_json(tmp_path):
    original = new_session("127.0.0.1", 5004, "l16")
    path = tmp_path / "s.json"
    media_session.save(original, path)
    loaded = media_session.load(path)
    assert loaded.to_dict() == original.to_dict()
    assert loaded.srtp_key_and_salt == original.srtp_master_key + original.srtp_master_salt
    assert len(loaded.srtp_key_and_salt) == 30
    assert loaded.samples_per_frame == 320


def test_new_sessions_have_fresh_keys_and_distinct_ssrcs():
    a, b = new_session("127.0.0.1", 5004), new_session("127.0.0.1", 5004)
    assert a.srtp_master_key != b.srtp_master_key
    assert a.uplink_ssrc != a.downlink_ssrc


@pytest.mark.parametrize("field, value, reason", [
    ("gateway_port", 0, "field 'gateway_port' must be in 1..65535"),
    ("gateway_port", "5004", "field 'gateway_port' must be an integer"),
    ("codec", "mp3", "field 'codec' must be one of"),
    ("frame_ms", 25, "field 'frame_ms' must be one of"),
    ("payload_type", 8, "field 'payload_type' must be in 96..127"),
    ("srtp_master_key", "AAAA", "field 'srtp_master_key' must decode to 16 bytes"),
    ("srtp_master_salt", "***", "field 'srtp_master_salt'"),
    ("v", 2, "field 'v' is 2"),
    ("gateway_host", "", "field 'gateway_host' is empty"),
])
def test_bad_fields_are_refused_with_field_and_reason(field, value, reason):
    data = _valid()
    data[field] = value
    with pytest.raises(ValueError, match=reason):
        media_session.MediaSession.from_dict(data)


def test_missing_field_and_equal_ssrcs_are_refused():
    data = _valid()
    del data["uplink_ssrc"]
    with pytest.raises(ValueError, match="field 'uplink_ssrc' is missing"):
        media_session.MediaSession.from_dict(data)
    data = _valid()
    data["downlink_ssrc"] = data["uplink_ssrc"]
    with pytest.raises(ValueError, match="must differ"):
        media_session.MediaSession.from_dict(data)
    with pytest.raises(ValueError, match="not valid JSON"):
        media_session.loads("{nope")


def test_micropython_reads_the_same_session():
    original = new_session("127.0.0.1", 5004, "l16")
    out = run_micropython(
        "from device import session\n"
        "import binascii\n"
        "s = session.loads(%r)\n"
        "print(s.uplink_ssrc, binascii.hexlify(s.srtp_key_and_salt).decode(), s.samples_per_frame)\n"
        % json.dumps(original.to_dict()))
    ssrc, key, samples = out.split()
    assert int(ssrc) == original.uplink_ssrc
    assert bytes.fromhex(key) == original.srtp_key_and_salt
    assert int(samples) == 320
