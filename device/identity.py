"""The device's bootstrap file: who it is, where its broker is, whom to trust.

Written once per device by `pipit fleet enroll --out` or by `pipit flash`
(as /pipit.json on the board), read at every boot. One JSON object:
the device id and MQTT password, the broker address, the pipit CA
certificate (PEM, inline so a single file travels), the board id and, for
boards that need it, Wi-Fi credentials, and for setting an ESP32's clock
before TLS (device/hal/wall_clock.py) an NTP server and the time it was
written. A bad file is refused with the field and the reason before anything
connects.
"""
import json

from device.control.topics import check_device_id
from device.validate import Fields

IDENTITY_FORMAT_VERSION = 1
DEFAULT_NTP_HOST = "pool.ntp.org"


class Identity:
    """A device's credentials and where it connects."""

    def __init__(self, device_id, password, broker_host, broker_port, ca_pem, board="virtual",
                 wifi_ssid=None, wifi_password=None, ntp_host=DEFAULT_NTP_HOST, provisioned_at_s=None):
        self.device_id = device_id
        self.password = password
        self.broker_host = broker_host
        self.broker_port = broker_port
        self.ca_pem = ca_pem
        self.board = board
        self.wifi_ssid = wifi_ssid
        self.wifi_password = wifi_password
        self.ntp_host = ntp_host                  # "" for none (a LAN without Internet)
        self.provisioned_at_s = provisioned_at_s  # Unix seconds: the clock's floor

    @classmethod
    def from_dict(cls, data):
        """Validate a decoded JSON object; raise ValueError naming the bad field."""
        fields = Fields("identity", data)
        fields.version(IDENTITY_FORMAT_VERSION)
        device_id = fields.text("device_id", 3, 32)
        try:
            check_device_id(device_id)
        except ValueError as error:
            raise fields.error("device_id", str(error).split(": ", 1)[1])
        ca_pem = fields.text("ca_pem", 1, 16384)
        if "-----BEGIN CERTIFICATE-----" not in ca_pem:
            raise fields.error("ca_pem", "is not a PEM certificate")
        wifi_ssid = fields.text("wifi_ssid", 1, 32) if fields.has("wifi_ssid") else None
        wifi_password = fields.text("wifi_password", 0, 64) if fields.has("wifi_password") else None
        return cls(
            device_id=device_id,
            password=fields.text("password", 8, 128),
            broker_host=fields.text("broker_host", 1, 253),
            broker_port=fields.int_in("broker_port", 1, 65535),
            ca_pem=ca_pem,
            board=fields.text("board", 1, 64) if fields.has("board") else "virtual",
            wifi_ssid=wifi_ssid,
            wifi_password=wifi_password,
            ntp_host=fields.text("ntp_host", 0, 253) if fields.has("ntp_host") else DEFAULT_NTP_HOST,
            provisioned_at_s=(fields.int_in("provisioned_at_s", 0) if fields.has("provisioned_at_s")
                              else None),
        )

    def to_dict(self):
        """The JSON object form, as written to the board."""
        data = {"v": IDENTITY_FORMAT_VERSION, "device_id": self.device_id,
                "password": self.password, "broker_host": self.broker_host,
                "broker_port": self.broker_port, "ca_pem": self.ca_pem, "board": self.board}
        if self.wifi_ssid is not None:
            data["wifi_ssid"] = self.wifi_ssid
            data["wifi_password"] = self.wifi_password or ""
        if self.ntp_host != DEFAULT_NTP_HOST:
            data["ntp_host"] = self.ntp_host
        if self.provisioned_at_s is not None:
            data["provisioned_at_s"] = self.provisioned_at_s
        return data


def load(path):
    """Read and validate a bootstrap file."""
    with open(path) as handle:
        text = handle.read()
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("identity: %s is not valid JSON" % path)
    return Identity.from_dict(data)


def save(identity, path):
    """Write a bootstrap file."""
    with open(path, "w") as handle:
        handle.write(json.dumps(identity.to_dict()))
