"""The bootstrap file: what a board reads at every boot, refused field by field when wrong."""
import json

import pytest

from device.identity import DEFAULT_NTP_HOST, Identity, load, save

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _identity(**changes):
    fields = dict(device_id="kitchen-1", password="password-123", broker_host="pipit.lan",
                  broker_port=8883, ca_pem=PEM)
    fields.update(changes)
    return Identity(**fields)


def test_a_bootstrap_file_round_trips_with_every_field(tmp_path):
    written = _identity(board="esp32-s3-devkitc-1-inmp441-max98357a", wifi_ssid="home",
                        wifi_password="secret", ntp_host="ntp.lan", provisioned_at_s=1796000000)
    save(written, tmp_path / "pipit.json")
    read = load(tmp_path / "pipit.json")
    assert read.to_dict() == written.to_dict()
    assert (read.ntp_host, read.provisioned_at_s, read.wifi_ssid) == ("ntp.lan", 1796000000, "home")


def test_older_files_get_the_default_ntp_server_and_no_clock_floor(tmp_path):
    data = _identity().to_dict()
    assert "ntp_host" not in data and "provisioned_at_s" not in data
    read = Identity.from_dict(data)
    assert (read.ntp_host, read.provisioned_at_s) == (DEFAULT_NTP_HOST, None)


def test_an_empty_ntp_host_means_no_ntp():
    assert Identity.from_dict(_identity(ntp_host="").to_dict()).ntp_host == ""


@pytest.mark.parametrize("field, value, reason", [
    ("ntp_host", "n" * 254, "field 'ntp_host' must have 0..253 characters"),
    ("ntp_host", 123, "field 'ntp_host' must be a string"),
    ("provisioned_at_s", -1, "field 'provisioned_at_s' must be >= 0"),
    ("provisioned_at_s", 1.5, "field 'provisioned_at_s' must be an integer"),
    ("broker_port", 0, "field 'broker_port' must be in 1..65535"),
    ("ca_pem", "not a certificate", "field 'ca_pem' is not a PEM certificate"),
    ("password", "short", "field 'password' must have 8..128 characters"),
])
def test_a_bad_field_is_refused_with_its_name_and_reason(field, value, reason):
    data = json.loads(json.dumps(_identity().to_dict()))
    data[field] = value
    with pytest.raises(ValueError, match="^identity: " + reason):
        Identity.from_dict(data)
