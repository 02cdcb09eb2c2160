"""The MQTT client when things go wrong: dying links, broker restarts, refusals."""
import asyncio
import re

import pytest

from device.mqtt import MqttError, Will
from tests.device.mqtt.support import WAIT_S, Clients, Inbox, run, unique, until

OFFLINE = b'{"v": 1, "state": "offline"}'


async def _watch(clients, topic):
    inbox = Inbox()
    watcher = clients.make("watcher", on_message=inbox)
    await watcher.connect()
    await watcher.subscribe(topic)
    return watcher, inbox


def test_last_will_is_published_when_the_socket_dies(broker):
    async def main():
        async with Clients(broker) as clients:
            status = unique("will") + "/status"
            watcher, inbox = await _watch(clients, status)
            device = clients.make("device", will=Will(status, OFFLINE, qos=1, retain=True))
            await device.connect()
            device._writer.transport.abort()  # the socket dies: no DISCONNECT is sent
            assert await inbox.wait_topic(status) == (status, OFFLINE, False)
            await until(lambda: not device.connected, what="the client to notice")
            assert "connection lost" in device.last_error
            # Retained: a late subscriber learns the device is offline.
            late, late_inbox = await _watch(clients, status)
            assert await late_inbox.wait_count(1) == [(status, OFFLINE, True)]
            await watcher.publish(status, b"", qos=1, retain=True)
    run(main())


def test_no_last_will_after_stop(broker):
    async def main():
        async with Clients(broker) as clients:
            status = unique("nowill") + "/status"
            watcher, inbox = await _watch(clients, status)
            device = clients.make("device", will=Will(status, OFFLINE))
            await device.connect()
            await device.stop()
            assert not device.connected
            # Once the broker has handled the DISCONNECT, a will would already be
            # queued to the watcher ahead of anything published after it.
            await until(lambda: "Client %s disconnected." % device_id(device) in broker.log(),
                        what="the broker to log the DISCONNECT")
            await watcher.publish(status, b"marker", qos=1)
            assert await inbox.wait_count(1) == [(status, b"marker", False)]
    run(main())


def device_id(client):
    """The client id, read back from the CONNECT packet the client built."""
    from device.mqtt.packets import parse
    return parse(client._connect_packet).client_id


def test_reconnects_resubscribes_and_delivers_a_publish_made_while_down(own_broker):
    async def main():
        inbox = Inbox()
        sessions = []
        async with Clients(own_broker) as clients:
            client = clients.make(on_message=inbox, keepalive_s=5)

            async def on_connect(session_present):
                sessions.append(session_present)

            client.on_connect = on_connect
            client.start()
            assert await client.wait_connected(WAIT_S * 1000)
            root = unique("restart")
            await client.subscribe(root + "/#", qos=1)
            await client.publish(root + "/before", b"1", qos=1)
            await inbox.wait_count(1)

            own_broker.stop()
            await until(lambda: not client.connected, what="the client to see the broker go")
            pending = asyncio.create_task(client.publish(root + "/while-down", b"2", qos=1))
            await client.publish(root + "/qos0-while-down", b"lost", qos=0)
            await asyncio.sleep(0)
            assert not pending.done()
            own_broker.start()

            await asyncio.wait_for(pending, WAIT_S)  # returns on PUBACK from the new broker
            assert (await inbox.wait_count(2))[1] == (root + "/while-down", b"2", False)
            assert client.connected
            assert client.stats["reconnects"] >= 1
            assert client.stats["dropped_qos0"] == 1
            assert sessions[:2] == [False, False]
            await client.publish(root + "/after", b"3", qos=1)
            assert [m[1] for m in await inbox.wait_count(3)] == [b"1", b"2", b"3"]
    run(main())


def test_dead_link_is_detected_by_keepalive_and_unacked_qos1_is_resent(own_broker):
    async def main():
        inbox = Inbox()
        async with Clients(own_broker) as clients:
            client = clients.make(on_message=inbox, keepalive_s=1, connect_timeout_ms=500)
            client.start()
            assert await client.wait_connected(WAIT_S * 1000)
            topic = unique("frozen") + "/t"
            await client.subscribe(topic, qos=1)
            own_broker.pause()  # TCP stays up, the broker answers nothing
            try:
                pending = asyncio.create_task(client.publish(topic, b"sent into the void", qos=1))
                await until(lambda: not client.connected, what="keepalive to notice")
                assert "no PINGRESP" in client.last_error
                assert not pending.done()
                await until(lambda: client.stats["connect_failures"] >= 1,
                            what="a reconnect attempt to time out")
            finally:
                own_broker.resume()
            await asyncio.wait_for(pending, WAIT_S)
            assert client.stats["publish_retries"] >= 1
            assert (await inbox.wait_topic(topic))[1] == b"sent into the void"
            # The broker's own log of the packet: resent with DUP set (d1), QoS 1.
            resent = r"Received PUBLISH from %s \(d1, q1, r0, m\d+, '%s'" % (device_id(client), topic)
            assert re.search(resent, own_broker.log()), own_broker.log()[-2000:]
    run(main())


def test_bad_password_is_refused_with_a_connack_code(password_broker):
    async def main():
        async with Clients(password_broker) as clients:
            wrong = clients.make(username="pipit-fleet", password="wrong")
            with pytest.raises(MqttError) as refused:
                await wrong.connect()
            assert refused.value.code in (4, 5)
            assert str(refused.value) in ("bad username or password", "not authorised")
            assert wrong.stats["connect_failures"] == 1
            assert not wrong.connected
            anonymous = clients.make()
            with pytest.raises(MqttError) as refused:
                await anonymous.connect()
            assert refused.value.code in (4, 5)
            right = clients.make(username="pipit-fleet", password=b"right horse battery")
            assert await right.connect() is False
            assert right.connected
    run(main())


def test_keeper_retries_with_backoff_until_the_broker_comes_back(own_broker):
    async def main():
        async with Clients(own_broker) as clients:
            own_broker.stop()
            client = clients.make(backoff_min_ms=10, backoff_max_ms=100)
            client.start()
            await until(lambda: client.stats["connect_failures"] >= 3, what="failed attempts")
            assert client.last_error == "connection refused"
            own_broker.start()
            assert await client.wait_connected(WAIT_S * 1000)
            assert client.stats["connects"] == 1
    run(main())


def test_packet_ids_wrap_and_skip_ids_still_in_flight(broker):
    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            client = clients.make()
            topic = unique("ids") + "/t"
            # Not connected yet: QoS 1 messages queue up, holding ids 1..3.
            first = [asyncio.create_task(client.publish(topic, b"%d" % i, qos=1)) for i in range(3)]
            await until(lambda: len(client._inflight) == 3, what="three queued")
            client._next_id = 65534
            later = [asyncio.create_task(client.publish(topic, b"%d" % i, qos=1)) for i in range(3, 6)]
            await until(lambda: len(client._inflight) == 6, what="six queued")
            assert sorted(client._inflight) == [1, 2, 3, 4, 5, 65535]
            watcher = clients.make(on_message=inbox)
            await watcher.connect()
            await watcher.subscribe(topic)
            await client.connect()  # sends the queue in order, first attempt: no DUP
            await asyncio.wait_for(asyncio.gather(*first, *later), WAIT_S)
            assert [m[1] for m in await inbox.wait_count(6)] == [b"%d" % i for i in range(6)]
            assert client.stats["publish_retries"] == 0
            assert client.stats["published"] == 6
    run(main())
