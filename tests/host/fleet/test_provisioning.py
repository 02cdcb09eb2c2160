"""Provisioning end to end against the real broker (TLS, dynsec, ACL).

A device is enrolled (registry + broker account + bootstrap file), its
runtime starts as a process under CPython or MicroPython, says hello,
applies and acknowledges its config, is granted a session by the fleet
service and streams SRTP media that the gateway accepts with the granted
keys. Stopping it abruptly publishes its last will.
"""
import asyncio

import pytest

from tests.host.fleet.harness import FleetHarness, wait_until


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
