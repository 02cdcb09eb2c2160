"""The connection under the MQTT client: connect, keep the link up, tear it down.

MqttLink holds one link at a time (TCP or TLS on asyncio.open_connection): the
CONNECT/CONNACK handshake, then a reader task and a keepalive task per link.
Writes are serialised by a lock so packets never interleave. One task keeps
the connection (start()), reconnecting with backoff. The MQTT session on the
link (publishing, subscriptions, what is resent) is MqttClient's, in
device/mqtt/client.py.
"""
import asyncio
import random

from device.hal.clock import sleep_ms, ticks_add, ticks_diff, ticks_ms
from device.mqtt.connect import CONNACK_REASONS
from device.mqtt.packets import DISCONNECT_BYTES, PINGREQ_BYTES
from device.mqtt.stream import close_writer, describe_error, drain, read_packet, wait_for_ms
from device.mqtt.wire import CONNACK, PINGRESP

_TIMEOUT = asyncio.TimeoutError
_CLOSE_TIMEOUT_MS = 1000


class MqttError(Exception):
    """A connection or request failed; code is the CONNACK return code or None."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code



class MqttLink:
    """One MQTT connection at a time, kept up; the session on it is the subclass's.

    The subclass (MqttClient) provides `stats` (with the counters named here)
    and the hooks: _session_up(gen, session_present) once a link is up,
    _dispatch(packet) for every packet but PINGRESP, _link_lost() and _stopped().
    """

    def __init__(self, host, port, ssl_context, server_hostname, keepalive_s, connect_packet,
                 backoff_min_ms, backoff_max_ms, connect_timeout_ms, max_packet_bytes):
        self.host, self.port = host, port
        self.ssl_context, self.server_hostname = ssl_context, server_hostname
        self.keepalive_s = keepalive_s
        self.on_connect = None
        self.backoff_min_ms, self.backoff_max_ms = max(1, backoff_min_ms), backoff_max_ms
        self.connect_timeout_ms = int(connect_timeout_ms)
        self.max_packet_bytes = max_packet_bytes
        self._connect_packet = connect_packet
        self.last_error = None
        self.last_callback_error = None
        self._reader = self._writer = None
        self._connected = False
        self._stopping = False
        self._gen = 0
        self._link_tasks = []
        self._keeper = self._on_connect_task = None
        self._write_lock = asyncio.Lock()  # one per link: a stuck old link cannot block a new one
        self._state = asyncio.Event()  # replaced on every change: waiters wake, re-check
        self._pingresp = asyncio.Event()

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
            reader, writer, session_present = await wait_for_ms(self._handshake(), self.connect_timeout_ms)
        except MqttError as exc:
            raise self._failed(exc)
        except _TIMEOUT:
            raise self._failed(MqttError("connect timed out after %d ms" % self.connect_timeout_ms))
        except Exception as exc:  # OSError, TLS errors, EOF, malformed CONNACK
            text = describe_error(exc) + (" before CONNACK" if isinstance(exc, EOFError) else "")
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
            close_writer(writer)
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
        await self._session_up(gen, session_present)

    def _ready(self, session_present):
        """The session is set up on this link: connected, waiters woken, on_connect started."""
        self._connected = True
        self._changed()
        if self.on_connect is not None:
            self._on_connect_task = asyncio.create_task(self._run_on_connect(session_present))

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
                await wait_for_ms(self._state.wait(), left)
            except _TIMEOUT:
                return False
        return True

    async def _wait_link(self):
        while not self._connected:
            if self._stopping:
                raise MqttError("client stopped")
            await self._state.wait()

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
                await drain(self._writer, self.connect_timeout_ms)
                return True
            except Exception as exc:  # OSError, TLS errors, drain timeout
                self._drop(gen, "write failed: " + describe_error(exc))
                return False

    async def _read_loop(self, gen, reader):
        try:
            while True:
                packet = await read_packet(reader, self.max_packet_bytes)
                if packet.kind == PINGRESP:
                    self._pingresp.set()
                else:
                    await self._dispatch(packet)
        except Exception as exc:  # EOF, OSError, TLS errors, malformed packets
            if isinstance(exc, ValueError) and str(exc).startswith("mqtt:"):
                self.stats["malformed"] += 1
            self._drop(gen, "connection lost: " + describe_error(exc))

    async def _ping_loop(self, gen):
        interval_ms = self.keepalive_s * 1000
        next_ping = ticks_add(ticks_ms(), interval_ms)
        while gen == self._gen:
            await sleep_ms(ticks_diff(next_ping, ticks_ms()))
            self._pingresp.clear()
            next_ping = ticks_add(ticks_ms(), interval_ms)
            try:
                # Bounded as a whole: a write stuck behind a full buffer is a dead link too.
                if not await wait_for_ms(self._send(PINGREQ_BYTES), interval_ms):
                    return
                await wait_for_ms(self._pingresp.wait(), interval_ms)
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
            close_writer(writer, graceful)
        except Exception:
            pass  # already closed by the peer
        self._link_lost()
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
                await wait_for_ms(self._send(DISCONNECT_BYTES), _CLOSE_TIMEOUT_MS)
            except _TIMEOUT:
                pass  # a stuck link: closing it is all that is left
            self._drop(self._gen, "stopped", graceful=True)
            if hasattr(writer, "transport"):
                try:
                    await wait_for_ms(writer.wait_closed(), _CLOSE_TIMEOUT_MS)
                except Exception:
                    pass
        self._stopped()
        self._changed()
