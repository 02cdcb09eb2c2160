"""The MQTT client on CPython against a real mosquitto: messages in and out."""
import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.mqtt import MqttClient, MqttError
from device.mqtt.stream import read_packet
from tests.brokers import client_tool_args
from tests.device.mqtt.support import WAIT_S, Clients, Inbox, run, unique, until


def test_connect_subscribe_publish_qos0_and_qos1(broker):
    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            client = clients.make(on_message=inbox)
            assert client.connected is False
            assert await client.connect() is False  # clean session: nothing kept
            assert client.connected
            root = unique("rt")
            assert await client.subscribe(root + "/#", qos=1) == 1
            assert await client.subscribe(root + "/zero", qos=0) == 0
            await client.publish(root + "/one", b"\x00\x01binary", qos=1)
            await client.publish(root + "/text", "caf\u00e9", qos=0)
            await client.publish(root + "/zero", b"z", qos=1)
            await client.publish(root + "/marker", b"", qos=1)
            # One connection, one order; overlapping filters deliver once (mosquitto 2).
            assert await inbox.wait_count(4) == [
                (root + "/one", b"\x00\x01binary", False),
                (root + "/text", "caf\u00e9".encode(), False),
                (root + "/zero", b"z", False), (root + "/marker", b"", False)]
            assert client.stats["published"] == 4
            assert client.stats["received"] == 4
            assert client.stats["connects"] == 1
            assert client.stats["reconnects"] == 0
            assert client.stats["malformed"] == client.stats["callback_errors"] == 0
    run(main())


def test_retained_message_is_delivered_on_subscribe(broker):
    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            publisher = clients.make()
            await publisher.connect()
            topic = unique("retained") + "/config"
            await publisher.publish(topic, b'{"v": 1}', qos=1, retain=True)
            subscriber = clients.make(on_message=inbox)
            await subscriber.connect()
            await subscriber.subscribe(topic)
            assert await inbox.wait_count(1) == [(topic, b'{"v": 1}', True)]
            # A live message on an existing subscription is not flagged retained.
            await publisher.publish(topic, b'{"v": 2}', qos=1, retain=True)
            assert (await inbox.wait_count(2))[1] == (topic, b'{"v": 2}', False)
            await publisher.publish(topic, b"", qos=1, retain=True)  # clear it
    run(main())


def test_unsubscribe_stops_delivery(broker):
    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            client = clients.make(on_message=inbox)
            await client.connect()
            root = unique("unsub")
            await client.subscribe(root + "/a")
            await client.subscribe(root + "/marker")
            await client.unsubscribe(root + "/a")
            await client.publish(root + "/a", b"unwanted", qos=1)
            await client.publish(root + "/marker", b"m", qos=1)
            # Same connection, same order: the marker arriving alone proves the first was not sent.
            assert await inbox.wait_count(1) == [(root + "/marker", b"m", False)]
            assert len(inbox.messages) == 1
    run(main())


def test_callback_exceptions_are_counted_and_do_not_kill_the_client(broker):
    async def main():
        seen = []

        def on_message(topic, payload, retain):
            seen.append(payload)
            if payload == b"boom":
                raise RuntimeError("callback bug")

        async with Clients(broker) as clients:
            client = clients.make(on_message=on_message)
            await client.connect()
            topic = unique("cb")
            await client.subscribe(topic)
            await client.publish(topic, b"boom", qos=1)
            await client.publish(topic, b"after", qos=1)
            await until(lambda: len(seen) == 2, what="both messages")
            assert seen == [b"boom", b"after"]
            assert client.stats["callback_errors"] == 1
            assert isinstance(client.last_callback_error, RuntimeError)
            assert client.connected
    run(main())


def test_qos0_while_disconnected_is_dropped_and_counted(broker):
    async def main():
        async with Clients(broker) as clients:
            client = clients.make()
            await client.publish("anything", b"lost", qos=0)
            assert client.stats["dropped_qos0"] == 1
            assert client.stats["published"] == 0
            with pytest.raises(ValueError, match="wildcard"):
                await client.publish("a/#", b"", qos=0)
            with pytest.raises(ValueError, match="QoS 0 or 1"):
                await client.publish("a", b"", qos=2)
            with pytest.raises(ValueError, match="must be a whole"):
                await client.subscribe("a#")
    run(main())


def test_many_messages_both_qos_and_packet_id_wrap(broker):
    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            publisher = clients.make(max_inflight=50)
            subscriber = clients.make(on_message=inbox, max_packet_bytes=1 << 20)
            await publisher.connect()
            await subscriber.connect()
            root = unique("many")
            await subscriber.subscribe(root + "/#", qos=1)
            publisher._next_id = 65500  # start near the wrap so 65535 -> 1 happens here
            qos1 = [publisher.publish("%s/q1/%d" % (root, i), b"%d" % i, qos=1) for i in range(2000)]
            await asyncio.gather(*qos1)
            for i in range(3000):
                await publisher.publish("%s/q0" % root, b"%d" % i, qos=0)
            got = await inbox.wait_count(5000, timeout_s=60)
            q1 = sorted(int(payload) for topic, payload, _ in got if "/q1/" in topic)
            q0 = [int(payload) for topic, payload, _ in got if topic.endswith("/q0")]
            assert q1 == list(range(2000))
            assert q0 == list(range(3000))  # one connection: order kept
            assert publisher.stats["published"] == 5000
            assert publisher._next_id < 65500  # wrapped
            assert not publisher._inflight
    run(main(), timeout_s=120)


def test_oversized_packet_drops_the_link_without_reading_it(broker):
    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            small = clients.make(on_message=inbox, max_packet_bytes=512)
            small.start()
            assert await small.wait_connected(WAIT_S * 1000)
            root = unique("big")
            await small.subscribe(root + "/#", qos=0)
            sender = clients.make()
            await sender.connect()
            await sender.publish(root + "/huge", bytes(4000), qos=0)
            await until(lambda: small.stats["reconnects"] == 1, what="the reconnect")
            assert small.stats["malformed"] == 1
            assert "exceeds the 512-byte limit" in small.last_error
            assert await small.wait_connected(WAIT_S * 1000)
            # Resubscribed after the reconnect: small messages flow again.
            await sender.publish(root + "/ok", b"fits", qos=1)
            assert await inbox.wait_count(1) == [(root + "/ok", b"fits", False)]
    run(main())


def test_connection_refused_when_nothing_listens(broker):
    async def main():
        from tests.brokers import free_tcp_port
        client = MqttClient(unique("nobody"), "127.0.0.1", free_tcp_port())
        with pytest.raises(MqttError) as refused:
            await client.connect()
        assert str(refused.value) == "connection refused"
        assert refused.value.code is None
        assert client.stats["connect_failures"] == 1
        await client.stop()
    run(main())


def test_on_connect_runs_after_connect_and_stop_is_idempotent(broker):
    async def main():
        calls = []

        async with Clients(broker) as clients:
            client = clients.make()
            topic = unique("hello")

            async def on_connect(session_present):
                calls.append(session_present)
                await client.publish(topic, b"hello", qos=1)

            inbox = Inbox()
            watcher = clients.make(on_message=inbox)
            await watcher.connect()
            await watcher.subscribe(topic)
            client.on_connect = on_connect
            client.start()
            assert await client.wait_connected(WAIT_S * 1000)
            assert await inbox.wait_count(1) == [(topic, b"hello", False)]
            assert calls == [False]
            await client.stop()
            await client.stop()
            assert not client.connected
            assert await client.wait_connected(10) is False
            with pytest.raises(MqttError, match="stopped"):
                await client.publish(topic, b"late", qos=1)
    run(main())


def test_mosquitto_sub_sees_what_we_publish(broker):
    async def main():
        root = unique("tools")
        binary = bytes(range(256))
        async with Clients(broker) as clients:
            client = clients.make()
            await client.connect()
            await client.publish(root + "/cfg", b"kept", qos=1, retain=True)
            # -d shows the exchange: "Subscribed (mid: 1): 1" means the SUBACK is in.
            tool = await asyncio.create_subprocess_exec(
                "mosquitto_sub", *client_tool_args(broker), "-t", root + "/#", "-q", "1",
                "-C", "3", "-W", "30", "-F", "%t %q %r %x", "-d",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            while True:
                line = await asyncio.wait_for(tool.stdout.readline(), WAIT_S)
                assert line, "mosquitto_sub exited before subscribing"
                if line.startswith(b"Subscribed"):
                    break
            await client.publish(root + "/text", "caf\u00e9 0", qos=0)
            await client.publish(root + "/bin", binary, qos=1)
            out, err = await asyncio.wait_for(tool.communicate(), WAIT_S)
            assert tool.returncode == 0, err
            await client.publish(root + "/cfg", b"", qos=1, retain=True)
        lines = [line for line in out.decode().splitlines() if line.startswith(root)]
        assert lines == ["%s/cfg 1 1 %s" % (root, b"kept".hex()),
                         "%s/text 0 0 %s" % (root, "caf\u00e9 0".encode().hex()),
                         "%s/bin 1 0 %s" % (root, binary.hex())]
    run(main())


def test_we_receive_what_mosquitto_pub_sends(broker):
    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            client = clients.make(on_message=inbox)
            await client.connect()
            topic = unique("cli") + "/in"
            await client.subscribe(topic, qos=1)
            tool = await asyncio.create_subprocess_exec(
                "mosquitto_pub", *client_tool_args(broker), "-t", topic, "-q", "1",
                "-m", "from the cli", stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(tool.communicate(), WAIT_S)
            assert tool.returncode == 0, err
            assert await inbox.wait_count(1) == [(topic, b"from the cli", False)]
    run(main())


async def _read_all(data, max_packet_bytes):
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    packets = []
    while True:
        try:
            packets.append(await read_packet(reader, max_packet_bytes))
        except EOFError:  # asyncio.IncompleteReadError: the stream ended mid-packet
            return packets


def test_stream_reader_refuses_an_oversized_packet_before_reading_it():
    async def main():
        reader = asyncio.StreamReader()
        reader.feed_data(b"\x30\xff\xff\xff\x7f")  # claims 268435455 bytes; none follow
        with pytest.raises(ValueError, match="mqtt: packet of 268435455 bytes exceeds the 16384"):
            await read_packet(reader, 16384)
        reader = asyncio.StreamReader()
        reader.feed_data(b"\x30\xff\xff\xff\xff\x01")
        with pytest.raises(ValueError, match="longer than 4 bytes"):
            await read_packet(reader, 16384)
        two = b"\xd0\x00" + b"\x30\x04\x00\x01ax"
        assert [p.kind for p in await _read_all(two, 16)] == [13, 3]
    run(main())


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_random_streams_only_raise_value_error_in_the_reader(data):
    try:
        asyncio.run(_read_all(data, 32))
    except ValueError as exc:
        assert str(exc).startswith("mqtt: ")
