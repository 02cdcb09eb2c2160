"""The fleet under faults: bad device messages, a broker restart, a fleet service restart.

Real broker (TLS, dynsec, ACL), the fleet service with the MQTT client
`pipit fleet serve` uses, an in-process gateway, and the device runtime as a
process. Every wait is on a condition with a deadline.
"""
import asyncio
import json
import time

import pytest

from device.control import topics
from device.control.exchanges import SessionRequest
from device.control.messages import Config, Hello, Telemetry
from host.fleet.registry import open_registry
from tests.host.fleet.harness import FleetHarness, wait_until

SCENARIO_TIMEOUT_S = 120


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, SCENARIO_TIMEOUT_S))


def _telemetry(uptime_s):
    audio = {"frames_captured": 0, "packets_sent": 0, "rtcp_received": 0, "fraction_lost": 0.0,
             "packets_lost": 0, "jitter_ms": 0.0, "round_trip_ms": None}
    return Telemetry(uptime_s, None, None, audio, {"connects": 1, "publish_retries": 0})


def _padded(message, total_bytes):
    """A message's JSON with an ignored extra field: valid in every way but its size."""
    data = message.to_dict()
    data["pad"] = ""
    data["pad"] = "x" * (total_bytes - len(json.dumps(data).encode()))
    return json.dumps(data).encode()


def _schema_violation(message, **changes):
    data = message.to_dict()
    data.update(changes)
    return json.dumps(data).encode()


HELLO = Hello("virtual", "0.1.0", "cpython", ["opus"], ["microphone"], 0)
REQUEST = SessionRequest("rogue-1-1", ["opus"], "boot")
# (kind, payload): each refused by the service's decode, whatever the broker lets through.
BAD_MESSAGES = [
    ("hello", b"\x00\xff\xfe garbage"),
    ("hello", b"[" * 5000),  # nesting deeper than the JSON parser's recursion limit
    ("hello", _padded(HELLO, 9000)),  # over the contract's 8192 bytes
    ("hello", _schema_violation(HELLO, runtime="java")),
    ("telemetry", b'{"v": 1, "uptime_s": '),
    # Over the 16 KiB a client reads by default, under the broker's 64 KiB: a
    # host client with the default limit would drop its link on this one.
    ("telemetry", _padded(_telemetry(5), 60000)),
    ("telemetry", _schema_violation(_telemetry(5), uptime_s=-5)),
    ("session/request", b"\xc3\x28 not UTF-8"),
    ("session/request", b"null"),
    ("session/request", _padded(REQUEST, 9000)),
    ("session/request", _schema_violation(REQUEST, codecs=["MP3"])),
]


async def _streaming(fleet, device_id, media_packets=50):
    """Wait for a device to be online, configured, granted and streaming."""
    await wait_until(lambda: fleet.registry.get(device_id).online
                     and fleet.registry.get(device_id).firmware is not None, 30, "hello and online")
    await wait_until(lambda: not fleet.registry.get(device_id).config_pending, 20, "config ack")
    await wait_until(lambda: fleet.service.counters["granted"] >= 1, 20, "a session grant")
    await wait_until(lambda: fleet.media_received() >= media_packets, 20, "media at the gateway")


# ---- bad messages from an enrolled device ------------------------------------------


async def _bad_messages(broker, tmp_path, speech_wav):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("rogue-1")
        rogue = fleet.device_client("rogue-1")
        await rogue.connect()
        rogue.start()
        for kind, payload in BAD_MESSAGES:
            await rogue.publish(topics.device_topic("rogue-1", kind), payload, qos=1)
        # Positive control, last on the same link: once it is recorded, every
        # bad message before it has reached the service.
        await rogue.publish(topics.device_topic("rogue-1", "telemetry"), _telemetry(7).encode(), qos=1)
        await wait_until(lambda: fleet.registry.telemetry("rogue-1"), 20, "the rogue's valid telemetry")
        counters = dict(fleet.service.counters)
        rejections = dict(fleet.service.rejections)
        rogue_record = fleet.registry.get("rogue-1")
        host_connects = fleet.service.client.stats["connects"]

        # The service still serves: a second device provisions and streams.
        identity_path = fleet.enroll("kitchen-1")
        await fleet.start_device("cpython", identity_path, speech_wav)
        await _streaming(fleet, "kitchen-1", media_packets=10)
        return (counters, rejections, rogue_record, fleet.registry.telemetry("rogue-1"), host_connects,
                dict(fleet.service.counters), fleet.registry.get("kitchen-1"))


def test_bad_messages_are_refused_counted_and_the_service_keeps_serving(broker, tmp_path, speech_wav):
    (counters, rejections, rogue, rogue_telemetry, host_connects, later,
     kitchen) = run(_bad_messages(broker, tmp_path, speech_wav))
    assert counters["rejected"] == len(BAD_MESSAGES)
    assert rejections == {"Hello": 4, "Telemetry": 3, "SessionRequest": 4}
    assert counters["granted"] == 0 and counters["grant_refused"] == 0
    assert rogue.firmware is None  # no bad hello was recorded
    assert [data["uptime_s"] for _, data in rogue_telemetry] == [7]
    assert host_connects == 1  # the 60 KB message did not cost the service its link
    assert later["rejected"] == len(BAD_MESSAGES)  # the good device was never refused
    assert later["granted"] >= 1
    assert kitchen.config_version_applied == kitchen.config_version_desired >= 1


# ---- broker restart under a streaming device -----------------------------------------


def _uptimes(fleet, device_id):
    return [data["uptime_s"] for _, data in fleet.registry.telemetry(device_id)]


def _reports(fleet, device_id):
    return [data for _, data in fleet.registry.telemetry(device_id)]


def _reconnected_reports(fleet, device_id):
    return [data for data in _reports(fleet, device_id) if data["mqtt"]["connects"] >= 2]


async def _broker_restart(broker, tmp_path, runtime, speech_wav):
    async with FleetHarness(broker, tmp_path) as fleet:
        identity_path = fleet.enroll("kitchen-1")
        await fleet.start_device(runtime, identity_path, speech_wav)
        await _streaming(fleet, "kitchen-1")
        version, _ = fleet.registry.set_config("kitchen-1", {"telemetry_interval_s": 1})
        await fleet.service.publish_config("kitchen-1")
        await wait_until(lambda: fleet.registry.get("kitchen-1").config_version_applied == version,
                         20, "the 1 s telemetry config acknowledged")
        await wait_until(lambda: len(_uptimes(fleet, "kitchen-1")) >= 2, 20, "telemetry every second")
        sessions = fleet.gateway.sessions
        granted = fleet.service.counters["granted"]
        hello = asyncio.ensure_future(fleet.service.wait_for("kitchen-1", "hello", 60))

        media_at_stop = fleet.media_received()
        stopped_at = time.monotonic()
        await asyncio.to_thread(broker.stop)
        # Media never touches the broker: 4 s of it reach the gateway meanwhile.
        await wait_until(lambda: fleet.media_received() >= media_at_stop + 200, 20, "media during the outage")
        assert not fleet.service.client.connected
        reports_before = len(_uptimes(fleet, "kitchen-1"))  # nothing arrives while the broker is down
        await asyncio.to_thread(broker.restart)
        outage_s = time.monotonic() - stopped_at

        await asyncio.wait_for(hello, 60)  # the device reconnected by itself and said hello again
        await wait_until(lambda: len(_reconnected_reports(fleet, "kitchen-1")) >= 2, 30,
                         "telemetry after the reconnect")
        media_after = fleet.media_received()
        await wait_until(lambda: fleet.media_received() >= media_after + 50, 20, "media after the restart")
        return (outage_s, _reports(fleet, "kitchen-1")[reports_before:], _uptimes(fleet, "kitchen-1"),
                sessions, fleet.gateway.sessions,
                granted, fleet.service.counters["granted"], fleet.registry.get("kitchen-1"),
                fleet.service.client.stats["connects"])


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_broker_restart_under_a_streaming_device(broker, tmp_path, speech_wav, runtime):
    (outage_s, reports_after, uptimes, sessions_before, sessions_after, granted_before, granted_after,
     record, host_connects) = run(_broker_restart(broker, tmp_path, runtime, speech_wav))
    assert outage_s >= 4.0
    # Reports made while the broker was away (still on the first connection) were
    # queued, QoS 1, and arrived once it was back: one per 1.0-1.2 s of the outage.
    queued = [data["uptime_s"] for data in reports_after if data["mqtt"]["connects"] == 1]
    assert len(queued) >= 3, uptimes
    # And the uptime sequence has no hole wider than the interval plus rounding.
    steps = [later - earlier for earlier, later in zip(uptimes, uptimes[1:])]
    assert steps and min(steps) >= 0 and max(steps) <= 2, uptimes
    assert uptimes[-1] - uptimes[0] >= outage_s
    # The media session survived: same session, no new grant needed.
    assert sessions_after == sessions_before and granted_after == granted_before
    assert record.online and not record.config_pending
    assert host_connects == 2  # the service's link came back by itself too


# ---- fleet service restart -----------------------------------------------------------


async def _service_restart(broker, tmp_path, speech_wav):
    async with FleetHarness(broker, tmp_path) as fleet:
        identity_path = fleet.enroll("kitchen-1")
        await fleet.start_device("cpython", identity_path, speech_wav)
        await _streaming(fleet, "kitchen-1")
        before = fleet.registry.get("kitchen-1")
        sessions = fleet.gateway.sessions
        seen = {}

        def while_down():
            # What an operator might do with the service stopped, through the registry file.
            with open_registry(fleet.registry_path) as registry:
                seen["reopened"] = registry.get("kitchen-1")
                seen["devices"] = [record.id for record in registry.list()]
                registry.record_status("kitchen-1", False, time.time())
                seen["version"], _ = registry.set_config("kitchen-1", {"volume_pct": 25})
                seen["offline"] = registry.get("kitchen-1").online is False

        media_at_stop = fleet.media_received()
        await fleet.restart_service(while_down)
        # The retained "online" status, re-delivered on subscribing, brings it back.
        await wait_until(lambda: fleet.registry.get("kitchen-1").online, 20, "online from the retained status")
        # The config set while the service was down is published on start and applied.
        await wait_until(lambda: fleet.registry.get("kitchen-1").config_version_applied == seen["version"],
                         20, "the config set while down acknowledged")
        retained = await fleet.observer([topics.device_topic("kitchen-1", "config")])
        await wait_until(lambda: retained.messages, 10, "the retained config")
        await wait_until(lambda: fleet.media_received() >= media_at_stop + 50, 20, "media throughout")
        return (before, seen, fleet.registry.get("kitchen-1"), Config.decode(retained.messages[-1][1]),
                sessions, fleet.gateway.sessions)


def test_service_restart_keeps_the_registry_and_catches_up(broker, tmp_path, speech_wav):
    before, seen, after, retained, sessions_before, sessions_after = run(
        _service_restart(broker, tmp_path, speech_wav))
    assert seen["reopened"] == before  # devices, config versions, everything: intact
    assert seen["devices"] == ["kitchen-1"] and seen["offline"]
    assert seen["version"] > before.config_version_desired
    assert after.online
    assert after.config_version_desired == after.config_version_applied == seen["version"]
    assert after.config["volume_pct"] == 25
    assert retained.version == seen["version"] and retained.settings == {"volume_pct": 25}
    assert sessions_after == sessions_before  # the gateway kept serving the device meanwhile


async def _backlog(broker, tmp_path, count):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("kitchen-1")
        device = fleet.device_client("kitchen-1")
        await device.connect()
        device.start()
        topic = topics.device_topic("kitchen-1", "telemetry")

        async def report_while_down():
            await asyncio.gather(*(device.publish(topic, _telemetry(uptime_s).encode(), qos=1)
                                   for uptime_s in range(count)))

        await fleet.restart_service(report_while_down)
        await wait_until(lambda: fleet.service.counters["received"] >= count, 30, "the whole backlog")
        await wait_until(lambda: _uptimes(fleet, "kitchen-1")[-1:] == [count - 1], 10, "the last report")
        return dict(fleet.service.counters), _uptimes(fleet, "kitchen-1")


def test_reports_queued_while_the_service_is_down_all_arrive(broker, tmp_path):
    # More than mosquitto's default queue (1000 per client), which would drop the rest.
    count = 1500
    counters, uptimes = run(_backlog(broker, tmp_path, count))
    assert counters["received"] == count and counters["rejected"] == 0
    assert uptimes == list(range(count - 100, count))  # the registry keeps the last 100, in order
