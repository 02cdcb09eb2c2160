"""Simulated devices for the fleet benchmark: many MQTT clients in one process.

Each SimDevice does what the device runtime's control plane does at boot
(device/app.py), with the same client and messages and nothing else: connect
over TLS with its own credentials and a retained "offline" will, publish
Status online (retained) and Hello, subscribe to its three downlink topics,
and acknowledge every Config it receives. No audio. A worker process runs a
few hundred of them on one asyncio loop and talks to the benchmark over a
multiprocessing Pipe:

    <- ("ready", cpu_s)            clients built
    -> ("go",)                     start every device at once
    -> ("report",)                 <- ("report", {device_id: times}, stats)
    -> ("stop",)                   DISCONNECT all, <- ("stopped",)

Times are time.monotonic() (CLOCK_MONOTONIC, shared by every process here).
"""
import asyncio
import resource
import time

from device.control import topics
from device.control.messages import Config, ConfigAck, Hello, Status
from device.mqtt import MqttClient, Will, tls_context
from device.mqtt.client import STAT_NAMES

FIRMWARE = "0.1.0-sim"
CONNECT_TIMEOUT_MS = 60000


class SimDevice:
    """One device's control plane: connect, online, hello, subscribe, ack configs."""

    def __init__(self, device_id, password, broker, ssl_context):
        self.device_id = device_id
        self.times = {"config": {}, "acked": {}}
        self._configs = asyncio.Queue()
        self._config_topic = topics.device_topic(device_id, "config")
        will = Will(topics.device_topic(device_id, "status"), Status("offline", FIRMWARE).encode(), 1, True)
        self.client = MqttClient(
            device_id, broker["host"], broker["port"], username=device_id, password=password,
            ssl_context=ssl_context, server_hostname=broker["server_hostname"], keepalive_s=120,
            clean_session=False, will=will, on_message=self._on_message,
            connect_timeout_ms=CONNECT_TIMEOUT_MS)

    def _on_message(self, topic, payload, retain):
        if topic == self._config_topic:
            self._configs.put_nowait((time.monotonic(), bytes(payload)))

    async def run(self):
        """Boot as the runtime does, then acknowledge configs until cancelled."""
        client = self.client
        self.times["start"] = time.monotonic()
        client.start()
        await client.wait_connected()
        self.times["connected"] = time.monotonic()
        await client.publish(topics.device_topic(self.device_id, "status"),
                             Status("online", FIRMWARE).encode(), qos=1, retain=True)
        self.times["hello"] = time.monotonic()
        hello = Hello("virtual", FIRMWARE, "cpython", ["opus"], ["microphone"], 0)
        await client.publish(topics.device_topic(self.device_id, "hello"), hello.encode(), qos=1)
        for topic in topics.device_subscriptions(self.device_id):
            await client.subscribe(topic, 1)
        self.times["subscribed"] = time.monotonic()
        ack_topic = topics.device_topic(self.device_id, "config/ack")
        while True:
            received_s, payload = await self._configs.get()
            config = Config.decode(payload)
            self.times["config"].setdefault(config.version, received_s)
            await client.publish(ack_topic, ConfigAck(config.version, True).encode(), qos=1)
            self.times["acked"].setdefault(config.version, time.monotonic())


def cpu_s():
    """CPU seconds (user + system) this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _client_stats(devices):
    totals = dict((name, 0) for name in STAT_NAMES)
    for device in devices:
        for name in STAT_NAMES:
            totals[name] += device.client.stats[name]
    totals["cpu_s"] = round(cpu_s(), 3)
    return totals


async def _serve(conn, devices):
    loop = asyncio.get_running_loop()
    commands = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
    conn.send(("ready", cpu_s()))
    tasks = []
    try:
        while True:
            command = (await commands.get())[0]
            if command == "go":
                tasks = [asyncio.create_task(device.run()) for device in devices]
            elif command == "report":
                conn.send(("report", dict((d.device_id, d.times) for d in devices), _client_stats(devices)))
            elif command == "stop":
                break
    finally:
        loop.remove_reader(conn.fileno())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(device.client.stop() for device in devices), return_exceptions=True)
    conn.send(("stopped",))


def run_worker(conn, devices, broker):
    """Process entry: devices is [(device_id, password)], broker a dict (host, port, server_hostname, ca_pem)."""
    async def main():
        context = tls_context(broker["ca_pem"])  # one context, shared by the process's clients
        sims = [SimDevice(device_id, password, broker, context) for device_id, password in devices]
        await _serve(conn, sims)
    asyncio.run(main())
