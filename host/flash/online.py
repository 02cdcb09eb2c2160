"""Step 4: wait until the freshly flashed device says hello over MQTT, and record it.

The subscription is made before the board is reset (a Hello is not
retained, so one sent before we listen would be lost). What arrives is
recorded in the fleet registry, so `pipit fleet list` shows the device
online whether or not a fleet service is running.
"""
import asyncio
import time

from device.control import topics
from device.control.messages import decode
from host.fleet.operations import host_client

STEP = "wait for hello"


class HelloWatch:
    """Listens on one device's hello and status topics."""

    def __init__(self, info, device_id):
        self.device_id = device_id
        self.hello = None
        self.online = False
        self._arrived = asyncio.Event()
        self.client = host_client(info, "flash")
        self.client.on_message = self._on_message

    def _on_message(self, topic, payload, retain):
        try:
            device_id, kind = topics.parse(topic)
            message = decode(kind, bytes(payload))
        except ValueError:
            return
        if device_id != self.device_id:
            return
        if kind == "hello":
            self.hello = message
            self._arrived.set()
        elif kind == "status" and not retain:
            self.online = message.online

    async def start(self):
        self.client.start()
        for kind in ("hello", "status"):
            await self.client.subscribe(topics.device_topic(self.device_id, kind), 1)

    async def wait(self, timeout_s):
        """The Hello, or None after timeout_s."""
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout_s)
        except asyncio.TimeoutError:
            return None
        return self.hello

    async def stop(self):
        await self.client.stop()


def record(registry, device_id, hello):
    """The device is online: its Hello (board, firmware, config) goes to the registry."""
    now_s = time.time()
    registry.record_hello(device_id, hello, now_s)
    registry.record_status(device_id, True, now_s)
