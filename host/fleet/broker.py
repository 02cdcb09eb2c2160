"""The pipit MQTT broker: mosquitto with TLS, dynamic security and a pattern ACL.

The only mosquitto-specific module of the project (with its siblings certs.py
and dynsec.py). Everything lives in one state directory (default var/broker/):

    tls/ca.crt, ca.key, server.crt, server.key   the pipit CA and the broker's cert
    mosquitto.conf, acl                          generated on every ensure_broker()
    dynsec.json                                  accounts; seeded once, then the broker's
    credentials.json                             admin and fleet passwords (0600)
    broker.json                                  host, port and names, for other processes
    data/mosquitto.db, mosquitto.log, mosquitto.pid

Who may connect is the dynamic security plugin (accounts added and revoked at
run time). What each account may touch is the `acl` file: mosquitto 2.0's
dynsec roles have no %u/%c substitution, so a per-device policy there would be
a role per device, and the plugin rewrites its whole JSON file after every
command, which makes bulk enrolment quadratic (500 devices took 14-32 s here).
The ACL file's `pattern` lines say "the client's own subtree" once for every
device, and dynsec pins each device's client id to its username.
"""
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from device.control import topics
from host.fleet import certs, dynsec
from host.fleet.dynsec import (  # noqa: F401 - re-exported: the broker API is one module
    Credentials, DynsecError, add_device, add_devices, revoke_device, revoke_devices,
)

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PLUGIN_GLOBS = ("/usr/lib/*/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_dynamic_security.so",
                "/usr/local/lib/mosquitto_dynamic_security.so")
DEFAULT_STATE_DIR = Path(__file__).resolve().parents[2] / "var" / "broker"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8883
SERVER_HOSTNAME = "localhost"
# The contract's payload limit is 8 KiB; this leaves room for admin batches.
MAX_PACKET_BYTES = 65536
# QoS 1 messages held per client beyond those in flight. The fleet service's
# client receives every device's reports: a mass reconnect (a broker restart)
# is ~3 per device at once, a service restart queues everything meanwhile.
# mosquitto's default, 1000, drops the rest without telling anyone.
MAX_QUEUED_MESSAGES = 100000
_POLL_S = 0.02


class BrokerError(RuntimeError):
    """The broker could not be set up, started or stopped."""


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


class _Paths:
    def __init__(self, state_dir):
        root = Path(state_dir if state_dir is not None else DEFAULT_STATE_DIR).resolve()
        if any(char.isspace() for char in str(root)):
            raise BrokerError("mosquitto.conf cannot quote paths: state dir %s has a space" % root)
        self.root = root
        self.tls = root / "tls"
        self.conf = root / "mosquitto.conf"
        self.acl = root / "acl"
        self.dynsec = root / "dynsec.json"
        self.credentials = root / "credentials.json"
        self.settings = root / "broker.json"
        self.data = root / "data"
        self.log = root / "mosquitto.log"
        self.pid = root / "mosquitto.pid"


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
    paths = _Paths(state_dir)
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
    paths = _Paths(state_dir)
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
        dynsec.import_device_hashes(_Paths(info.state_dir).dynsec, devices)
    finally:
        if was_running:
            start_broker(info, timeout_ms)


def render_conf(paths, tls, host, port):
    """mosquitto.conf text: one TLS listener, no anonymous access, persistence, dynsec."""
    lines = [
        "# Generated by host/fleet/broker.py on every ensure_broker(): change it there.",
        "per_listener_settings false",
        "allow_anonymous false",
    ]
    if os.geteuid() == 0:
        # mosquitto started as root switches to user 'mosquitto', who cannot write this dir.
        lines.append("user root")
    lines += [
        "listener %d %s" % (port, host),
        "cafile %s" % tls.ca_cert,
        "certfile %s" % tls.server_cert,
        "keyfile %s" % tls.server_key,
        "tls_version tlsv1.2",
        "max_packet_size %d" % MAX_PACKET_BYTES,
        # Without it Nagle holds a reply sent right after another small packet
        # (a grant after the request's PUBACK) until the client's delayed ACK:
        # about 40 ms added to a session request on loopback.
        "set_tcp_nodelay true",
        "max_queued_messages %d" % MAX_QUEUED_MESSAGES,
        "persistence true",
        "persistence_location %s/" % paths.data,
        "autosave_interval 60",
        "persistent_client_expiration 14d",
        "log_dest file %s" % paths.log,
        "log_type error", "log_type warning", "log_type notice", "log_type information",
        "acl_file %s" % paths.acl,
        "plugin %s" % dynsec_plugin_path(),
        "plugin_opt_config_file %s" % paths.dynsec,
    ]
    return "\n".join(lines) + "\n"


def render_acl(admin_username, fleet_username):
    """The ACL file: admin and fleet by name, every device by pattern (%u = its id)."""
    lines = ["# Generated by host/fleet/broker.py; the policy is device/control/topics.py.",
             "user %s" % admin_username, "topic readwrite %s/#" % dynsec.CONTROL_ROOT, ""]
    lines += ["user %s" % fleet_username]
    lines += ["topic %s %s" % (access, topic) for access, topic in topics.fleet_acl()]
    lines += [""] + ["pattern %s %s" % pair for pair in topics.device_acl("%u")]
    return "\n".join(lines) + "\n"


def dynsec_plugin_path():
    """Where this machine's mosquitto_dynamic_security.so is."""
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise BrokerError("mosquitto_dynamic_security.so not found (Debian package mosquitto)")


def start_broker(info, timeout_ms=10000):
    """Start mosquitto on the generated config and wait until its TLS listener answers."""
    paths = _Paths(info.state_dir)
    if is_running(paths.root):
        raise BrokerError("a broker already runs from %s" % paths.root)
    with open(paths.log, "ab") as log:
        # A session of its own: a Ctrl-C meant for the CLI must not take the broker down.
        child = subprocess.Popen([MOSQUITTO, "-c", str(paths.conf)], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, start_new_session=True)
    _CHILDREN[child.pid] = child
    paths.pid.write_text("%d\n" % child.pid)
    deadline = time.monotonic() + timeout_ms / 1000
    while not _answers_tls(info):
        if child.poll() is not None or time.monotonic() > deadline:
            _terminate(child.pid, timeout_ms)
            paths.pid.unlink(missing_ok=True)
            raise BrokerError("mosquitto did not start (port %d):\n%s" % (info.port, log_tail(paths.root)))
        time.sleep(_POLL_S)
    return child.pid


def stop_broker(state_dir=None, timeout_ms=10000):
    """SIGTERM the broker (it saves its database on the way out) and wait; True if one ran."""
    paths = _Paths(state_dir)
    pid = _running_pid(paths)
    if pid is not None:
        _terminate(pid, timeout_ms)
    paths.pid.unlink(missing_ok=True)
    return pid is not None


def restart_broker(info, timeout_ms=10000):
    """Stop and start again on the same port (retained messages and sessions persist)."""
    stop_broker(info.state_dir, timeout_ms)
    return start_broker(info, timeout_ms)


def is_running(state_dir=None):
    """True if the broker started from this state dir is alive."""
    return _running_pid(_Paths(state_dir)) is not None


def log_tail(state_dir=None, lines=20):
    """The last lines of the broker's log, for error messages."""
    path = _Paths(state_dir).log
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# Brokers this process started: reaped on stop, so they do not linger as zombies.
_CHILDREN = {}


def _running_pid(paths):
    try:
        pid = int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid, str(paths.conf)) else None


def _alive(pid, conf=None):
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        with open("/proc/%d/stat" % pid) as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            # The pid may have been reused by another program since.
            return conf is None or conf.encode() in handle.read()
    except (OSError, IndexError):
        return False


def _terminate(pid, timeout_ms):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if not _wait_gone(pid, timeout_ms / 1000):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_gone(pid, 5.0)
    _CHILDREN.pop(pid, None)


def _wait_gone(pid, timeout_s):
    child = _CHILDREN.get(pid)
    if child is not None:
        try:
            child.wait(timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True


def _answers_tls(info):
    """One TLS handshake against the listener, checking the certificate against our CA."""
    try:
        with socket.create_connection((info.connect_host, info.port), timeout=1.0) as raw:
            with info.ssl_context().wrap_socket(raw, server_hostname=info.server_hostname):
                return True
    except (OSError, ssl.SSLError):
        return False


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
