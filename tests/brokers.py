"""A real mosquitto for tests: generated config, free loopback ports, optional TLS.

Mosquitto (Debian package) runs as a child process with a minimal config
written into a temporary directory: a plain listener and, when asked, a TLS
listener whose server certificate is signed by a throwaway CA generated here
with `cryptography`. Readiness is checked by connecting to every listener;
restart() brings the broker back on the same ports so that clients can
reconnect by themselves (fault tests); pause()/resume() freeze it (SIGSTOP)
so that a link looks alive to TCP but never answers (dead-link tests).
"""
import datetime
import getpass
import ipaddress
import shutil
import signal
import socket
import ssl
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
HOST = "127.0.0.1"
TLS_SERVER_NAME = "localhost"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def free_tcp_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name="pipit test CA"):
    """A self-signed CA: (private key, certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_server_cert(ca_key, ca_cert, dns_name=TLS_SERVER_NAME, ip=HOST):
    """A server certificate for dns_name and ip signed by the CA: (key, cert)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(dns_name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def write_tls_files(directory):
    """CA, server cert/key and an unrelated CA as PEM files; returns their paths."""
    directory = Path(directory)
    ca_key, ca_cert = make_ca()
    server_key, server_cert = make_server_cert(ca_key, ca_cert)
    _, wrong_ca_cert = make_ca("not the pipit test CA")
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem",
             "key": directory / "server.key", "wrong_ca": directory / "wrong-ca.pem"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(_pem_key(server_key))
    paths["key"].chmod(0o600)
    paths["wrong_ca"].write_bytes(wrong_ca_cert.public_bytes(serialization.Encoding.PEM))
    return paths


class Mosquitto:
    """One mosquitto process with a generated config in `directory`."""

    def __init__(self, directory, tls=False, users=None, debug_log=False):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = free_tcp_port()
        self.tls_port = free_tcp_port() if tls else None
        self.tls_files = write_tls_files(self.directory) if tls else None
        self.users = dict(users or {})
        self.debug_log = debug_log
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        self.process = None
        self._started = False
        self._write_config()

    @property
    def ca_path(self):
        """PEM file of the CA that signed the TLS listener's certificate."""
        return self.tls_files["ca"]

    @property
    def wrong_ca_path(self):
        """PEM file of a CA that did not sign the broker's certificate."""
        return self.tls_files["wrong_ca"]

    def _write_password_file(self, path):
        first = True
        for user, password in self.users.items():
            command = ["mosquitto_passwd", "-b", str(path), user, password]
            if first:
                command.insert(1, "-c")
            subprocess.run(command, check=True, capture_output=True, timeout=30)
            first = False

    def _write_config(self):
        lines = [
            "persistence false",
            "log_dest file %s" % self.log_path,
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "connection_messages true",
            # Debug lines show each packet's flags: "Received PUBLISH from c (d1, q1, ...)".
            *(["log_type debug"] if self.debug_log else []),
            # Ignored unless started as root; as root, keep the tmp files readable.
            "user %s" % getpass.getuser(),
        ]
        if self.users:
            password_path = self.directory / "passwords"
            self._write_password_file(password_path)
            lines += ["allow_anonymous false", "password_file %s" % password_path]
        else:
            lines.append("allow_anonymous true")
        lines.append("listener %d %s" % (self.port, self.host))
        if self.tls_port is not None:
            lines += ["listener %d %s" % (self.tls_port, self.host),
                      "cafile %s" % self.tls_files["ca"],
                      "certfile %s" % self.tls_files["cert"],
                      "keyfile %s" % self.tls_files["key"]]
        self.config_path.write_text("\n".join(lines) + "\n")

    def ports(self):
        """Every port this broker listens on."""
        return [port for port in (self.port, self.tls_port) if port is not None]

    def start(self):
        """Start mosquitto; return once it runs and every listener accepts connections.

        A port taken by someone else between choosing and binding it (other
        test runs share the machine) makes mosquitto exit: a first start then
        retries on new ports. restart() keeps the ports clients know.
        """
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("mosquitto is already running")
        attempts = 1 if self._started else 3
        for attempt in range(attempts):
            try:
                self._launch()
                self._started = True
                return self
            except _Exited:
                if attempt == attempts - 1:
                    raise
                self.port = free_tcp_port()
                self.tls_port = free_tcp_port() if self.tls_port is not None else None
                self._write_config()

    def _launch(self):
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = _monotonic() + START_TIMEOUT_S
        pending = self.ports()
        # Ready: mosquitto logged "running" (all its listeners are bound) and
        # each port accepts a connection; a probe alone could reach someone
        # else's listener on a port we failed to bind.
        while pending or " running" not in self.log()[log_offset:]:
            if pending:
                try:
                    with socket.create_connection((self.host, pending[0]), timeout=1.0):
                        pending.pop(0)
                        continue
                except OSError:
                    pass
            if _monotonic() > deadline:
                self.stop()
                raise RuntimeError("mosquitto was not ready within %.0f s:\n%s"
                                   % (START_TIMEOUT_S, self.log()[log_offset:]))
            try:
                # Waiting on the process: returns early (as a failure) if it died.
                self.process.wait(timeout=0.02)
            except subprocess.TimeoutExpired:
                continue
            process, self.process = self.process, None
            raise _Exited("mosquitto exited with %d: %s\n%s" % (
                process.returncode, process.stderr.read(), self.log()[log_offset:]))

    def stop(self):
        """Terminate mosquitto (SIGTERM, then SIGKILL) and wait for it; idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if _is_stopped(process.pid):
            process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
        process.stderr.close()

    def restart(self):
        """Stop and start again on the same ports (clients see their links drop)."""
        self.stop()
        return self.start()

    def pause(self):
        """Freeze the broker: connections stay open but nothing is answered."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        """Undo pause()."""
        self.process.send_signal(signal.SIGCONT)

    def log(self):
        """The broker's log so far (for assertion messages)."""
        try:
            return self.log_path.read_text()
        except OSError:
            return ""

    def client_tls_context(self, ca_path=None):
        """A CPython SSLContext that trusts the test CA (or ca_path)."""
        context = ssl.create_default_context(cafile=str(ca_path or self.ca_path))
        return context

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Exited(RuntimeError):
    """mosquitto exited while starting."""


def _monotonic():
    import time
    return time.monotonic()


def _is_stopped(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False


def client_tool_args(broker):
    """Connection arguments for mosquitto_sub / mosquitto_pub (plain listener)."""
    return ["-h", broker.host, "-p", str(broker.port)]
