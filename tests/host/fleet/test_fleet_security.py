"""The fleet service against a hostile enrolled device, and revocation, checked by DELIVERY.

mosquitto acknowledges a forbidden PUBLISH under MQTT 3.1.1 and drops it, so
each "was not delivered" is followed on the same path by a positive control
that is: once the control has arrived (and been recorded), the forbidden
message would have arrived before it. The broker's ACL alone is tested in
test_broker.py; here the question is what the fleet service records.
"""
import asyncio

from device.control import topics
from device.control.exchanges import SessionGrant, SessionRequest
from device.control.messages import ConfigAck, Hello, Status, Telemetry
from device.mqtt import MqttError
from host.fleet.enrolment import revoke_device
from tests.host.fleet.harness import FleetHarness, Inbox, wait_until

SCENARIO_TIMEOUT_S = 90
NOT_AUTHORISED = "not authorised"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, SCENARIO_TIMEOUT_S))


def _hello(board, firmware):
    return Hello(board, firmware, "cpython", ["opus"], ["microphone"], 0)


def _telemetry():
    audio = {"frames_captured": 1, "packets_sent": 1, "rtcp_received": 0, "fraction_lost": 0.0,
             "packets_lost": 0, "jitter_ms": 0.0, "round_trip_ms": None}
    return Telemetry(99, None, None, audio, {"connects": 1, "publish_retries": 0})


async def _connected(client, inbox=None):
    if inbox is not None:
        client.on_message = inbox
    await client.connect()
    client.start()
    return client


# ---- a device cannot speak for another ---------------------------------------------------


async def _impersonation(broker, tmp_path):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("kitchen-1")
        fleet.enroll("mallory-1")
        victim = await _connected(fleet.device_client("kitchen-1"))
        victim_topic = lambda kind: topics.device_topic("kitchen-1", kind)  # noqa: E731
        await victim.publish(victim_topic("status"), Status("online", "0.1.0").encode(), qos=1, retain=True)
        await victim.publish(victim_topic("hello"), _hello("virtual", "0.1.0").encode(), qos=1)
        await wait_until(lambda: fleet.registry.get("kitchen-1").firmware == "0.1.0", 20, "the victim's hello")
        before = fleet.registry.get("kitchen-1")
        watched = await fleet.observer([topics.DEVICES_PREFIX + "#"])
        await wait_until(lambda: watched.on(victim_topic("status")), 10, "the victim's retained status")

        mallory = await _connected(fleet.device_client("mallory-1"))
        forged = [
            ("status", Status("offline", "6.6.6").encode(), True),
            ("hello", _hello("evil-board", "6.6.6").encode(), False),
            ("telemetry", _telemetry().encode(), False),
            ("config/ack", ConfigAck(before.config_version_desired + 1, True).encode(), False),
            ("session/request", SessionRequest("kitchen-1-99", ["opus"], "boot").encode(), False),
        ]
        for kind, payload, retain in forged:
            await mallory.publish(victim_topic(kind), payload, qos=1, retain=retain)  # acknowledged, dropped
        # Positive control on the same link: Mallory's own hello is recorded.
        await mallory.publish(topics.device_topic("mallory-1", "hello"), _hello("mallory-board", "1.0").encode(),
                              qos=1)
        await wait_until(lambda: fleet.registry.get("mallory-1").board == "mallory-board", 20, "Mallory's hello")
        await wait_until(lambda: watched.on(topics.device_topic("mallory-1", "hello")), 10,
                         "Mallory's hello at the observer")
        fresh = await fleet.observer([victim_topic("status")])
        await wait_until(lambda: fresh.messages, 10, "the retained status, read again")
        return (before, fleet.registry.get("kitchen-1"), fleet.registry.telemetry("kitchen-1"),
                dict(fleet.service.counters), fleet.gateway.sessions, watched, fresh)


def test_a_device_cannot_report_for_another(broker, tmp_path):
    before, after, telemetry, counters, sessions, watched, fresh = run(_impersonation(broker, tmp_path))
    assert after == before  # board, firmware, online, config versions, last seen: untouched
    assert telemetry == []
    assert counters["granted"] == 0 and sessions == []  # the forged request got no session
    victim_prefix = topics.DEVICES_PREFIX + "kitchen-1/"
    delivered = [(topic, payload) for topic, payload, _ in watched.messages
                 if topic.startswith(victim_prefix) and topics.parse(topic)[1] in topics.DEVICE_PUBLISHES]
    assert delivered == [(victim_prefix + "status", Status("online", "0.1.0").encode())]
    assert Status.decode(fresh.messages[-1][1]) == Status("online", "0.1.0")


# ---- a device cannot read another's session keys -------------------------------------------


async def _grant_confidentiality(broker, tmp_path):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("kitchen-1")
        fleet.enroll("mallory-1")
        spy = Inbox()
        mallory = await _connected(fleet.device_client("mallory-1"), spy)
        refused = 0
        for topic_filter in (topics.device_topic("kitchen-1", "session/grant"),
                             topics.DEVICES_PREFIX + "+/session/grant", "#"):
            try:  # mosquitto may grant it (its ACL applies on delivery): only delivery matters
                await mallory.subscribe(topic_filter, 1)
            except MqttError:
                refused += 1
        await mallory.subscribe(topics.device_topic("mallory-1", "session/grant"), 1)

        victim_inbox = Inbox()
        victim = await _connected(fleet.device_client("kitchen-1"), victim_inbox)
        victim_grant = topics.device_topic("kitchen-1", "session/grant")
        await victim.subscribe(victim_grant, 1)
        await victim.publish(topics.device_topic("kitchen-1", "session/request"),
                             SessionRequest("kitchen-1-1", ["opus"], "boot").encode(), qos=1)
        await wait_until(lambda: victim_inbox.on(victim_grant), 20, "the victim's grant")  # positive control
        # Mallory's own grant is published after the victim's: once it arrives,
        # the victim's would have arrived before it.
        await mallory.publish(topics.device_topic("mallory-1", "session/request"),
                              SessionRequest("mallory-1-1", ["opus"], "boot").encode(), qos=1)
        mallory_grant = topics.device_topic("mallory-1", "session/grant")
        await wait_until(lambda: spy.on(mallory_grant), 20, "Mallory's own grant")
        return SessionGrant.decode(victim_inbox.on(victim_grant)[0]), spy, refused


def test_a_device_cannot_read_another_devices_session_keys(broker, tmp_path):
    victim_grant, spy, _ = run(_grant_confidentiality(broker, tmp_path))
    assert victim_grant.granted
    assert [topic for topic, _, _ in spy.messages] == [topics.device_topic("mallory-1", "session/grant")]
    key = victim_grant.session.srtp_master_key
    assert all(key.hex() not in payload.decode() and SessionGrant.decode(payload).session.srtp_master_key != key
               for _, payload, _ in spy.messages)


# ---- revocation ------------------------------------------------------------------------------


async def _revoke(broker, tmp_path, speech_wav):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("kitchen-1")
        app = fleet.start_app("kitchen-1", speech_wav)
        await wait_until(lambda: fleet.registry.get("kitchen-1").online
                         and not fleet.registry.get("kitchen-1").config_pending, 20, "online and configured")
        await wait_until(lambda: fleet.media_received() >= 50, 20, "media at the gateway")
        ssrc = app.session.uplink_ssrc
        status_topic = topics.device_topic("kitchen-1", "status")
        live = await fleet.observer([status_topic])
        await wait_until(lambda: live.messages, 10, "the retained status before revocation")
        status_before = Status.decode(live.messages[0][1])
        connects, failures = app.client.stats["connects"], app.client.stats["connect_failures"]

        await asyncio.to_thread(revoke_device, fleet.registry, broker.info, "kitchen-1")
        await wait_until(lambda: not app.client.connected, 10, "the device's connection dropped")
        await wait_until(lambda: app.client.stats["connect_failures"] >= failures + 3, 30,
                         "refused reconnection attempts")
        refusal = app.client.last_error
        await wait_until(lambda: len(live.messages) >= 2, 10, "the offline status delivered")
        retained = await fleet.observer([status_topic])
        await wait_until(lambda: retained.messages, 10, "the retained status after revocation")
        # Its media session is retired at once; what it still sends is refused.
        await wait_until(lambda: ssrc not in fleet.gateway.sessions, 10, "the session retired")
        unknown = fleet.gateway.counters.unknown_ssrc
        await wait_until(lambda: fleet.gateway.counters.unknown_ssrc >= unknown + 25, 10,
                         "the revoked device's media refused")
        return (status_before, connects, app.client.stats["connects"], refusal, fleet.registry.get("kitchen-1"),
                Status.decode(live.messages[-1][1]), retained.messages[-1], app.uplink.stats.packets_sent)


def test_revoked_device_is_dropped_refused_marked_offline_and_its_media_stops(broker, tmp_path, speech_wav):
    (status_before, connects_before, connects_after, refusal, record, live_status, retained,
     packets_sent) = run(_revoke(broker, tmp_path, speech_wav))
    assert status_before.online  # positive control: the device's own retained "online"
    assert connects_after == connects_before == 1  # never back in
    assert NOT_AUTHORISED in refusal
    assert record.revoked and not record.online
    assert not live_status.online
    topic, payload, retain = retained
    assert retain and Status.decode(payload).state == "offline"
    assert packets_sent > 0


# ---- a device cannot pile sessions up on the gateway -------------------------------------

async def _flood_session_requests(broker, tmp_path, count):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("noisy-1")
        fleet.enroll("kitchen-1")
        inbox = Inbox()
        noisy = await _connected(fleet.device_client("noisy-1"), inbox)
        grant_topic = topics.device_topic("noisy-1", "session/grant")
        await noisy.subscribe(grant_topic, 1)
        for i in range(count):
            await noisy.publish(topics.device_topic("noisy-1", "session/request"),
                                SessionRequest("noisy-1-%d" % i, ["opus"], "boot").encode(), qos=1)
        await wait_until(lambda: len(inbox.on(grant_topic)) == count, 20, "an answer to every request")
        sessions_after_flood = len(fleet.gateway.sessions)
        # Everyone else is still served.
        other_inbox = Inbox()
        other = await _connected(fleet.device_client("kitchen-1"), other_inbox)
        other_topic = topics.device_topic("kitchen-1", "session/grant")
        await other.subscribe(other_topic, 1)
        await other.publish(topics.device_topic("kitchen-1", "session/request"),
                            SessionRequest("kitchen-1-1", ["opus"], "boot").encode(), qos=1)
        await wait_until(lambda: other_inbox.on(other_topic), 20, "the other device's grant")
        grants = [SessionGrant.decode(payload) for payload in inbox.on(grant_topic)]
        other_grant = SessionGrant.decode(other_inbox.on(other_topic)[0])
        return grants, sessions_after_flood, other_grant, dict(fleet.service.counters)


def test_a_device_flooding_session_requests_gets_one_session(broker, tmp_path):
    grants, sessions, other_grant, counters = asyncio.run(_flood_session_requests(broker, tmp_path, 30))
    granted = [grant for grant in grants if grant.granted]
    refused = [grant for grant in grants if not grant.granted]
    assert len(granted) == 1 and len(refused) == 29
    assert all(grant.error.startswith("too many session requests") for grant in refused)
    assert sessions == 1 and counters["grant_too_soon"] == 29
    assert other_grant.granted
