"""A fleet mid-upgrade: a newer firmware announces a codec and a capability this host does not know.

Real broker (TLS, dynsec, ACL) and the fleet service; the device is a bare
MQTT client with its own credentials, so it can say what a later firmware would.
"""
import asyncio

from device.control import topics
from device.control.exchanges import SessionGrant, SessionRequest
from device.control.messages import Hello
from tests.host.fleet.harness import FleetHarness, Inbox, wait_until

NEWER_HELLO = Hello("virtual", "0.9.0", "micropython", ["lc3", "opus"], ["display", "microphone"], 0)


async def _newer_firmware(broker, tmp_path):
    async with FleetHarness(broker, tmp_path) as fleet:
        fleet.enroll("kitchen-1")
        inbox = Inbox()
        device = fleet.device_client("kitchen-1")
        device.on_message = inbox
        await device.connect()
        device.start()
        grant_topic = topics.device_topic("kitchen-1", "session/grant")
        await device.subscribe(grant_topic, 1)
        await device.publish(topics.device_topic("kitchen-1", "hello"), NEWER_HELLO.encode(), qos=1)
        await wait_until(lambda: fleet.registry.get("kitchen-1").firmware == "0.9.0", 20, "the hello")
        for request_id, codecs in (("r-1", ["lc3"]), ("r-2", ["lc3", "opus"])):
            await device.publish(topics.device_topic("kitchen-1", "session/request"),
                                 SessionRequest(request_id, codecs, "boot").encode(), qos=1)
        await wait_until(lambda: len(inbox.on(grant_topic)) == 2, 20, "an answer to both requests")
        grants = [SessionGrant.decode(payload) for payload in inbox.on(grant_topic)]
        return fleet.registry.get("kitchen-1"), grants, dict(fleet.service.counters)


def test_unknown_codecs_and_capabilities_are_kept_and_a_common_codec_is_granted(broker, tmp_path):
    record, grants, counters = asyncio.run(asyncio.wait_for(_newer_firmware(broker, tmp_path), 60))
    assert (record.codecs, record.capabilities) == (["lc3", "opus"], ["display", "microphone"])
    assert counters["rejected"] == 0
    by_id = {grant.request_id: grant for grant in grants}
    assert not by_id["r-1"].granted and by_id["r-1"].error == "no common codec"
    assert by_id["r-2"].granted and by_id["r-2"].session.codec == "opus"
