"""Asyncio MQTT 3.1.1 client shared by the device runtime and the host services.

Why our own: micropython-lib's umqtt.simple blocks the event loop; mqtt_as
is tied to the ESP32 network stack (it manages the WLAN itself); aiomqttc's
wheel installs top-level main.py/config.py/wifi.py that would shadow the
device's own; CPython clients (paho, aiomqtt) do not run on MicroPython. The
control plane needs one behaviour on both runtimes (QoS 1 that survives
reconnects, resubscription, last will, TLS), so this is a small client on
asyncio.open_connection, with the packets in device/mqtt/packets.py.

The connection (connect, keepalive, reconnect with backoff, stop) is
MqttLink's, in device/mqtt/link.py; this is the session on it: QoS 1
publishes in flight until PUBACK and resent on the next link, subscriptions
and their resubscription, and the packets the broker sends us.
"""
import asyncio

from device.mqtt.connect import Connect
from device.mqtt.link import MqttError, MqttLink
from device.mqtt.packets import SUBACK_FAILURE, Ack, Publish, Subscribe, Unsubscribe
from device.mqtt.wire import PUBACK, PUBLISH, SUBACK, UNSUBACK, validate_topic_filter, validate_topic_name

_RESUBSCRIBE_BATCH = 8
# Inflight record fields: encoded PUBLISH (bytearray), done event, link
# generation it was last sent on (-1: never), error text, queue order.
_PACKET, _DONE, _SENT_GEN, _ERROR, _ORDER = 0, 1, 2, 3, 4
STAT_NAMES = ("connects", "reconnects", "connect_failures", "published", "publish_retries",
              "received", "malformed", "callback_errors", "dropped_qos0")


class Will:
    """The message the broker publishes for us when our link dies without DISCONNECT."""

    def __init__(self, topic, payload, qos=1, retain=True):
        validate_topic_name(topic)
        if qos not in (0, 1):
            raise ValueError("mqtt: will QoS must be 0 or 1")
        self.topic = topic
        self.payload = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        self.qos = qos
        self.retain = retain


class MqttClient(MqttLink):
    """MQTT 3.1.1 over asyncio streams (TCP or TLS), QoS 0 and 1."""

    def __init__(self, client_id, host, port, username=None, password=None, ssl_context=None,
                 server_hostname=None, keepalive_s=30, clean_session=True, will=None,
                 on_message=None, backoff_min_ms=200, backoff_max_ms=30000,
                 connect_timeout_ms=10000, max_packet_bytes=16384, max_inflight=65535):
        connect_packet = Connect(
            client_id, keepalive_s, clean_session, username, password,
            will.topic if will else None, will.payload if will else b"",
            will.qos if will else 0, will.retain if will else False).to_bytes()
        super().__init__(host, port, ssl_context, server_hostname, keepalive_s, connect_packet,
                         backoff_min_ms, backoff_max_ms, connect_timeout_ms, max_packet_bytes)
        self.on_message = on_message
        self.max_inflight = max(1, min(max_inflight, 65535))
        self.stats = dict((name, 0) for name in STAT_NAMES)
        self._slots = asyncio.Event()
        self._slot_waiters = 0
        self._inflight = {}  # packet id -> record (QoS 1 PUBLISH awaiting PUBACK)
        self._pending = {}  # packet id -> [event or None, result, filters] (SUB/UNSUB)
        self._subscriptions = {}  # topic filter -> QoS, for resubscription
        self._next_id = 0
        self._order = 0

    async def _session_up(self, gen, session_present):
        """Called by MqttLink once link `gen` is up: resubscribe, resend, then ready."""
        if not session_present and self._subscriptions:
            await self._resubscribe()
        # Loop until nothing is left unsent on this link, then flip the flag with
        # no await in between, so a publish() queued meanwhile is never stranded.
        while gen == self._gen and self._writer is not None:
            queued = [(record[_ORDER], pid) for pid, record in self._inflight.items()
                      if record[_SENT_GEN] != gen]
            if not queued:
                self._ready(session_present)
                return
            for _, pid in sorted(queued):
                record = self._inflight.get(pid)
                if record is not None and record[_SENT_GEN] != gen:
                    await self._send_publish(record)

    async def _resubscribe(self):
        items = list(self._subscriptions.items())
        for start in range(0, len(items), _RESUBSCRIBE_BATCH):
            batch = items[start:start + _RESUBSCRIBE_BATCH]
            packet_id = self._free_id()  # no waiting for a slot: acks come after this
            self._pending[packet_id] = [None, None, [f for f, _ in batch]]
            if not await self._send(Subscribe(packet_id, batch).to_bytes()):
                return

    async def publish(self, topic, payload, qos=0, retain=False):
        """Publish; QoS 1 returns on PUBACK and survives reconnects (resent with DUP)."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if qos == 0:
            data = Publish(topic, payload, 0, retain).to_bytes()
            if self._connected and await self._send(data):
                self.stats["published"] += 1
            else:
                self.stats["dropped_qos0"] += 1
            return
        if qos != 1:
            raise ValueError("mqtt: this client publishes with QoS 0 or 1, not %r" % (qos,))
        validate_topic_name(topic)
        if self._stopping:
            raise MqttError("client stopped")
        packet_id = await self._new_packet_id()
        self._order += 1
        record = [Publish(topic, payload, 1, retain, False, packet_id).to_bytes(),
                  asyncio.Event(), -1, None, self._order]
        self._inflight[packet_id] = record
        if self._connected:
            await self._send_publish(record)
        await record[_DONE].wait()
        if record[_ERROR] is not None:
            raise MqttError(record[_ERROR])

    async def _send_publish(self, record):
        if record[_SENT_GEN] >= 0:
            record[_PACKET][0] |= 0x08  # DUP: the broker may have seen it (3.3.1.1)
            self.stats["publish_retries"] += 1
        record[_SENT_GEN] = self._gen
        await self._send(record[_PACKET])

    async def subscribe(self, topic_filter, qos=1):
        """Subscribe (remembered for resubscription); returns the granted QoS."""
        validate_topic_filter(topic_filter)
        if qos not in (0, 1):
            raise ValueError("mqtt: subscribe with QoS 0 or 1, not %r" % (qos,))
        while True:
            await self._wait_link()
            self._subscriptions[topic_filter] = qos
            codes = await self._request(Subscribe, [(topic_filter, qos)])
            if codes is not None:
                break
        if codes[0] == SUBACK_FAILURE:
            self._subscriptions.pop(topic_filter, None)
            raise MqttError("subscription to %r refused by the broker" % topic_filter)
        return codes[0]

    async def unsubscribe(self, topic_filter):
        """Unsubscribe and forget the filter."""
        validate_topic_filter(topic_filter)
        self._subscriptions.pop(topic_filter, None)
        while True:
            await self._wait_link()
            if await self._request(Unsubscribe, [topic_filter]) is not None:
                return

    async def _request(self, packet_class, filters):
        """Send SUBSCRIBE/UNSUBSCRIBE; the ack's result, or None if the link dropped."""
        packet_id = await self._new_packet_id()
        record = [asyncio.Event(), None, None]
        self._pending[packet_id] = record
        try:
            if await self._send(packet_class(packet_id, filters).to_bytes()):
                await record[0].wait()
        finally:
            if self._pending.get(packet_id) is record:
                del self._pending[packet_id]
            self._free_slot()
        return record[1]

    async def _new_packet_id(self):
        """A free packet id, once fewer than max_inflight requests are outstanding."""
        while len(self._inflight) + len(self._pending) >= self.max_inflight:
            if self._stopping:
                raise MqttError("client stopped")
            self._slot_waiters += 1
            try:
                await self._slots.wait()
            finally:
                self._slot_waiters -= 1
        return self._free_id()

    def _free_id(self):
        """Next id in 1..65535 (wrapping) that is not in flight."""
        for _ in range(0xFFFF):
            self._next_id = self._next_id % 0xFFFF + 1
            if self._next_id not in self._inflight and self._next_id not in self._pending:
                return self._next_id
        raise MqttError("all 65535 packet ids are in flight")

    def _free_slot(self):
        if self._slot_waiters:
            slots, self._slots = self._slots, asyncio.Event()
            slots.set()

    async def _dispatch(self, packet):
        kind = packet.kind
        if kind == PUBLISH:
            if packet.qos > 1:
                raise ValueError("mqtt: QoS 2 PUBLISH, but only QoS 0/1 was subscribed")
            self.stats["received"] += 1
            if self.on_message is not None:
                try:
                    self.on_message(packet.topic, packet.payload, packet.retain)
                except Exception as exc:
                    self.stats["callback_errors"] += 1
                    self.last_callback_error = exc
            if packet.qos:
                await self._send(Ack(PUBACK, packet.packet_id).to_bytes())
        elif kind == PUBACK:
            record = self._inflight.pop(packet.packet_id, None)
            if record is not None:
                self.stats["published"] += 1
                record[_DONE].set()
                self._free_slot()
        elif kind == SUBACK or kind == UNSUBACK:
            self._acknowledge(packet)
        else:
            raise ValueError("mqtt: unexpected packet type %d from the broker" % kind)

    def _acknowledge(self, packet):
        record = self._pending.pop(packet.packet_id, None)
        if record is None:
            return
        record[1] = packet.return_codes if packet.kind == SUBACK else True
        if record[0] is not None:
            record[0].set()
        elif SUBACK_FAILURE in record[1]:
            self.last_error = "resubscription refused: %r" % record[2]
        self._free_slot()

    def _link_lost(self):
        """Called by MqttLink when a link is dropped."""
        for record in self._pending.values():
            if record[0] is not None:
                record[0].set()  # result stays None: the caller retries on the next link
        self._pending = {}
        self._free_slot()

    def _stopped(self):
        """Called by MqttLink.stop(): publishes waiting for PUBACK give up."""
        for record in self._inflight.values():
            record[_ERROR] = "client stopped before PUBACK (the message stays queued)"
            record[_DONE].set()
        self._free_slot()
