"""Asyncio MQTT 3.1.1 client shared by the device runtime and the host services.

Why our own: micropython-lib's umqtt.simple blocks the event loop; mqtt_as
is tied to the ESP32 network stack (it manages the WLAN itself); aiomqttc's
wheel installs top-level main.py/config.py/wifi.py that would shadow the
device's own; CPython clients (paho, aiomqtt) do not run on MicroPython. The
control plane needs one behaviour on both runtimes (QoS 1 that survives
reconnects, resubscription, last will, TLS), so this is a small client on
asyncio.open_connection, with the packets in device/mqtt/packets.py.

One task keeps the connection (start()); each link has a reader task and a
keepalive task. Writes are serialised by a lock so packets never interleave.
"""
import asyncio
import errno
import random

from device.hal.clock import sleep_ms, ticks_add, ticks_diff, ticks_ms
from device.mqtt.connect import CONNACK_REASONS, Connect
from device.mqtt.packets import (
    DISCONNECT_BYTES, PINGREQ_BYTES, SUBACK_FAILURE, Ack, Publish, Subscribe, Unsubscribe, decode,
)
from device.mqtt.wire import (
    CONNACK, PINGRESP, PUBACK, PUBLISH, SUBACK, UNSUBACK, decode_varint, validate_topic_filter,
    validate_topic_name,
)

_TIMEOUT = asyncio.TimeoutError
_RESUBSCRIBE_BATCH = 8
_CLOSE_TIMEOUT_MS = 1000
# Inflight record fields: encoded PUBLISH (bytearray), done event, link
# generation it was last sent on (-1: never), error text, queue order.
_PACKET, _DONE, _SENT_GEN, _ERROR, _ORDER = 0, 1, 2, 3, 4
STAT_NAMES = ("connects", "reconnects", "connect_failures", "published", "publish_retries",
              "received", "malformed", "callback_errors", "dropped_qos0")


class MqttError(Exception):
    """A connection or request failed; code is the CONNACK return code or None."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


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


def _wait_for_ms(awaitable, timeout_ms):
    if hasattr(asyncio, "wait_for_ms"):
        return asyncio.wait_for_ms(awaitable, timeout_ms)
    return asyncio.wait_for(awaitable, timeout_ms / 1000)


def _drain(writer, timeout_ms):
    if hasattr(writer, "transport"):
        # CPython: abort() in _drop wakes a blocked drain() with an error.
        return writer.drain()
    # MicroPython: a drain blocked on a socket closed under it never wakes,
    # so it is bounded; on timeout the link is dropped.
    return asyncio.wait_for_ms(writer.drain(), timeout_ms)


def _abort(writer, graceful=False):
    transport = getattr(writer, "transport", None)
    if transport is None:  # MicroPython: drain() already flushed; close the socket
        writer.s.close()
    elif graceful:  # CPython: close() flushes what is buffered first
        writer.close()
    else:
        transport.abort()


def _describe(exc):
    if isinstance(exc, OSError) and exc.args and exc.args[0] == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, EOFError):
        return "connection closed by the broker"
    text = " ".join(str(exc).split())
    if isinstance(exc, ValueError) and text.startswith("mqtt:"):
        return "protocol error: " + text
    return "%s: %s" % (type(exc).__name__, text)


async def read_packet(reader, max_packet_bytes):
    """Read one packet with exact reads; a body over the limit is refused unread."""
    head = await reader.readexactly(2)
    length = head[1]
    if length & 0x80:
        header = bytearray(head)
        while header[-1] & 0x80:
            if len(header) == 5:
                raise ValueError("mqtt: remaining length longer than 4 bytes")
            header += await reader.readexactly(1)
        length = decode_varint(header, 1)[0]
    if length > max_packet_bytes:
        raise ValueError("mqtt: packet of %d bytes exceeds the %d-byte limit" % (length, max_packet_bytes))
    return decode(head[0], await reader.readexactly(length) if length else b"")


class MqttClient:
    """MQTT 3.1.1 over asyncio streams (TCP or TLS), QoS 0 and 1."""

    def __init__(self, client_id, host, port, username=None, password=None, ssl_context=None,
                 server_hostname=None, keepalive_s=30, clean_session=True, will=None,
                 on_message=None, backoff_min_ms=200, backoff_max_ms=30000,
                 connect_timeout_ms=10000, max_packet_bytes=16384, max_inflight=65535):
        self.host, self.port = host, port
        self.ssl_context, self.server_hostname = ssl_context, server_hostname
        self.keepalive_s = keepalive_s
        self.on_message, self.on_connect = on_message, None
        self.backoff_min_ms, self.backoff_max_ms = max(1, backoff_min_ms), backoff_max_ms
        self.connect_timeout_ms = int(connect_timeout_ms)
        self.max_packet_bytes, self.max_inflight = max_packet_bytes, max(1, min(max_inflight, 65535))
        self._connect_packet = Connect(
            client_id, keepalive_s, clean_session, username, password,
            will.topic if will else None, will.payload if will else b"",
            will.qos if will else 0, will.retain if will else False).to_bytes()
        self.stats = dict((name, 0) for name in STAT_NAMES)
        self.last_error = None
        self.last_callback_error = None
        self._reader = self._writer = None
        self._connected = False
        self._stopping = False
        self._gen = 0
        self._link_tasks = []
        self._keeper = self._on_connect_task = None
        self._write_lock = asyncio.Lock()  # one per link: a stuck old link cannot block a new one
        self._slots = asyncio.Event()
        self._slot_waiters = 0
        self._state = asyncio.Event()  # replaced on every change: waiters wake, re-check
        self._pingresp = asyncio.Event()
        self._inflight = {}  # packet id -> record (QoS 1 PUBLISH awaiting PUBACK)
        self._pending = {}  # packet id -> [event or None, result, filters] (SUB/UNSUB)
        self._subscriptions = {}  # topic filter -> QoS, for resubscription
        self._next_id = 0
        self._order = 0

    @property
    def connected(self):
        """True while a link is up and set up (resubscribed, queue resent)."""
        return self._connected

    def _changed(self):
        state, self._state = self._state, asyncio.Event()
        state.set()

    async def connect(self):
        """One connection attempt; returns session_present or raises MqttError."""
        if self._writer is not None:
            raise MqttError("already connected")
        self._stopping = False
        try:
            reader, writer, session_present = await _wait_for_ms(self._handshake(), self.connect_timeout_ms)
        except MqttError as exc:
            raise self._failed(exc)
        except _TIMEOUT:
            raise self._failed(MqttError("connect timed out after %d ms" % self.connect_timeout_ms))
        except Exception as exc:  # OSError, TLS errors, EOF, malformed CONNACK
            text = _describe(exc) + (" before CONNACK" if isinstance(exc, EOFError) else "")
            raise self._failed(MqttError(text))
        await self._link_up(reader, writer, session_present)
        if not self._connected:
            raise MqttError("link lost while resubscribing: %s" % self.last_error)
        return session_present

    def _failed(self, exc):
        self.stats["connect_failures"] += 1
        self.last_error = str(exc)
        return exc

    async def _handshake(self):
        options = {}
        if self.ssl_context is not None:
            options["ssl"] = self.ssl_context
            options["server_hostname"] = self.server_hostname or self.host
        reader, writer = await asyncio.open_connection(self.host, self.port, **options)
        try:
            writer.write(self._connect_packet)
            await writer.drain()
            packet = await read_packet(reader, self.max_packet_bytes)
            if packet.kind != CONNACK:
                raise ValueError("mqtt: expected CONNACK, got packet type %d" % packet.kind)
            if packet.return_code:
                raise MqttError(CONNACK_REASONS[packet.return_code], packet.return_code)
        except BaseException:
            _abort(writer)
            raise
        return reader, writer, packet.session_present

    async def _link_up(self, reader, writer, session_present):
        self._gen += 1
        gen = self._gen
        self._reader, self._writer = reader, writer
        self._write_lock = asyncio.Lock()
        self._link_tasks = [asyncio.create_task(self._read_loop(gen, reader))]
        if self.keepalive_s:
            self._link_tasks.append(asyncio.create_task(self._ping_loop(gen)))
        self.stats["connects"] += 1
        if self.stats["connects"] > 1:
            self.stats["reconnects"] += 1
        if not session_present and self._subscriptions:
            await self._resubscribe()
        # Loop until nothing is left unsent on this link, then flip the flag with
        # no await in between, so a publish() queued meanwhile is never stranded.
        while gen == self._gen and self._writer is not None:
            queued = [(record[_ORDER], pid) for pid, record in self._inflight.items()
                      if record[_SENT_GEN] != gen]
            if not queued:
                self._connected = True
                self._changed()
                if self.on_connect is not None:
                    self._on_connect_task = asyncio.create_task(self._run_on_connect(session_present))
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

    async def _run_on_connect(self, session_present):
        try:
            await self.on_connect(session_present)
        except Exception as exc:
            self.stats["callback_errors"] += 1
            self.last_callback_error = exc

    def start(self):
        """Keep the connection up in a task: connect, and reconnect with backoff."""
        self._stopping = False
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep())

    async def _keep(self):
        attempt = 0
        while True:
            while self._writer is not None:
                await self._state.wait()
            if attempt or self.stats["connects"]:
                await sleep_ms(self._backoff_ms(attempt))
            try:
                await self.connect()
                attempt = 0
            except Exception as exc:  # MqttError; anything else must not end the loop
                self.last_error = str(exc)
                attempt += 1

    def _backoff_ms(self, attempt):
        """Full jitter: uniform in 0..min(max, min * 2**attempt)."""
        cap = min(self.backoff_max_ms, self.backoff_min_ms << min(attempt, 24))
        return random.getrandbits(30) % (cap + 1)

    async def wait_connected(self, timeout_ms=None):
        """Wait until connected (True) or until timeout_ms passes / stop() (False)."""
        deadline = None if timeout_ms is None else ticks_add(ticks_ms(), int(timeout_ms))
        while not self._connected:
            if self._stopping:
                return False
            if deadline is None:
                await self._state.wait()
                continue
            left = ticks_diff(deadline, ticks_ms())
            if left <= 0:
                return False
            try:
                await _wait_for_ms(self._state.wait(), left)
            except _TIMEOUT:
                return False
        return True

    async def _wait_link(self):
        while not self._connected:
            if self._stopping:
                raise MqttError("client stopped")
            await self._state.wait()

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

    async def _send(self, data):
        """Write one packet on the current link; False (link dropped) on failure."""
        gen, lock = self._gen, self._write_lock
        if self._writer is None:
            return False
        async with lock:
            if gen != self._gen or self._writer is None:
                return False
            try:
                self._writer.write(data)
                await _drain(self._writer, self.connect_timeout_ms)
                return True
            except Exception as exc:  # OSError, TLS errors, drain timeout
                self._drop(gen, "write failed: " + _describe(exc))
                return False

    async def _read_loop(self, gen, reader):
        try:
            while True:
                packet = await read_packet(reader, self.max_packet_bytes)
                await self._dispatch(packet)
        except Exception as exc:  # EOF, OSError, TLS errors, malformed packets
            if isinstance(exc, ValueError) and str(exc).startswith("mqtt:"):
                self.stats["malformed"] += 1
            self._drop(gen, "connection lost: " + _describe(exc))

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
        elif kind == PINGRESP:
            self._pingresp.set()
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

    async def _ping_loop(self, gen):
        interval_ms = self.keepalive_s * 1000
        next_ping = ticks_add(ticks_ms(), interval_ms)
        while gen == self._gen:
            await sleep_ms(ticks_diff(next_ping, ticks_ms()))
            self._pingresp.clear()
            next_ping = ticks_add(ticks_ms(), interval_ms)
            try:
                # Bounded as a whole: a write stuck behind a full buffer is a dead link too.
                if not await _wait_for_ms(self._send(PINGREQ_BYTES), interval_ms):
                    return
                await _wait_for_ms(self._pingresp.wait(), interval_ms)
            except _TIMEOUT:
                self._drop(gen, "no PINGRESP within %d s: link is dead" % self.keepalive_s)
                return

    def abort(self):
        """Close the socket without DISCONNECT, as a dying link would (the will fires)."""
        self._drop(self._gen, "aborted")

    def _drop(self, gen, reason, graceful=False):
        """Tear down link `gen` (no-op if it is already gone)."""
        if gen != self._gen or self._writer is None:
            return
        writer, self._writer, self._reader = self._writer, None, None
        self._connected = False
        self.last_error = reason
        current = asyncio.current_task()
        for task in self._link_tasks:
            if task is not current:
                task.cancel()
        self._link_tasks = []
        try:
            _abort(writer, graceful)
        except Exception:
            pass  # already closed by the peer
        for record in self._pending.values():
            if record[0] is not None:
                record[0].set()  # result stays None: the caller retries on the next link
        self._pending = {}
        self._free_slot()
        self._changed()

    async def stop(self):
        """DISCONNECT (so no will is sent), cancel the tasks, close the socket; idempotent."""
        self._stopping = True
        for task in (self._keeper, self._on_connect_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                try:
                    await task
                except BaseException:  # CancelledError, or whatever it died of
                    pass
        self._keeper = self._on_connect_task = None
        writer = self._writer
        if writer is not None:
            try:
                await _wait_for_ms(self._send(DISCONNECT_BYTES), _CLOSE_TIMEOUT_MS)
            except _TIMEOUT:
                pass  # a stuck link: closing it is all that is left
            self._drop(self._gen, "stopped", graceful=True)
            if hasattr(writer, "transport"):
                try:
                    await _wait_for_ms(writer.wait_closed(), _CLOSE_TIMEOUT_MS)
                except Exception:
                    pass
        for record in self._inflight.values():
            record[_ERROR] = "client stopped before PUBACK (the message stays queued)"
            record[_DONE].set()
        self._free_slot()
        self._changed()


def tls_context(ca):
    """A client SSLContext that requires a server certificate signed by `ca`.

    ca: the CA certificate, PEM (bytes or str) or DER bytes. On MicroPython the
    context must be told to verify (ssl.SSLContext defaults to CERT_NONE there)
    and the unix port's mbedtls parses only DER, so PEM is converted first.
    """
    import ssl
    if isinstance(ca, str):
        ca = ca.encode()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if hasattr(context, "check_hostname"):  # CPython: verifies and checks the name by default
        context.load_verify_locations(cadata=ca.decode() if b"-----BEGIN" in ca else ca)
    else:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=pem_to_der(ca) if b"-----BEGIN" in ca else ca)
    return context


def pem_to_der(pem):
    """DER bytes of the first certificate in a PEM blob."""
    import binascii
    begin = pem.find(b"-----BEGIN CERTIFICATE-----")
    end = pem.find(b"-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        raise ValueError("mqtt: no PEM certificate found")
    return binascii.a2b_base64(pem[begin + 27:end])
