"""The fleet service: ingests what devices report, grants media sessions.

It subscribes (as the host credential) to every device's uplink topics,
records hello, status, acknowledgements and telemetry in the registry,
republishes a device's retained config when the device runs another version,
and answers session requests: it picks the device's gateway, installs a
session with fresh SSRCs and keys there, and only then grants it, so the
first media packet already finds its session. A message that does not parse
or comes from an unknown device is refused, counted and never stops the
service. On start it publishes configs set while it was away; an offline
status for a revoked device retires that device's sessions. Depends on MQTT
3.1.1 only (no broker-specific behaviour).
"""
import asyncio
import logging
import time

from device.control import topics
from device.control.exchanges import SessionGrant
from device.control.messages import decode
from host.fleet.gateways import pick_gateway
from host.sessions import new_session

log = logging.getLogger(__name__)

DEFAULT_SESSION_TTL_S = 3600
# An old session stays installed this long after its replacement was granted,
# so packets already in flight under the old keys still land.
SESSION_OVERLAP_S = 10
CODECS_BY_PREFERENCE = ("opus", "l16")
# Each grant installs a session (and, on a conversation gateway, a pipeline):
# a device asking again sooner than this is refused, so a faulty or hostile
# device cannot pile sessions up on the gateway. Devices retry a refusal
# after 3 s (device/app.py GRANT_RETRY_MS).
DEFAULT_MIN_GRANT_INTERVAL_S = 2.0


class FleetService:
    """Host side of the control plane; the MQTT client, registry and gateways are injected."""

    def __init__(self, client, registry, gateways, session_ttl_s=DEFAULT_SESSION_TTL_S,
                 clock=time.time, shared_group=None, min_grant_interval_s=DEFAULT_MIN_GRANT_INTERVAL_S):
        self.client = client
        self.registry = registry
        self.gateways = list(gateways)
        self.session_ttl_s = session_ttl_s
        self.shared_group = shared_group
        self.counters = {"received": 0, "rejected": 0, "unknown_device": 0, "granted": 0,
                         "grant_refused": 0, "grant_too_soon": 0, "configs_published": 0}
        self.min_grant_interval_s = min_grant_interval_s
        self._granted_at = {}  # device id -> when its last session was granted (clock seconds)
        self.rejections = {}
        self._clock = clock
        self._queue = asyncio.Queue()
        self._worker = None
        self._sessions = {}  # device id -> [(gateway link, uplink ssrc)], newest last
        self._waiters = []   # (predicate(device_id, kind, message), future)

    async def start(self):
        """Subscribe to every device's uplink topics and start handling messages."""
        self.client.on_message = self._on_message
        self.client.start()
        for topic_filter in topics.fleet_subscriptions():
            if self.shared_group:
                topic_filter = "$share/%s/%s" % (self.shared_group, topic_filter)
            await self.client.subscribe(topic_filter, 1)
        self._worker = asyncio.create_task(self._work())
        await self._publish_pending_configs()

    async def _publish_pending_configs(self):
        # A config set while no service ran (`pipit fleet set` with the service
        # down, or a restart) reaches connected devices now, not at their next
        # hello, which may be days away. A device never seen gets its config
        # on its first hello anyway.
        for record in self.registry.list():
            if record.config_pending and record.config_version_desired and record.firmware is not None:
                await self.publish_config(record.id)

    async def stop(self):
        """Stop handling and disconnect (sessions stay installed on the gateways)."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        await self.client.stop()

    def _on_message(self, topic, payload, retain):
        self._queue.put_nowait((topic, bytes(payload)))

    async def _work(self):
        while True:
            topic, payload = await self._queue.get()
            try:
                await self.handle(topic, payload)
            except Exception:  # a bug in one handler must not stop the fleet
                self._refuse("handler error")
                log.exception("fleet: handling %s failed", topic)

    def _refuse(self, reason):
        self.counters["rejected"] += 1
        self.rejections[reason] = self.rejections.get(reason, 0) + 1

    async def handle(self, topic, payload):
        """Handle one message from a device topic."""
        self.counters["received"] += 1
        try:
            device_id, kind = topics.parse(topic)
            message = decode(kind, payload)
        except ValueError as error:
            self._refuse(str(error).split(":")[0])
            log.warning("fleet: refused message on %s: %s", topic, error)
            return
        now_s = self._clock()
        handler = getattr(self, "_on_" + kind.replace("/", "_"), None)
        if handler is None:  # a device-bound kind echoed back to us: ignore
            return
        if not await handler(device_id, message, now_s):
            self.counters["unknown_device"] += 1
            return
        self._notify(device_id, kind, message)

    async def _on_hello(self, device_id, hello, now_s):
        if not self.registry.record_hello(device_id, hello, now_s):
            return False
        record = self.registry.get(device_id)
        if record.config_version_desired and hello.config_version != record.config_version_desired:
            await self.publish_config(device_id)
        return True

    async def _on_status(self, device_id, status, now_s):
        if self.registry.record_status(device_id, status.online, now_s):
            return True
        record = self.registry.get(device_id)
        if record is not None and record.revoked:
            # Revocation publishes this offline status (enrolment.revoke_device):
            # the device's media stops now, not when its grant runs out.
            for link, ssrc in self._sessions.pop(device_id, []):
                link.retire(ssrc)
        return False

    async def _on_config_ack(self, device_id, ack, now_s):
        return self.registry.record_config_ack(device_id, ack.version, ack.ok, ack.error, now_s)

    async def _on_telemetry(self, device_id, telemetry, now_s):
        return self.registry.record_telemetry(device_id, telemetry, now_s)

    async def _on_command_ack(self, device_id, ack, now_s):
        return self.registry.record_command_ack(device_id, ack, now_s)

    async def _on_session_request(self, device_id, request, now_s):
        record = self.registry.get(device_id)
        if record is None or record.revoked:
            return False
        since_s = now_s - self._granted_at.get(device_id, now_s - self.min_grant_interval_s)
        if since_s < self.min_grant_interval_s:
            error = "too many session requests: the last grant was %.1f s ago, wait %.0f s" % (
                since_s, self.min_grant_interval_s)
            await self._publish(device_id, "session/grant", SessionGrant(request.request_id, error=error))
            self.counters["grant_too_soon"] += 1
            return True
        codec_name = next((c for c in request.codecs if c in CODECS_BY_PREFERENCE), None)
        link = pick_gateway(self.gateways, record.gateway, self._sessions.get(device_id, ()))
        if codec_name is None or link is None:
            reason = "no common codec" if codec_name is None else "no gateway available"
            await self._publish(device_id, "session/grant", SessionGrant(request.request_id, error=reason))
            self.counters["grant_refused"] += 1
            return True
        host, port = link.media_address
        session = new_session(host, port, codec_name)
        link.install(session)
        self._granted_at[device_id] = now_s
        self._retire_later(device_id, link, session.uplink_ssrc)
        if record.gateway != link.gateway_id:
            self.registry.assign_gateway(device_id, link.gateway_id)
        grant = SessionGrant(request.request_id, session, self.session_ttl_s)
        await self._publish(device_id, "session/grant", grant)
        self.counters["granted"] += 1
        return True

    def _retire_later(self, device_id, link, ssrc):
        loop = asyncio.get_running_loop()
        previous = self._sessions.get(device_id, [])
        for old_link, old_ssrc in previous:
            loop.call_later(SESSION_OVERLAP_S, old_link.retire, old_ssrc)
        self._sessions[device_id] = [(link, ssrc)]
        # An unrenewed session ends a little after its grant expires.
        loop.call_later(self.session_ttl_s + SESSION_OVERLAP_S, link.retire, ssrc)

    async def _publish(self, device_id, kind, message):
        await self.client.publish(topics.device_topic(device_id, kind), message.encode(), qos=1,
                                  retain=topics.is_retained(kind))

    async def publish_config(self, device_id):
        """Publish a device's desired config (retained); False if it has none."""
        config = self.registry.config_message(device_id)
        if config is None:
            return False
        await self._publish(device_id, "config", config)
        self.counters["configs_published"] += 1
        return True

    def _notify(self, device_id, kind, message):
        for entry in list(self._waiters):
            predicate, future = entry
            if not future.done() and predicate(device_id, kind, message):
                future.set_result(message)

    async def wait_for(self, device_id, kind, timeout_s, match=lambda message: True):
        """Wait for the next message of `kind` from a device that satisfies match()."""
        future = asyncio.get_running_loop().create_future()
        entry = (lambda d, k, m: d == device_id and k == kind and match(m), future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout_s)
        finally:
            self._waiters.remove(entry)
