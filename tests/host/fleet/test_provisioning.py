"""Provisioning end to end against the real broker (TLS, dynsec, ACL).

A device is enrolled (registry + broker account + bootstrap file), its
runtime starts as a process under CPython or MicroPython, says hello,
applies and acknowledges its config, is granted a session by the fleet
service and streams SRTP media that the gateway accepts with the granted
keys. Stopping it abruptly publishes its last will.
"""
import asyncio
import json

import pytest

from device import identity as identity_file
from host.fleet.enrolment import enroll_device
from host.fleet.gateways import LocalGateway
from host.fleet.registry import open_registry
from host.fleet.service import FleetService
from host.gateway.server import Gateway, GatewaySettings
from host.runtimes import device_command, device_env, REPO_ROOT


class NullSink:
    def write(self, pcm):
        pass

    def close(self):
        pass


async def wait_until(predicate, timeout_s, what):
    """Poll a condition on the event loop (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep(0.02)


class FleetHarness:
    """Fleet service + in-process gateway + registry around a test broker."""

    def __init__(self, broker, tmp_path):
        self.broker = broker
        self.tmp_path = tmp_path
        self.registry = open_registry(tmp_path / "registry.sqlite")

    async def __aenter__(self):
        self.gateway = Gateway(GatewaySettings(host="127.0.0.1", port=0), sink_factory=lambda s: NullSink())
        await self.gateway.start()
        self.service = FleetService(self.broker.fleet_client("pipit-fleet-test"), self.registry,
                                    [LocalGateway("gw-1", self.gateway)])
        await self.service.start()
        return self

    async def __aexit__(self, *exc):
        await self.service.stop()
        await self.gateway.stop()
        self.registry.close()

    def enroll(self, device_id):
        identity = enroll_device(self.registry, self.broker.info, device_id)
        path = self.tmp_path / (device_id + ".json")
        identity_file.save(identity, path)
        return path

    async def start_device(self, runtime, identity_path, mic_wav):
        return await asyncio.create_subprocess_exec(
            *device_command(runtime, "device.main", [identity_path, mic_wav]),
            env=device_env(runtime), cwd=str(REPO_ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    def media_received(self, device_id):
        total = 0
        for ssrc in self.gateway.sessions:
            stats = self.gateway.session(ssrc).counters
            total += stats.received
        return total


async def _provision_and_stream(broker, tmp_path, runtime, speech_wav):
    async with FleetHarness(broker, tmp_path) as fleet:
        identity_path = fleet.enroll("kitchen-1")
        device = await fleet.start_device(runtime, identity_path, speech_wav)
        try:
            await wait_until(lambda: (fleet.registry.get("kitchen-1").online
                                      and fleet.registry.get("kitchen-1").firmware is not None),
                             20, "hello and online status")
            record = fleet.registry.get("kitchen-1")
            await wait_until(lambda: not fleet.registry.get("kitchen-1").config_pending, 20, "config ack")
            await wait_until(lambda: fleet.service.counters["granted"] >= 1, 20, "a session grant")
            await wait_until(lambda: fleet.media_received("kitchen-1") >= 50, 20, "media at the gateway")
            totals = fleet.gateway.counters
            assert totals.auth_failed == 0 and totals.unknown_ssrc == 0
            device.kill()  # abrupt: no DISCONNECT, so the broker sends the last will
            await device.wait()
            await wait_until(lambda: not fleet.registry.get("kitchen-1").online, 20, "last will offline")
        finally:
            if device.returncode is None:
                device.kill()
                await device.wait()
        final = fleet.registry.get("kitchen-1")
        return record, final, fleet.service.counters


@pytest.mark.parametrize("runtime, codec_name", [("cpython", "opus"), ("micropython", "l16")])
def test_enrolled_device_provisions_and_streams(broker, tmp_path, speech_wav, runtime, codec_name):
    record, final, counters = asyncio.run(_provision_and_stream(broker, tmp_path, runtime, speech_wav))
    assert record.runtime == runtime
    assert record.codecs[0] == codec_name
    assert final.config_version_applied == final.config_version_desired >= 1
    assert final.gateway == "gw-1"
    assert counters["rejected"] == 0
