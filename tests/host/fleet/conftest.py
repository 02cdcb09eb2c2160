"""The `broker` fixture: a fully configured pipit broker (host/fleet/broker.py) per test.

TLS only, dynamic security, the pattern ACL, persistence; in tmp_path, on a
free loopback port; about 50 ms to start. Tests elsewhere can use it with
`from tests.host.fleet.conftest import broker  # noqa: F401`.
"""
import secrets
import socket

import pytest

from device.mqtt.client import MqttClient
from host.fleet import broker as pipit_broker
from host.fleet import broker_process

_START_ATTEMPTS = 5


def free_tcp_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PipitBroker:
    """A running pipit broker: where it is, the fleet credential, enrolment, restart."""

    def __init__(self, info):
        self.info = info

    host = property(lambda self: self.info.connect_host)
    tls_port = property(lambda self: self.info.port)
    ca_path = property(lambda self: self.info.ca_path)
    server_hostname = property(lambda self: self.info.server_hostname)
    fleet = property(lambda self: self.info.fleet)
    fleet_username = property(lambda self: self.info.fleet.username)
    fleet_password = property(lambda self: self.info.fleet.password)

    def ssl_context(self):
        """A client TLS context trusting the broker's CA."""
        return self.info.ssl_context()

    def add_device(self, device_id, password=None):
        """Enrol one device at run time; returns its password (random if not given)."""
        password = secrets.token_urlsafe(16) if password is None else password
        pipit_broker.add_device(self.info, device_id, password)
        return password

    def add_devices(self, devices):
        """Enrol [(device_id, password)] in batches."""
        pipit_broker.add_devices(self.info, devices)

    def revoke_device(self, device_id):
        """Delete the account; the broker drops the device's live connection."""
        pipit_broker.revoke_device(self.info, device_id)

    def restart(self):
        """Stop (the broker saves its database) and start again on the same port."""
        broker_process.restart_broker(self.info)

    def stop(self):
        """Stop the broker (restart() brings it back)."""
        broker_process.stop_broker(self.info.state_dir)

    def client(self, client_id, username, password, **options):
        """Our MqttClient, set up for this broker's TLS listener."""
        return MqttClient(client_id, self.host, self.tls_port, username=username, password=password,
                          ssl_context=self.ssl_context(), server_hostname=self.server_hostname,
                          **options)

    def fleet_client(self, client_id="fleet-test", **options):
        """Our MqttClient with the fleet credential."""
        return self.client(client_id, self.fleet_username, self.fleet_password, **options)

    def cli_args(self, username, password, client_id=None):
        """Connection options for mosquitto_sub / mosquitto_pub."""
        args = ["-h", self.host, "-p", str(self.tls_port), "--cafile", str(self.ca_path),
                "-u", username, "-P", password, "-V", "mqttv311"]
        return args + (["-i", client_id] if client_id else [])

    def log_tail(self, lines=40):
        """The broker's last log lines (for assertion messages)."""
        return broker_process.log_tail(self.info.state_dir, lines)


@pytest.fixture
def broker(tmp_path):
    """A pipit broker of this test's own (stopped afterwards)."""
    state_dir = tmp_path / "broker"
    for attempt in range(_START_ATTEMPTS):
        try:
            info = pipit_broker.ensure_broker(state_dir, port=free_tcp_port())
            break
        except pipit_broker.BrokerError:
            # Another process took the free port between probe and bind.
            if attempt == _START_ATTEMPTS - 1:
                raise
    try:
        yield PipitBroker(info)
    finally:
        broker_process.stop_broker(state_dir)
