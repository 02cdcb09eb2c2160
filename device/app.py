"""The device runtime: control over MQTT, media over SRTP.

Boot flow: connect to the broker (TLS, the device's own credentials, a
retained "offline" last will), subscribe to its own config, session grants
and commands, say online and hello, apply the retained config (ack it with
the version), request a media session and stream. When the broker goes away
the media keeps flowing (it never touches the broker) and the MQTT client
reconnects by itself; on reconnect the device says hello again. A new grant
(renewal, or a new gateway) switches SSRC and keys without stopping.

The media session is a conversation (device/talker.py): the board's speaker
plays the answers, its button and the listen/stop commands drive the turns,
listen_mode, half_duplex and volume_pct apply at once, and Telemetry carries
the conversation's state. Runs unchanged on MicroPython and CPython.
"""
import asyncio
import sys

from device import codec
from device.control import settings as settings_rules
from device.control import topics
from device.control.exchanges import CommandAck, SessionRequest
from device.control.messages import ConfigAck, Hello, Status, Telemetry, decode
from device.hal import clock
from device.mqtt import MqttClient, MqttError, Will, tls_context
from device.talker import Talker

FIRMWARE_VERSION = "0.1.0"
# Ask for a new session when this share of the grant's lifetime has passed.
RENEW_AT_SHARE = 0.8
# Without a retained config after connecting, start on defaults after this long.
CONFIG_WAIT_MS = 1500
GRANT_RETRY_MS = 3000
# Telemetry reports held for the broker while it is away (QoS 1, resent on
# reconnect); beyond this, new reports are dropped and counted, so an outage
# costs a bounded amount of memory.
TELEMETRY_QUEUED_MAX = 16


def _runtime():
    return "micropython" if sys.implementation.name == "micropython" else "cpython"


def _free_memory_bytes():
    try:
        import gc
        return gc.mem_free()
    except (ImportError, AttributeError):
        return None


class DeviceApp:
    """One board's control loop; the board (HAL) and identity are passed in."""

    def __init__(self, identity, board, keepalive_s=30):
        self.identity = identity
        self.board = board
        self.settings = settings_rules.effective({})
        self.config_version = 0
        self.session = None
        self.grants = 0
        self.talker = None
        self.rejected = 0
        self.config_repeats = 0
        self.telemetry_dropped = 0
        self._telemetry_tasks = []
        self._talker_task = None
        self._inbox = []
        self._wake = asyncio.Event()
        self._configured = asyncio.Event()
        self._pending_request = None
        self._request_count = 0
        self._renew_at = None
        self._next_telemetry = None
        self._started = clock.ticks_ms()
        self._stopping = False
        status_topic = topics.device_topic(identity.device_id, "status")
        self.client = MqttClient(
            identity.device_id, identity.broker_host, identity.broker_port,
            username=identity.device_id, password=identity.password,
            ssl_context=tls_context(identity.ca_pem), server_hostname=identity.broker_host,
            keepalive_s=keepalive_s, clean_session=False,
            will=Will(status_topic, Status("offline", FIRMWARE_VERSION).encode(), 1, True),
            on_message=self._on_message)
        self.client.on_connect = self._on_connect

    @property
    def uplink(self):
        """The media uplink (None before the first grant)."""
        return None if self.talker is None else self.talker.uplink

    def _topic(self, kind):
        return topics.device_topic(self.identity.device_id, kind)

    def _on_message(self, topic, payload, retain):
        self._inbox.append((topic, bytes(payload)))
        self._wake.set()

    async def _on_connect(self, session_present):
        await self.client.publish(self._topic("status"), Status("online", FIRMWARE_VERSION).encode(),
                                  qos=1, retain=True)
        hello = Hello(self.identity.board, FIRMWARE_VERSION, _runtime(), list(codec.available_codecs()),
                      list(getattr(self.board, "capabilities", ("microphone",))), self.config_version)
        await self.client.publish(self._topic("hello"), hello.encode(), qos=1)

    async def run(self):
        """Run until stop(): connect, configure, get a session, stream, report."""
        # subscribe() waits for the link, so the connection loop starts first;
        # retained config arrives as soon as the subscription is in place.
        self.client.start()
        for topic in topics.device_subscriptions(self.identity.device_id):
            await self.client.subscribe(topic, 1)
        deadline = clock.ticks_add(clock.ticks_ms(), CONFIG_WAIT_MS)
        while not self._stopping:
            await self._drain_inbox()
            now = clock.ticks_ms()
            if self._needs_session(now, deadline):
                await self._request_session("boot" if self.grants == 0 else "renew")
            if self._next_telemetry is not None and clock.ticks_diff(now, self._next_telemetry) >= 0:
                await self._send_telemetry()
            await self._sleep_until_woken(200)
        await self._shutdown()

    def _needs_session(self, now, config_deadline):
        if not self.client.connected:
            return False
        if not self._configured.is_set() and clock.ticks_diff(now, config_deadline) < 0:
            return False
        if self._pending_request is not None:
            return clock.ticks_diff(now, self._pending_request[1]) >= 0
        return self.session is None or (
            self._renew_at is not None and clock.ticks_diff(now, self._renew_at) >= 0)

    async def _sleep_until_woken(self, timeout_ms):
        try:
            await asyncio.wait_for(self._wake.wait(), timeout_ms / 1000)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()

    async def _drain_inbox(self):
        while self._inbox:
            topic, payload = self._inbox.pop(0)
            try:
                kind = topics.parse(topic)[1]
                message = decode(kind, payload)
            except ValueError as error:
                self.rejected += 1
                if topic.endswith("/config"):
                    await self._ack_config(0, False, str(error))
                continue
            await self._handle(kind, message)

    async def _handle(self, kind, message):
        if kind == "config":
            if self._configured.is_set() and message.version == self.config_version:
                # The retained config again (a reconnect): what the device has
                # changed since (a spoken volume, set_config) stays.
                self.config_repeats += 1
            else:
                self._apply_settings(message.settings)
                self.config_version = message.version
            await self._ack_config(message.version, True, None)
            self._configured.set()
        elif kind == "session/grant":
            await self._on_grant(message)
        elif kind == "command":
            await self._on_command(message)

    def _apply_settings(self, settings):
        self.settings = settings_rules.effective(settings)
        if self.talker is not None:
            self.talker.set_volume(self.settings["volume_pct"])
            self.talker.voice_gate = self.settings["voice_gate"]
            self.talker.configure(self.settings["listen_mode"], self.settings["half_duplex"])
        self._next_telemetry = clock.ticks_add(
            clock.ticks_ms(), self.settings["telemetry_interval_s"] * 1000)

    async def _ack_config(self, version, ok, error):
        await self.client.publish(self._topic("config/ack"), ConfigAck(version, ok, error).encode(), qos=1)

    def _codecs(self):
        available = list(codec.available_codecs())
        preferred = self.settings["preferred_codec"]
        if preferred in available:
            available.remove(preferred)
            available.insert(0, preferred)
        return available

    async def _request_session(self, reason):
        self._request_count += 1
        request_id = "%s-%d" % (self.identity.device_id, self._request_count)
        self._pending_request = (request_id, clock.ticks_add(clock.ticks_ms(), GRANT_RETRY_MS))
        request = SessionRequest(request_id, self._codecs(), reason)
        await self.client.publish(self._topic("session/request"), request.encode(), qos=1)

    async def _on_grant(self, grant):
        if self._pending_request is None or grant.request_id != self._pending_request[0]:
            self.rejected += 1  # a stale or foreign grant: keep what works
            return
        self._pending_request = None
        if not grant.granted:
            self._pending_request = (grant.request_id, clock.ticks_add(clock.ticks_ms(), GRANT_RETRY_MS))
            return
        self.session = grant.session
        self.grants += 1
        self._renew_at = clock.ticks_add(clock.ticks_ms(), int(grant.expires_in_s * 1000 * RENEW_AT_SHARE))
        if self.talker is None:
            endpoint = self.board.open_endpoint(grant.session.gateway_host, grant.session.gateway_port)
            settings = self.settings
            self.talker = Talker(
                grant.session, self.board.mic, endpoint, speaker=getattr(self.board, "speaker", None),
                button=getattr(self.board, "button", None), mode=settings["listen_mode"],
                half_duplex=settings["half_duplex"], volume_pct=settings["volume_pct"],
                led=getattr(self.board, "led", None), voice_gate=settings["voice_gate"])
            self.talker.on_volume = self._on_volume
            self._talker_task = asyncio.create_task(self.talker.run())
        else:
            self.talker.replace_session(grant.session)

    def _on_volume(self, volume_pct):
        """The gateway set the volume in-band (a spoken "louder"): keep it as the setting."""
        self.settings["volume_pct"] = volume_pct

    async def _on_command(self, command):
        ok, error, result = True, None, None
        name = command.name
        if name == "volume":
            self._apply_settings(dict(self.settings, volume_pct=command.args["volume_pct"]))
            result = {"volume_pct": self.settings["volume_pct"]}
        elif name == "set_config":
            self._apply_settings(dict(self.settings, **command.args["settings"]))
        elif name in ("stop", "listen"):
            if self.talker is None:
                ok, error = False, "no media session yet"
            elif name == "listen":
                self.talker.listen()
            else:
                self.talker.stop_turn()
            if self.talker is not None:
                result = {"state": self.talker.conversation.state}
        elif name == "reboot":
            self._stopping = True
        ack = CommandAck(command.id, ok, error, result)
        await self.client.publish(self._topic("command/ack"), ack.encode(), qos=1)

    async def _send_telemetry(self):
        self._next_telemetry = clock.ticks_add(clock.ticks_ms(), self.settings["telemetry_interval_s"] * 1000)
        audio = {"frames_captured": 0, "packets_sent": 0, "rtcp_received": 0, "fraction_lost": 0.0,
                 "packets_lost": 0, "jitter_ms": 0.0, "round_trip_ms": None}
        if self.uplink is not None:
            stats = self.uplink.stats.as_dict()
            for name in audio:
                audio[name] = stats[name]
        stats = self.client.stats
        telemetry = Telemetry(
            uptime_s=clock.ticks_diff(clock.ticks_ms(), self._started) // 1000,
            free_memory_bytes=_free_memory_bytes(),
            wifi_rssi_dbm=self.board.wifi_rssi_dbm() if hasattr(self.board, "wifi_rssi_dbm") else None,
            audio=audio, mqtt={"connects": stats["connects"], "publish_retries": stats["publish_retries"]},
            conversation=None if self.talker is None else self.talker.telemetry())
        # Not awaited here: a PUBACK only comes once the broker is back, and the
        # control loop must keep reporting (and serving) meanwhile.
        self._telemetry_tasks = [task for task in self._telemetry_tasks if not task.done()]
        if len(self._telemetry_tasks) >= TELEMETRY_QUEUED_MAX:
            self.telemetry_dropped += 1
            return
        self._telemetry_tasks.append(asyncio.create_task(self._publish_telemetry(telemetry.encode())))

    async def _publish_telemetry(self, payload):
        try:
            await self.client.publish(self._topic("telemetry"), payload, qos=1)
        except MqttError:
            pass  # stopped before the broker acknowledged it

    def stop(self):
        """Ask run() to return (used by a reboot command and by tests)."""
        self._stopping = True
        self._wake.set()

    async def _shutdown(self):
        if self.talker is not None:
            self.talker.stop()
            try:
                await self._talker_task
            except asyncio.CancelledError:
                pass
        await self.client.stop()
        for task in self._telemetry_tasks:  # stop() ended their waits
            await task
