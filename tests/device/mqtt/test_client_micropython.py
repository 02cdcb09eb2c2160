"""The MQTT client under the real MicroPython unix port, against the real mosquitto.

One script runs on MicroPython and, unchanged, on CPython; both print what they
received and the lines must match each other and what we expect. A CPython
client watching the same topics checks what reached the broker.
"""
import asyncio
import binascii
import json
import subprocess
import sys

import pytest

from host.runtimes import REPO_ROOT, device_env
from tests.device.mqtt.support import WAIT_S, Clients, Inbox, run, unique
from tests.device.mqtt.test_packets import ROUND_TRIPS
from tests.micropython import run_micropython

SCRIPT = '''
import asyncio, binascii, json
from device.mqtt import MqttClient, MqttError, Will, tls_context

CONFIG = json.loads(%r)


def out(*words):
    print(" ".join([str(word) for word in words]))


def wait_ms(awaitable, timeout_ms):
    if hasattr(asyncio, "wait_for_ms"):
        return asyncio.wait_for_ms(awaitable, timeout_ms)
    return asyncio.wait_for(awaitable, timeout_ms / 1000)


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


async def main():
    root = CONFIG["root"]
    context, port = None, CONFIG["port"]
    if CONFIG["tls"]:
        context, port = tls_context(read(CONFIG["ca"])), CONFIG["tls_port"]
    inbox, arrived = [], asyncio.Event()

    def on_message(topic, payload, retain):
        inbox.append((topic, payload, retain))
        arrived.set()

    a = MqttClient(CONFIG["id"] + "-a", "127.0.0.1", port, ssl_context=context,
                   server_hostname="localhost", keepalive_s=5, on_message=on_message)
    a.start()
    out("connected", await a.wait_connected(10000))
    out("granted", await a.subscribe(root + "/#", 1))
    await a.publish(root + "/q1", bytes([0, 255]) + b" qos1", qos=1)
    await a.publish(root + "/q0", "qos0 text", qos=0)
    b = MqttClient(CONFIG["id"] + "-b", "127.0.0.1", port, ssl_context=context,
                   server_hostname="localhost", will=Will(root + "/status", b"offline"))
    out("b-session", await b.connect())
    await b.publish(root + "/status", b"online", qos=1, retain=True)
    b.abort()  # the socket closes without DISCONNECT: the broker sends the will
    while len(inbox) < 4:
        arrived.clear()
        await wait_ms(arrived.wait(), 10000)
    for topic, payload, retain in inbox:
        out("message", topic, binascii.hexlify(payload).decode(), int(retain))
    if CONFIG["tls"]:
        wrong = MqttClient(CONFIG["id"] + "-c", "127.0.0.1", port, server_hostname="localhost",
                           ssl_context=tls_context(read(CONFIG["wrong_ca"])))
        try:
            await wrong.connect()
            out("wrong-ca", "connected")
        except MqttError as exc:
            out("wrong-ca", "refused", exc.code, "certificate" in str(exc).lower())
        elsewhere = MqttClient(CONFIG["id"] + "-d", "127.0.0.1", port, ssl_context=context,
                               server_hostname="elsewhere.example")
        try:
            await elsewhere.connect()
            out("wrong-name", "connected")
        except MqttError as exc:
            out("wrong-name", "refused", exc.code)
    out("stats", a.stats["connects"], a.stats["published"], a.stats["received"],
        a.stats["malformed"], b.stats["connects"])
    await a.publish(root + "/status", b"", qos=1, retain=True)
    await a.stop()
    await b.stop()
    out("done", a.connected, b.connected)


asyncio.run(main())
'''


def run_cpython(source):
    completed = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                               timeout=120, env=device_env("cpython"), cwd=str(REPO_ROOT))
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def expected_lines(root, tls):
    lines = ["connected True", "granted 1", "b-session False"]
    for topic, payload in (("q1", b"\x00\xff qos1"), ("q0", b"qos0 text"),
                           ("status", b"online"), ("status", b"offline")):
        lines.append("message %s/%s %s 0" % (root, topic, payload.hex()))
    if tls:
        lines += ["wrong-ca refused None True", "wrong-name refused None"]
    # a: one connect; published q1 and q0; received 4; nothing malformed.
    return lines + ["stats 1 2 4 0 1", "done False False"]


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_script_on_each_runtime_against_mosquitto(broker, runtime, tls):
    root = unique("%s-%s" % (runtime[:2], "tls" if tls else "tcp"))
    config = json.dumps({"root": root, "id": root, "tls": tls, "port": broker.port,
                         "tls_port": broker.tls_port, "ca": str(broker.ca_path),
                         "wrong_ca": str(broker.wrong_ca_path)})
    source = SCRIPT % config
    runner = run_micropython if runtime == "micropython" else run_cpython

    async def main():
        inbox = Inbox()
        async with Clients(broker) as clients:
            watcher = clients.make("watcher", on_message=inbox)
            await watcher.connect()
            await watcher.subscribe(root + "/#")
            output = await asyncio.get_running_loop().run_in_executor(None, runner, source)
            seen = await inbox.wait_count(5, timeout_s=WAIT_S)
        return output, seen

    output, seen = run(main(), timeout_s=180)
    assert output.splitlines() == expected_lines(root, tls)
    # What reached the broker, seen by a CPython client: q1, q0, online, the will, the clear.
    assert [(topic, payload) for topic, payload, _ in seen] == [
        (root + "/q1", b"\x00\xff qos1"), (root + "/q0", b"qos0 text"),
        (root + "/status", b"online"), (root + "/status", b"offline"), (root + "/status", b"")]


def test_micropython_encodes_and_decodes_packets_like_cpython():
    encoded = [packet.to_bytes() for packet in ROUND_TRIPS]
    output = run_micropython('''
import binascii
from device.mqtt.packets import parse
for data in %r:
    packet = parse(data)
    again = packet.to_bytes()
    print(binascii.hexlify(again).decode(), packet == parse(again), type(packet).__name__)
for bad in (b"", b"\\xc0", b"\\x36\\x03\\x00\\x01a", b"\\x30\\x04\\x00\\x02\\xc3\\x28",
            b"\\xc0\\xff\\xff\\xff\\xff\\x7f", b"\\x82\\x02\\x00\\x01"):
    try:
        parse(bad)
        print("accepted")
    except ValueError as exc:
        print("refused", str(exc).startswith("mqtt: "))
''' % (encoded,))
    lines = output.splitlines()
    assert lines[:len(encoded)] == ["%s True %s" % (binascii.hexlify(data).decode(), type(p).__name__)
                                    for data, p in zip(encoded, ROUND_TRIPS)]
    assert lines[len(encoded):] == ["refused True"] * 6


FAULT_SCRIPT = '''
import asyncio, sys
from device.hal.clock import sleep_ms
from device.mqtt import MqttClient

ROOT, PORT = %r, %d


def out(*words):
    print(" ".join([str(word) for word in words]))


async def wait_until(predicate):
    while not predicate():
        await sleep_ms(5)


async def main():
    inbox = []
    a = MqttClient(ROOT + "-a", "127.0.0.1", PORT, keepalive_s=1, connect_timeout_ms=500,
                   backoff_min_ms=20, backoff_max_ms=200,
                   on_message=lambda topic, payload, retain: inbox.append(payload))
    a.start()
    await a.wait_connected(10000)
    await a.subscribe(ROOT + "/#")
    out("up")
    sys.stdin.readline()  # the test has frozen the broker
    pending = asyncio.create_task(a.publish(ROOT + "/x", b"into the void", qos=1))
    await wait_until(lambda: not a.connected)
    out("lost", a.last_error)
    await pending  # the test resumes the broker; PUBACK comes on a new link
    await wait_until(lambda: b"into the void" in inbox)
    out("delivered", a.stats["reconnects"] >= 1, a.stats["publish_retries"] >= 1)
    before = a.stats["reconnects"]
    out("restart")
    await wait_until(lambda: a.stats["reconnects"] > before and a.connected)
    await a.publish(ROOT + "/y", b"after restart", qos=1)
    await wait_until(lambda: b"after restart" in inbox)
    out("resubscribed", a.stats["connects"] >= 3)
    await a.stop()


asyncio.run(main())
'''


def test_micropython_client_survives_a_frozen_and_a_restarted_broker(own_broker):
    from host.runtimes import micropython_binary
    root = unique("mp-faults")

    async def line(process):
        text = await asyncio.wait_for(process.stdout.readline(), WAIT_S)
        return text.decode().strip()

    async def main():
        process = await asyncio.create_subprocess_exec(
            micropython_binary(), "-c", FAULT_SCRIPT % (root, own_broker.port),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=device_env("micropython"), cwd=str(REPO_ROOT))
        try:
            assert await line(process) == "up"
            own_broker.pause()
            try:
                process.stdin.write(b"paused\n")
                await process.stdin.drain()
                assert await line(process) == "lost no PINGRESP within 1 s: link is dead"
            finally:
                own_broker.resume()
            assert await line(process) == "delivered True True"
            assert await line(process) == "restart"
            own_broker.restart()
            assert await line(process) == "resubscribed True"
            assert await asyncio.wait_for(process.wait(), WAIT_S) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            stderr = (await process.stderr.read()).decode()
        assert stderr == ""

    run(main(), timeout_s=120)
