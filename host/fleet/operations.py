"""Fleet operations the CLI runs: push config, send a command, wait for acks.

Each opens a short-lived MQTT connection with the host credential, so they
work whether or not a fleet service is running (when one is, it records the
same acknowledgements in the registry; here they are also recorded).
"""
import asyncio
import secrets
import time
from pathlib import Path

from device.control import topics
from device.control.exchanges import Command
from device.control.messages import decode
from device.mqtt import MqttClient, tls_context
from host.fleet import broker as pipit_broker
from host.fleet import broker_files

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[2] / "var"


class FleetPaths:
    """Where the host keeps its state: broker, registry, device bootstrap files."""

    def __init__(self, state_dir=None):
        self.root = Path(state_dir or DEFAULT_STATE_DIR).resolve()
        self.broker = self.root / "broker"
        self.registry = self.root / "fleet" / "registry.sqlite"
        self.devices = self.root / "devices"
        self.recordings = self.root / "recordings"


def host_client(info, purpose="cli", client_id=None, clean_session=True):
    """An MqttClient with the host credential for the broker described by info."""
    # It reads what devices publish, so it takes any packet the broker lets
    # through: with a smaller limit, one oversized device message would drop
    # the host's link (and, retained or queued, drop it again on every reconnect).
    return MqttClient(client_id or "pipit-%s-%s" % (purpose, secrets.token_hex(4)), info.connect_host,
                      info.port, username=info.fleet.username, password=info.fleet.password,
                      ssl_context=tls_context(Path(info.ca_path).read_text()),
                      server_hostname=info.server_hostname, clean_session=clean_session,
                      max_packet_bytes=broker_files.MAX_PACKET_BYTES)


class _AckCollector:
    """Collects decoded messages of one kind from a set of devices."""

    def __init__(self, kind, device_ids, accept):
        self.kind, self.pending, self.accept = kind, set(device_ids), accept
        self.received = {}
        self.done = asyncio.Event()
        if not self.pending:
            self.done.set()

    def on_message(self, topic, payload, retain):
        try:
            device_id, kind = topics.parse(topic)
            message = decode(kind, payload)
        except ValueError:
            return
        if kind == self.kind and device_id in self.pending and self.accept(message):
            self.pending.discard(device_id)
            self.received[device_id] = message
            if not self.pending:
                self.done.set()


async def _collect(info, kind, device_ids, accept, publish, wait_s):
    collector = _AckCollector(kind, device_ids, accept)
    client = host_client(info)
    client.on_message = collector.on_message
    client.start()
    try:
        await client.subscribe(topics.DEVICES_PREFIX + "+/" + kind, 1)
        await publish(client)
        try:
            await asyncio.wait_for(collector.done.wait(), wait_s)
        except asyncio.TimeoutError:
            pass
    finally:
        await client.stop()
    return collector.received


async def push_config(info, registry, selector, settings, wait_s=5.0):
    """Merge settings into the selected devices' config, publish, wait for acks.

    Returns (version, device_ids, {device_id: ConfigAck}) ; devices that did
    not answer within wait_s are absent from the dict (offline ones will get
    the retained config when they connect).
    """
    version, device_ids = registry.set_config(selector, settings)
    if version is None:
        return None, [], {}

    async def publish(client):
        for device_id in device_ids:
            config = registry.config_message(device_id)
            await client.publish(topics.device_topic(device_id, "config"), config.encode(), qos=1, retain=True)

    acks = await _collect(info, "config/ack", device_ids, lambda ack: ack.version == version, publish, wait_s)
    now_s = time.time()
    for device_id, ack in acks.items():
        registry.record_config_ack(device_id, ack.version, ack.ok, ack.error, now_s)
    return version, device_ids, acks


async def send_command(info, registry, device_id, name, args, wait_s=5.0):
    """Send a command to one device; its CommandAck, or None without an answer."""
    command = Command("cmd-%s" % secrets.token_hex(6), name, args)
    command = Command.from_dict(command.to_dict())  # validate before sending

    async def publish(client):
        await client.publish(topics.device_topic(device_id, "command"), command.encode(), qos=1)

    acks = await _collect(info, "command/ack", [device_id],
                          lambda ack: ack.id == command.id, publish, wait_s)
    ack = acks.get(device_id)
    if ack is not None:
        registry.record_command_ack(device_id, ack, time.time())
    return ack


async def publish_status(info, device_id, status, timeout_s=10.0):
    """Publish a device's retained Status as the host (for when its will cannot: revocation)."""
    client = host_client(info, "status")
    try:
        await asyncio.wait_for(client.connect(), timeout_s)
        client.start()
        await asyncio.wait_for(client.publish(topics.device_topic(device_id, "status"), status.encode(),
                                              qos=1, retain=True), timeout_s)
    finally:
        await client.stop()


def broker_for(paths):
    """BrokerInfo of the broker in this state dir (BrokerError if never started)."""
    return pipit_broker.broker_info(paths.broker)
