"""FleetHarness: the fleet service, an in-process gateway and a registry around a test broker.

Shared by the fleet's end-to-end tests. Devices run as processes (the real
runtime under CPython or MicroPython), in process (DeviceApp on a virtual
board, when a test reads its client's counters), or as a bare MqttClient with
a device's credentials (a misbehaving device). The service's MQTT client is
the one `pipit fleet serve` uses (host/fleet/runner.service_client).
"""
import asyncio

from device import identity as identity_file
from device.app import DeviceApp
from device.main import virtual_board
from device.mqtt import MqttClient, tls_context
from host.fleet.enrolment import enroll_device
from host.fleet.gateways import LocalGateway
from host.fleet.operations import host_client
from host.fleet.registry import open_registry
from host.fleet.runner import service_client
from host.fleet.service import FleetService
from host.gateway.server import Gateway, GatewaySettings
from host.runtimes import REPO_ROOT, device_command, device_env


class NullSink:
    def write(self, pcm):
        pass

    def close(self):
        pass


async def wait_until(predicate, timeout_s, what):
    """Poll a condition on the event loop (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep(0.02)


class Inbox:
    """on_message that keeps (topic, payload, retain) in arrival order."""

    def __init__(self):
        self.messages = []

    def __call__(self, topic, payload, retain):
        self.messages.append((topic, bytes(payload), retain))

    def on(self, topic):
        """Payloads received on one topic, oldest first."""
        return [payload for seen, payload, _ in self.messages if seen == topic]


class FleetHarness:
    """Fleet service + in-process gateway + registry around a test broker."""

    def __init__(self, broker, tmp_path, settings=None, sink_factory=None):
        """settings, sink_factory: the gateway's (default: loopback, a sink that drops audio)."""
        self._gateway_settings = settings or GatewaySettings(host="127.0.0.1", port=0)
        self._sink_factory = sink_factory or (lambda session: NullSink())
        self.broker = broker
        self.tmp_path = tmp_path
        self.registry_path = tmp_path / "registry.sqlite"
        self.registry = open_registry(self.registry_path)
        self.identities = {}
        self._clients = []
        self._apps = []
        self._processes = []

    async def __aenter__(self):
        self.gateway = Gateway(self._gateway_settings, sink_factory=self._sink_factory)
        await self.gateway.start()
        self.service = await self._start_service()
        return self

    async def __aexit__(self, *exc):
        for process in self._processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for app, task in self._apps:
            app.stop()
            await asyncio.wait_for(task, 10)
        for client in self._clients:
            await client.stop()
        await self.service.stop()
        await self.gateway.stop()
        self.registry.close()

    async def _start_service(self):
        service = FleetService(service_client(self.broker.info), self.registry,
                               [LocalGateway("gw-1", self.gateway)])
        await service.start()
        return service

    async def restart_service(self, while_down=None):
        """Stop the service, close the registry, run while_down() (sync or async), reopen, start anew."""
        await self.service.stop()
        self.registry.close()
        if while_down is not None:
            done = while_down()
            if asyncio.iscoroutine(done):
                await done
        self.registry = open_registry(self.registry_path)
        self.service = await self._start_service()
        return self.service

    def enroll(self, device_id):
        """Enrol a device; the path of its bootstrap file (its Identity is in self.identities)."""
        identity = enroll_device(self.registry, self.broker.info, device_id)
        self.identities[device_id] = identity
        path = self.tmp_path / (device_id + ".json")
        identity_file.save(identity, path)
        return path

    async def start_device(self, runtime, identity_path, mic_wav):
        """The device runtime as a process; its output goes to <tmp>/<identity>.log."""
        log = open(identity_path.with_suffix(".log"), "ab")
        try:
            process = await asyncio.create_subprocess_exec(
                *device_command(runtime, "device.main", [identity_path, mic_wav]),
                env=device_env(runtime), cwd=str(REPO_ROOT),
                stdout=log, stderr=asyncio.subprocess.STDOUT)
        finally:
            log.close()
        self._processes.append(process)
        return process

    def start_app(self, device_id, mic_wav):
        """The device runtime in this process (DeviceApp on a virtual board), running."""
        app = DeviceApp(self.identities[device_id], virtual_board(mic_wav))
        self._apps.append((app, asyncio.create_task(app.run())))
        return app

    def device_client(self, device_id, **options):
        """A bare MqttClient with a device's own credentials (a device that misbehaves)."""
        identity = self.identities[device_id]
        client = MqttClient(device_id, identity.broker_host, identity.broker_port, username=device_id,
                            password=identity.password, ssl_context=tls_context(identity.ca_pem),
                            server_hostname=self.broker.server_hostname, **options)
        self._clients.append(client)
        return client

    async def observer(self, topic_filters, inbox=None):
        """A host-credential client subscribed to topic_filters; its Inbox sees what is delivered."""
        inbox = inbox or Inbox()
        client = host_client(self.broker.info, "observer")
        client.on_message = inbox
        self._clients.append(client)
        client.start()
        for topic_filter in topic_filters:
            await client.subscribe(topic_filter, 1)
        return inbox

    def media_received(self, device_id=None):
        """Media packets the gateway accepted, over all sessions (retired ones too)."""
        return self.gateway.counters.received
