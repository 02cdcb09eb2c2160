"""The fleet on a broker that is not mosquitto (amqtt), set up as docs/broker.md tells a user.

Nothing outside host/fleet/broker*.py and enrolment's account creation may
depend on mosquitto: here the fleet service, the CLI's config push and
commands, and the device runtime under CPython and MicroPython provision,
stream and obey through amqtt, with TLS, per-device accounts and ACLs.
"""
import asyncio
import secrets

import pytest

from device import identity as identity_file
from device.identity import Identity
from host.fleet.operations import push_config, send_command
from tests.host.fleet.conftest import PipitBroker
from tests.host.fleet.harness import FleetHarness, wait_until
from tests.host.fleet.other_broker import FLEET_USER, OtherBroker

DEVICES = {"kitchen-1": "cpython", "hall-1": "micropython"}


@pytest.fixture
def fleet_on_amqtt(tmp_path):
    """A FleetHarness whose devices are enrolled on an amqtt broker (accounts, then start)."""
    fleet = FleetHarness(None, tmp_path)
    accounts = {FLEET_USER: secrets.token_urlsafe(24)}
    for device_id in DEVICES:
        accounts[device_id] = fleet.registry.enroll(device_id, "virtual")
        fleet.registry.set_config(device_id, {})
    broker = OtherBroker(tmp_path / "amqtt", accounts).start()
    fleet.broker = PipitBroker(broker.info)
    ca_pem = broker.tls.ca_cert.read_text()
    for device_id in DEVICES:
        identity = Identity(device_id, accounts[device_id], "127.0.0.1", broker.port, ca_pem)
        fleet.identities[device_id] = identity
        identity_file.save(identity, tmp_path / (device_id + ".json"))
    try:
        yield fleet, broker
    finally:
        broker.stop()


async def _provision_stream_and_command(fleet, tmp_path, speech_wav):
    async with fleet:
        for device_id, runtime in DEVICES.items():
            await fleet.start_device(runtime, tmp_path / (device_id + ".json"), speech_wav)
        registry = fleet.registry
        await wait_until(lambda: all(registry.get(d).online and registry.get(d).firmware for d in DEVICES),
                         30, "both devices online with a hello")
        await wait_until(lambda: not any(registry.get(d).config_pending for d in DEVICES), 20,
                         "both configs acknowledged")
        await wait_until(lambda: fleet.service.counters["granted"] >= len(DEVICES), 20, "two grants")
        gateway = fleet.gateway
        await wait_until(lambda: len(gateway.sessions) == len(DEVICES)
                         and all(gateway.session(ssrc).counters.received >= 20 for ssrc in gateway.sessions),
                         20, "media from both at the gateway")
        info = fleet.broker.info
        version, reached, acks = await push_config(info, registry, "hall-1", {"volume_pct": 35})
        ack = await send_command(info, registry, "kitchen-1", "volume", {"volume_pct": 45})
        return ({d: (registry.get(d).runtime, registry.get(d).config_version_applied) for d in DEVICES},
                acks, ack, dict(fleet.service.counters))


def test_the_fleet_provisions_streams_and_commands_through_another_broker(fleet_on_amqtt, tmp_path,
                                                                          speech_wav):
    fleet, broker = fleet_on_amqtt
    try:
        devices, acks, ack, counters = asyncio.run(asyncio.wait_for(
            _provision_stream_and_command(fleet, tmp_path, speech_wav), 90))
    except Exception:
        print(broker.log_tail())
        raise
    assert {d: runtime for d, (runtime, _) in devices.items()} == DEVICES
    assert all(applied >= 1 for _, applied in devices.values())
    assert list(acks) == ["hall-1"] and acks["hall-1"].ok
    assert ack is not None and ack.ok and ack.result == {"volume_pct": 45}
    assert counters["rejected"] == 0 and counters["granted"] >= len(DEVICES)
