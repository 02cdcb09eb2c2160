"""The pipit certificate authority and the broker's server certificate.

A private CA (EC P-256, 10 years) signs the broker's TLS certificate. Devices
trust only this CA, so a broker with any other certificate is refused. Keys are
written 0600; an existing CA in the directory is reused, so re-running never
invalidates the CA file already copied onto devices.
"""
import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY_DAYS = 3650
SERVER_VALIDITY_DAYS = 825
# Re-issue the server certificate when it has less than this left.
SERVER_RENEW_DAYS = 30
DEFAULT_NAMES = ("localhost",)
DEFAULT_IPS = ("127.0.0.1",)


class TlsFiles:
    """Where the CA and server certificate live inside a directory."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.ca_cert = self.directory / "ca.crt"
        self.ca_key = self.directory / "ca.key"
        self.server_cert = self.directory / "server.crt"
        self.server_key = self.directory / "server.key"


def ensure_tls(directory, names=(), ips=()):
    """Create (or reuse) the CA and a server certificate for names and IPs; returns TlsFiles."""
    files = TlsFiles(directory)
    files.directory.mkdir(parents=True, exist_ok=True)
    os.chmod(files.directory, 0o700)
    ca_key, ca_cert = _ensure_ca(files)
    dns_names = _unique(DEFAULT_NAMES + tuple(names))
    ip_addresses = _unique(DEFAULT_IPS + tuple(ips))
    if not _server_cert_fits(files, ca_cert, dns_names, ip_addresses):
        _issue_server_cert(files, ca_key, ca_cert, dns_names, ip_addresses)
    return files


def _ensure_ca(files):
    if files.ca_cert.exists() and files.ca_key.exists():
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        return key, x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pipit CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(files.ca_key, _key_pem(key))
    _write_public(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _server_cert_fits(files, ca_cert, dns_names, ip_addresses):
    """True if the existing server certificate is ours, current and covers every name."""
    if not (files.server_cert.exists() and files.server_key.exists()):
        return False
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - _now() < datetime.timedelta(days=SERVER_RENEW_DAYS):
        return False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(dns_names) <= have_names and set(ip_addresses) <= have_ips


def _issue_server_cert(files, ca_key, ca_cert, dns_names, ip_addresses):
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    san = [x509.DNSName(name) for name in dns_names]
    san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Starts with the CA, not now: a board whose clock could only be set to
        # the time it was flashed (no NTP, device/hal/wall_clock.py) must still
        # accept a certificate renewed after that.
        .not_valid_before(ca_cert.not_valid_before_utc)
        .not_valid_after(now + datetime.timedelta(days=SERVER_VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(files.server_key, _key_pem(key))
    _write_public(files.server_cert, cert.public_bytes(serialization.Encoding.PEM))


def _key_usage(cert_sign):
    return x509.KeyUsage(
        digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path, data):
    """Write a secret so that it is never readable by others, not even for a moment."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path, data):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _unique(items):
    return tuple(dict.fromkeys(str(item) for item in items))


def _now():
    return datetime.datetime.now(datetime.timezone.utc)
