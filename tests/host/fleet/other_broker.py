"""A broker that is not mosquitto: amqtt (PyPI), configured the way docs/broker.md tells a user.

"Using another broker" in docs/broker.md lists what pipit needs from any
MQTT 3.1.1 broker: TLS with a certificate the devices trust, one account per
device and one for the host services, and a default-deny ACL under which a
device publishes and receives only its own topics. amqtt is a real broker
(its own MQTT implementation, in its own process); this module sets it up
with exactly those: the pipit CA's server certificate, an Argon2 password
file, and per-username publish, subscribe and receive lists. Accounts are
written before it starts (amqtt reads them once), as enrolment on a foreign
broker goes through that broker's own tools.
"""
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

from pwdlib.hashers.argon2 import Argon2Hasher

from device.control import topics
from host.fleet import certs
from host.fleet.broker import SERVER_HOSTNAME, BrokerInfo
from host.fleet.dynsec import Credentials
from tests.host.fleet.conftest import free_tcp_port

FLEET_USER = "pipit-fleet"
DEVICE_PUBLISH = ("status", "hello", "config/ack", "session/request", "command/ack", "telemetry")
DEVICE_RECEIVE = ("config", "session/grant", "command")
START_TIMEOUT_S = 20.0  # for amqtt to log its listener bound


def _yaml_list(items, indent):
    return "".join("%s- %s\n" % (" " * indent, item) for item in items)


def render_config(port, tls, password_file, device_ids):
    """amqtt's YAML: one TLS listener, a password file, default-deny topic lists.

    amqtt 0.12 filters publish and subscribe by username ("acl" is its
    subscribe list); a device that cannot subscribe to a topic receives nothing
    from it.
    """
    publish = subscribe = "      %s:\n%s" % (FLEET_USER, _yaml_list(["pipit/v1/#"], 8))
    for device_id in device_ids:
        own = [topics.device_topic(device_id, kind) for kind in DEVICE_PUBLISH]
        theirs = [topics.device_topic(device_id, kind) for kind in DEVICE_RECEIVE]
        publish += "      %s:\n%s" % (device_id, _yaml_list(own, 8))
        subscribe += "      %s:\n%s" % (device_id, _yaml_list(theirs, 8))
    return ("listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            "    bind: 127.0.0.1:%d\n"
            "    ssl: true\n"
            "    certfile: %s\n"
            "    keyfile: %s\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.FileAuthPlugin:\n"
            "    password_file: %s\n"
            "  amqtt.plugins.topic_checking.TopicAccessControlListPlugin:\n"
            "    publish_acl:\n%s"
            "    acl:\n%s"
            % (port, tls.server_cert, tls.server_key, password_file, publish, subscribe))


class OtherBroker:
    """amqtt in its own process for the accounts given; .info is how pipit reaches it."""

    def __init__(self, directory, accounts):
        """accounts: {username: password}, the fleet's own included."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tls = certs.ensure_tls(self.directory / "tls")
        self.port = free_tcp_port()
        hasher = Argon2Hasher()
        password_file = self.directory / "passwords"
        password_file.write_text("".join("%s:%s\n" % (user, hasher.hash(password))
                                         for user, password in accounts.items()))
        config = self.directory / "amqtt.yaml"
        devices = [user for user in accounts if user != FLEET_USER]
        config.write_text(render_config(self.port, self.tls, password_file, devices))
        self.log_path = self.directory / "amqtt.log"
        self.info = BrokerInfo(self.directory, "127.0.0.1", self.port, self.tls.ca_cert,
                               admin=None, fleet=Credentials(FLEET_USER, accounts[FLEET_USER]),
                               server_hostname=SERVER_HOSTNAME)
        self._config = config
        self._process = None

    def start(self):
        """Start the broker; return once it logs its listener bound and completes a TLS handshake."""
        amqtt = Path(sys.executable).with_name("amqtt")
        self._process = subprocess.Popen([str(amqtt), "-c", str(self._config)], stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        listening = threading.Event()
        threading.Thread(target=self._copy_log, args=(listening,), daemon=True).start()
        if not listening.wait(START_TIMEOUT_S) or self._process.poll() is not None:
            raise RuntimeError("amqtt did not start listening within %.0f s:\n%s"
                               % (START_TIMEOUT_S, self.log_tail()))
        context = ssl.create_default_context(cafile=str(self.tls.ca_cert))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5.0) as raw:
            with context.wrap_socket(raw, server_hostname=SERVER_HOSTNAME):
                return self

    def _copy_log(self, listening):
        """The broker's output into its log; listening is set at its "bind to" line (or its end)."""
        bound = ("bind to 127.0.0.1:%d" % self.port).encode()
        with open(self.log_path, "ab") as log:
            for line in self._process.stdout:
                log.write(line)
                log.flush()
                if bound in line:
                    listening.set()
        listening.set()  # the broker exited: start() sees it

    def log_tail(self, lines=40):
        """The end of the broker's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """Stop the broker process."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
