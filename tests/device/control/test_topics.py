"""The topic tree: builders and parser agree, device ids are checked, the ACL is data."""
import pytest

from device.control import topics


@pytest.mark.parametrize("kind", topics.KINDS)
def test_builder_and_parser_agree_on_every_kind(kind):
    topic = topics.device_topic("dev-01", kind)
    assert topic == "pipit/v1/devices/dev-01/" + kind
    assert topics.parse(topic) == ("dev-01", kind)


@pytest.mark.parametrize("device_id", ["abc", "a" * 32, "dev-01", "kitchen-speaker-2", "a-1", "pipit-kitchen"])
def test_valid_device_ids(device_id):
    assert topics.check_device_id(device_id) == device_id
    assert topics.is_valid_id(device_id)


@pytest.mark.parametrize("device_id", ["ab", "a" * 33, "1abc", "-abc", "Dev01", "dev_01", "dev/01",
                                       "dev+", "dev#1", "dev 1", "dév-01", "", None, 42])
def test_invalid_device_ids_are_refused(device_id):
    assert not topics.is_valid_id(device_id)
    with pytest.raises(ValueError, match="device id must be 3..32 characters"):
        topics.check_device_id(device_id)


def test_the_fleet_username_is_reserved():
    with pytest.raises(ValueError, match="reserved for the host service"):
        topics.check_device_id(topics.FLEET_USERNAME)
    with pytest.raises(ValueError):
        topics.parse("pipit/v1/devices/pipit-fleet/status")


@pytest.mark.parametrize("topic, reason", [
    ("pipit/v2/devices/dev-01/status", "not a pipit device topic"),
    ("pipit/v1/gateways/gw-1/sessions", "not a pipit device topic"),
    ("pipit/v1/devices/dev-01", "no message kind"),
    ("pipit/v1/devices/dev-01/", "unknown kind ''"),
    ("pipit/v1/devices/dev-01/gossip", "unknown kind 'gossip'"),
    ("pipit/v1/devices/dev-01/config/ack/extra", "unknown kind 'config/ack/extra'"),
    ("pipit/v1/devices/dev-01/session", "unknown kind 'session'"),
    ("pipit/v1/devices/Dev-01/status", "bad device id 'Dev-01'"),
    ("pipit/v1/devices/+/status", "bad device id '+'"),
    ("pipit/v1/devices//status", "bad device id ''"),
    ("", "not a pipit device topic"),
    (None, "not a pipit device topic"),
])
def test_other_topics_are_refused(topic, reason):
    with pytest.raises(ValueError, match=reason.replace("+", r"\+")):
        topics.parse(topic)


def test_unknown_kind_cannot_be_built():
    with pytest.raises(ValueError, match="unknown kind 'gossip'"):
        topics.device_topic("dev-01", "gossip")
    with pytest.raises(ValueError, match="device id"):
        topics.device_topic("Dev-01", "status")


def test_directions_retain_and_acl():
    assert set(topics.DEVICE_PUBLISHES) | set(topics.DEVICE_RECEIVES) == set(topics.KINDS)
    assert not set(topics.DEVICE_PUBLISHES) & set(topics.DEVICE_RECEIVES)
    assert [kind for kind in topics.KINDS if topics.is_retained(kind)] == ["status", "config"]
    assert topics.device_acl("dev-01") == (
        [("write", "pipit/v1/devices/dev-01/" + kind) for kind in topics.DEVICE_PUBLISHES]
        + [("read", "pipit/v1/devices/dev-01/" + kind) for kind in topics.DEVICE_RECEIVES])
    assert ("write", "pipit/v1/devices/%u/status") in topics.device_acl()
    assert topics.fleet_acl() == [("readwrite", "pipit/v1/#")]
    assert topics.device_subscriptions("dev-01") == [
        "pipit/v1/devices/dev-01/config", "pipit/v1/devices/dev-01/session/grant",
        "pipit/v1/devices/dev-01/command"]
    assert "pipit/v1/devices/+/config/ack" in topics.fleet_subscriptions()
    assert len(topics.fleet_subscriptions()) == len(topics.DEVICE_PUBLISHES)


def test_gateway_topic():
    assert topics.gateway_sessions_topic("gw-1") == "pipit/v1/gateways/gw-1/sessions"
    with pytest.raises(ValueError, match="gateway id"):
        topics.gateway_sessions_topic("GW/1")
