"""The pipit MQTT broker: mosquitto with TLS, dynamic security and a pattern ACL.

The only mosquitto-specific modules of the project are this one and its
siblings broker_files.py (the state directory, mosquitto.conf and the ACL),
broker_process.py (the mosquitto process), certs.py and dynsec.py. Everything
lives in one state directory (default var/broker/, laid out in broker_files.py).

Who may connect is the dynamic security plugin (accounts added and revoked at
run time). What each account may touch is the `acl` file: mosquitto 2.0's
dynsec roles have no %u/%c substitution, so a per-device policy there would be
a role per device, and the plugin rewrites its whole JSON file after every
command, which makes bulk enrolment quadratic (500 devices took 14-32 s here).
The ACL file's `pattern` lines say "the client's own subtree" once for every
device, and dynsec pins each device's client id to its username.
"""
import json
import os
import secrets
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from device.control import topics
from host.fleet import certs, dynsec
from host.fleet.broker_files import BrokerError, BrokerPaths, render_acl, render_conf
from host.fleet.broker_process import is_running, start_broker, stop_broker
from host.fleet.dynsec import (  # noqa: F401 - re-exported: the broker API is one module
    Credentials, DynsecError, add_device, add_devices, revoke_device, revoke_devices,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8883
SERVER_HOSTNAME = "localhost"


@dataclass(frozen=True)
class BrokerInfo:
    """How to reach a running pipit broker and which credentials it knows."""

    state_dir: Path
    host: str
    port: int
    ca_path: Path
    admin: Credentials
    fleet: Credentials
    server_hostname: str = SERVER_HOSTNAME

    @property
    def connect_host(self):
        """The address clients on this machine connect to (a wildcard bind means loopback)."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "*") else self.host

    def ssl_context(self):
        """A client TLS context that trusts only the pipit CA."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def ensure_broker(state_dir=None, host=DEFAULT_HOST, port=DEFAULT_PORT, server_names=(),
                  server_ips=(), timeout_ms=10000):
    """Generate whatever is missing, (re)start the broker if needed; returns BrokerInfo."""
    info, changed = prepare_broker(state_dir, host, port, server_names, server_ips)
    if is_running(info.state_dir) and changed:
        stop_broker(info.state_dir, timeout_ms)
    if not is_running(info.state_dir):
        start_broker(info, timeout_ms)
    return info


def prepare_broker(state_dir=None, host=DEFAULT_HOST, port=DEFAULT_PORT, server_names=(), server_ips=()):
    """Write CA, certificate, config, ACL and accounts; (BrokerInfo, config changed?)."""
    paths = BrokerPaths(state_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.root, 0o700)
    paths.data.mkdir(exist_ok=True)
    ips = tuple(server_ips) + ((host,) if _is_ip(host) and host not in ("0.0.0.0", "::") else ())
    cert_path = certs.TlsFiles(paths.tls).server_cert
    old_cert = cert_path.read_bytes() if cert_path.exists() else b""
    tls = certs.ensure_tls(paths.tls, names=server_names, ips=ips)
    admin, fleet = _ensure_credentials(paths)
    changed = tls.server_cert.read_bytes() != old_cert
    changed |= _write_if_changed(paths.conf, render_conf(paths, tls, host, port))
    changed |= _write_if_changed(paths.acl, render_acl(admin.username, fleet.username))
    settings = {"host": host, "port": port, "server_names": list(server_names), "server_ips": list(ips)}
    _write_if_changed(paths.settings, json.dumps(settings, indent=1) + "\n")
    return _info(paths, settings, admin, fleet), changed


def broker_info(state_dir=None):
    """BrokerInfo of a broker prepared earlier (by this or another process)."""
    paths = BrokerPaths(state_dir)
    if not paths.settings.exists():
        raise BrokerError("no broker in %s: run ensure_broker first" % paths.root)
    settings = json.loads(paths.settings.read_text())
    return _info(paths, settings, *_load_credentials(paths))


def fleet_credentials(info):
    """The host services' credential (reads and writes pipit/v1/#)."""
    return info.fleet


def import_device_hashes(info, devices, timeout_ms=10000):
    """Bulk or restore: [(device_id, $7$ hash)] written offline; restarts a running broker."""
    was_running = stop_broker(info.state_dir, timeout_ms)
    try:
        dynsec.import_device_hashes(BrokerPaths(info.state_dir).dynsec, devices)
    finally:
        if was_running:
            start_broker(info, timeout_ms)


def _load_credentials(paths):
    data = json.loads(paths.credentials.read_text())
    return Credentials(**data["admin"]), Credentials(**data["fleet"])


def _ensure_credentials(paths):
    if paths.credentials.exists():
        return _load_credentials(paths)
    if paths.dynsec.exists():
        raise BrokerError("%s exists but %s is gone: delete the first to start over "
                          "(every device must then be added again)" % (paths.dynsec, paths.credentials))
    admin = Credentials(dynsec.ADMIN_USERNAME, secrets.token_urlsafe(24))
    fleet = Credentials(topics.FLEET_USERNAME, secrets.token_urlsafe(24))
    dynsec.write_seed(paths.dynsec, admin, fleet)
    data = {"admin": admin._asdict(), "fleet": fleet._asdict()}
    certs.write_private(paths.credentials, (json.dumps(data, indent=1) + "\n").encode())
    return admin, fleet


def _info(paths, settings, admin, fleet):
    return BrokerInfo(paths.root, settings["host"], int(settings["port"]), paths.tls / "ca.crt",
                      admin, fleet)


def _write_if_changed(path, text):
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def _is_ip(text):
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
        return True
    except OSError:
        return False
