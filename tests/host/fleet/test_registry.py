"""The fleet registry on a real SQLite file: enrollment, selectors, reports, persistence."""
import asyncio
import getpass
import shutil
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from device.control.messages import CommandAck, Config, ConfigAck, Hello, Status, Telemetry
from host.fleet import passwords
from host.fleet.records import TELEMETRY_KEPT
from host.fleet.registry import open_registry
from host.fleet.storage import SCHEMA_VERSION

HELLO = Hello("esp32-s3-box-3", "0.1.0", "micropython", ["opus", "l16"], ["speaker", "led"], 0)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "fleet.db"


@pytest.fixture
def registry(db_path):
    with open_registry(db_path) as opened:
        yield opened


def _telemetry(uptime_s):
    return Telemetry(uptime_s, 1000, -60,
                     {"frames_captured": uptime_s, "packets_sent": uptime_s, "rtcp_received": 0,
                      "fraction_lost": 0.0, "packets_lost": 0, "jitter_ms": 1.0, "round_trip_ms": None},
                     {"connects": 1, "publish_retries": 0})


def test_enroll_stores_a_hash_never_the_password(registry, db_path, tmp_path):
    password = registry.enroll("dev-01", board="virtual")
    assert len(password) >= 32
    assert registry.verify_password("dev-01", password)
    assert not registry.verify_password("dev-01", password[:-1] + "#")
    assert not registry.verify_password("nobody", password)
    assert not registry.verify_password("dev-01", None)
    registry.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())  # .db, -wal, -shm
    assert password.encode() not in stored
    with sqlite3.connect(db_path) as db:
        (hashed,) = db.execute("SELECT password_hash FROM devices WHERE id = 'dev-01'").fetchone()
    assert hashed.startswith("$7$%d$" % passwords.ITERATIONS) and password not in hashed
    assert passwords.verify_password(password, hashed)


def test_passwords_are_distinct_and_hashes_salted(registry):
    issued = registry.enroll_many(["dev-01", "dev-02", "dev-03"])
    assert len(set(issued.values())) == 3
    assert passwords.hash_password("same") != passwords.hash_password("same")
    assert not passwords.verify_password("x", "plaintext-is-not-a-hash")


@pytest.mark.parametrize("device_id, reason", [
    ("Dev-01", "device id must be"), ("d1", "device id must be"), ("pipit-fleet", "reserved for the host"),
    ("all", "reserved as a selector"),
])
def test_bad_ids_are_refused(registry, device_id, reason):
    with pytest.raises(ValueError, match=reason):
        registry.enroll(device_id)


def test_duplicates_are_refused_and_nothing_half_done(registry):
    registry.enroll("dev-01")
    with pytest.raises(ValueError, match="'dev-01' is already enrolled"):
        registry.enroll("dev-01")
    with pytest.raises(ValueError, match="already enrolled"):
        registry.enroll_many(["dev-02", "dev-01"])
    with pytest.raises(ValueError, match="listed twice"):
        registry.enroll_many(["dev-03", "dev-03"])
    assert [record.id for record in registry.list()] == ["dev-01"]


def test_get_and_list_with_tags(registry):
    registry.enroll("dev-02", board="virtual", tags=["kitchen"])
    registry.enroll("dev-01", tags=["kitchen", "beta"])
    registry.enroll("dev-03")
    record = registry.get("dev-01")
    assert (record.id, record.board, record.tags, record.online, record.revoked) == (
        "dev-01", None, ["beta", "kitchen"], False, False)
    assert (record.codecs, record.config, record.config_version_desired, record.gateway) == ([], {}, 0, None)
    assert registry.get("nobody") is None
    assert [r.id for r in registry.list()] == ["dev-01", "dev-02", "dev-03"]
    assert [r.id for r in registry.list(tag="kitchen")] == ["dev-01", "dev-02"]
    assert registry.list(tag="garden") == []
    registry.tag("dev-03", "kitchen")
    registry.tag("dev-03", "kitchen")  # idempotent
    registry.untag("dev-01", "kitchen")
    registry.untag("dev-01", "never-had")
    assert [r.id for r in registry.list(tag="kitchen")] == ["dev-02", "dev-03"]
    with pytest.raises(ValueError, match="a tag must be"):
        registry.tag("dev-01", "Bad Tag")
    with pytest.raises(ValueError, match="no device 'nobody'"):
        registry.tag("nobody", "kitchen")


def test_set_config_selectors_merge_and_bump_one_fleet_version(registry):
    registry.enroll_many(["dev-01", "dev-02", "dev-03"])
    registry.tag("dev-01", "kitchen")
    registry.tag("dev-02", "kitchen")
    assert registry.set_config("all", {"volume_pct": 50}) == (1, ["dev-01", "dev-02", "dev-03"])
    assert registry.set_config("tag:kitchen", {"listen_mode": "always_listening"}) == (2, ["dev-01", "dev-02"])
    assert registry.set_config("dev-02", {"volume_pct": 20, "half_duplex": True}) == (3, ["dev-02"])
    assert registry.set_config("tag:garden", {"volume_pct": 1}) == (None, [])
    configs = {r.id: (r.config_version_desired, r.config) for r in registry.list()}
    assert configs == {
        "dev-01": (2, {"volume_pct": 50, "listen_mode": "always_listening"}),
        "dev-02": (3, {"volume_pct": 20, "listen_mode": "always_listening", "half_duplex": True}),
        "dev-03": (1, {"volume_pct": 50}),
    }
    assert registry.set_config("dev-02", {"listen_mode": None}) == (4, ["dev-02"])  # back to default
    assert registry.get("dev-02").config == {"volume_pct": 20, "half_duplex": True}
    message = registry.config_message("dev-02")
    assert message == Config(4, {"volume_pct": 20, "half_duplex": True})
    assert Config.decode(message.encode()) == message
    assert registry.config_message("nobody") is None


@pytest.mark.parametrize("selector, settings, reason", [
    ("all", {"volume_pct": 101}, "settings: field 'volume_pct' must be in 0..100, got 101"),
    ("all", {"volum_pct": 5}, "settings: field 'volum_pct' is not a known setting"),
    ("all", {"volum_pct": None}, "settings: field 'volum_pct' is not a known setting"),
    ("all", [("volume_pct", 5)], "settings: expected an object"),
    ("dev-09", {"volume_pct": 5}, "no enrolled, unrevoked device 'dev-09'"),
    ("tag:Bad Tag", {"volume_pct": 5}, "a tag must be"),
    ("everything", {"volume_pct": 5}, "no enrolled"),
    ("Dev-01", {"volume_pct": 5}, "a selector is a device id, 'tag:<name>' or 'all'"),
])
def test_set_config_refusals_change_nothing(registry, selector, settings, reason):
    registry.enroll("dev-01")
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        registry.set_config(selector, settings)
    assert registry.get("dev-01").config_version_desired == 0
    assert registry.set_config("all", {"volume_pct": 5})[0] == 1


def test_revoked_devices_cannot_log_in_and_selectors_skip_them(registry):
    issued = registry.enroll_many(["dev-01", "dev-02"])
    registry.record_hello("dev-02", HELLO, 10.0)
    registry.revoke("dev-02")
    assert not registry.verify_password("dev-02", issued["dev-02"])
    assert registry.verify_password("dev-01", issued["dev-01"])
    assert [r.id for r in registry.list()] == ["dev-01"]
    assert [r.id for r in registry.list(include_revoked=True)] == ["dev-01", "dev-02"]
    revoked = registry.get("dev-02")
    assert revoked.revoked and not revoked.online
    assert registry.select("all") == ["dev-01"]
    with pytest.raises(ValueError, match="no enrolled, unrevoked device 'dev-02'"):
        registry.set_config("dev-02", {"volume_pct": 1})
    assert not registry.record_status("dev-02", True, 11.0)  # a late last will is skipped
    assert [line.split(":")[0] for line in registry.password_file_lines()] == ["dev-01"]
    with pytest.raises(ValueError, match="no device 'nobody'"):
        registry.revoke("nobody")
    with pytest.raises(ValueError, match="already enrolled"):
        registry.enroll("dev-02")


def test_reports_update_the_record(registry):
    registry.enroll("dev-01")
    registry.set_config("dev-01", {"volume_pct": 30})
    assert registry.record_hello("dev-01", HELLO.to_dict(), 100.0)
    record = registry.get("dev-01")
    assert (record.board, record.firmware, record.runtime, record.codecs, record.capabilities) == (
        "esp32-s3-box-3", "0.1.0", "micropython", ["opus", "l16"], ["speaker", "led"])
    assert record.online and record.last_seen_s == 100.0 and record.config_pending
    assert registry.record_config_ack("dev-01", 1, False, "Config: field 'settings.x' bad", 101.0)
    record = registry.get("dev-01")
    assert record.config_pending and record.config_error == "Config: field 'settings.x' bad"
    assert registry.record_config_ack("dev-01", 1, True, None, 102.0)
    record = registry.get("dev-01")
    assert not record.config_pending and record.config_error is None and record.config_version_applied == 1
    assert registry.record_status("dev-01", False, 103.0)
    assert not registry.get("dev-01").online and registry.get("dev-01").last_seen_s == 103.0
    assert registry.record_command_ack("dev-01", CommandAck("c-1", True, result={"volume_pct": 3}), 104.0)
    assert [(ts, kind) for ts, kind, _ in registry.events("dev-01")] == [
        (101.0, "config/ack"), (102.0, "config/ack"), (104.0, "command/ack")]
    assert registry.events("dev-01")[-1][2]["result"] == {"volume_pct": 3}
    registry.assign_gateway("dev-01", "10.0.0.5:5004")
    assert registry.get("dev-01").gateway == "10.0.0.5:5004"
    registry.assign_gateway("dev-01", None)
    assert registry.get("dev-01").gateway is None
    with pytest.raises(ValueError, match="gateway must be"):
        registry.assign_gateway("dev-01", "")
    with pytest.raises(ValueError, match="no device"):
        registry.assign_gateway("nobody", "gw-1")
    assert not registry.record_hello("nobody", HELLO, 1.0)


def test_status_messages_carry_firmware(registry):
    registry.enroll("dev-01")
    registry.record_many([("dev-01", Status("online", "0.2.0", 5), 1.0)])
    record = registry.get("dev-01")
    assert record.online and record.firmware == "0.2.0"


def test_telemetry_is_bounded_per_device(registry):
    registry.enroll_many(["dev-01", "dev-02"])
    for uptime_s in range(TELEMETRY_KEPT + 30):
        registry.record_telemetry("dev-01", _telemetry(uptime_s), float(uptime_s))
    registry.record_telemetry("dev-02", _telemetry(7).to_dict(), 1.0)
    kept = registry.telemetry("dev-01")
    assert len(kept) == TELEMETRY_KEPT
    assert kept[0][0] == 30.0 and kept[-1][1]["uptime_s"] == TELEMETRY_KEPT + 29
    assert [ts for ts, _ in registry.telemetry("dev-01", limit=3)] == [127.0, 128.0, 129.0]
    assert registry.telemetry("dev-02") == [(1.0, _telemetry(7).to_dict())]
    batch = [("dev-02", _telemetry(n), 10.0 + n) for n in range(TELEMETRY_KEPT * 2)]
    assert registry.record_many(batch) == TELEMETRY_KEPT * 2
    assert len(registry.telemetry("dev-02")) == TELEMETRY_KEPT


def test_record_many_mixes_messages_and_skips_unknown_devices(registry):
    registry.enroll_many(["dev-%02d" % n for n in range(50)])
    batch = []
    for n in range(50):
        device_id = "dev-%02d" % n
        batch += [(device_id, Status("online", "0.1.0"), 1.0), (device_id, HELLO, 1.0),
                  (device_id, ConfigAck(0, True), 1.5), (device_id, _telemetry(n), 2.0)]
    batch.append(("ghost-01", HELLO, 1.0))
    assert registry.record_many(batch) == 200
    assert all(record.online and record.runtime == "micropython" for record in registry.list())
    with pytest.raises(TypeError, match="cannot record"):
        registry.record_many([("dev-01", "hello", 1.0)])


def test_everything_survives_a_reopen(db_path):
    with open_registry(db_path) as registry:
        password = registry.enroll("dev-01", board="virtual", tags=["kitchen"])
        registry.set_config("tag:kitchen", {"volume_pct": 10})
        registry.record_hello("dev-01", HELLO, 5.0)
        registry.record_telemetry("dev-01", _telemetry(1), 6.0)
        before = registry.get("dev-01")
    with open_registry(db_path) as registry:
        assert registry.get("dev-01") == before
        assert registry.verify_password("dev-01", password)
        assert registry.telemetry("dev-01") == [(6.0, _telemetry(1).to_dict())]
        assert registry.set_config("all", {"volume_pct": 11})[0] == 2  # the fleet version goes on
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_newer_schema_is_refused(db_path):
    open_registry(db_path).close()
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(ValueError, match="schema version 99; this pipit reads up to %d" % SCHEMA_VERSION):
        open_registry(db_path)


def test_concurrent_use_from_asyncio_executors_and_a_second_process_connection(db_path):
    async def main(registry, other):
        loop = asyncio.get_running_loop()
        ids = ["dev-%03d" % n for n in range(120)]
        await asyncio.gather(*[loop.run_in_executor(None, registry.enroll, device_id) for device_id in ids])
        reports = [loop.run_in_executor(None, registry.record_hello, device_id, HELLO, 1.0) for device_id in ids]
        configs = [loop.run_in_executor(None, db.set_config, "all", {"volume_pct": n})
                   for n, db in enumerate([registry, other] * 10)]
        results = await asyncio.gather(*reports, *configs)
        return results[len(ids):]

    with open_registry(db_path) as registry, open_registry(db_path) as other:
        configs = asyncio.run(main(registry, other))
        versions = sorted(version for version, _ in configs)
        assert versions == list(range(1, 21))  # no lost update between the two connections
        assert all(len(device_ids) == 120 for _, device_ids in configs)
        records = registry.list()
        assert len(records) == 120 and all(r.online and r.config_version_desired == 20 for r in records)


def test_threads_recording_at_once(registry):
    registry.enroll_many(["dev-%02d" % n for n in range(8)])
    errors = []

    def report(device_id):
        try:
            for n in range(60):
                registry.record_telemetry(device_id, _telemetry(n), float(n))
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=report, args=("dev-%02d" % n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(len(registry.telemetry("dev-%02d" % n)) == 60 for n in range(8))


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _publish(port, username, password):
    return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", username, "-P", password,
                           "-i", username, "-t", "pipit/v1/devices/%s/status" % username, "-m", "{}", "-q", "1"],
                          capture_output=True, text=True, timeout=20)


@pytest.mark.skipif(not shutil.which("mosquitto_pub"), reason="needs Debian mosquitto-clients")
def test_mosquitto_accepts_the_password_file_written_from_the_registry(registry, tmp_path):
    issued = registry.enroll_many(["dev-01", "dev-02"])
    registry.revoke("dev-02")
    (tmp_path / "passwords").write_text("\n".join(registry.password_file_lines()) + "\n")
    port = _free_port()
    (tmp_path / "mosquitto.conf").write_text(
        "listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\npersistence false\nuser %s\n"
        % (port, tmp_path / "passwords", getpass.getuser()))
    broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c",
                               str(tmp_path / "mosquitto.conf")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and broker.poll() is None, "mosquitto did not start"
                time.sleep(0.05)
        assert _publish(port, "dev-01", issued["dev-01"]).returncode == 0
        refused = _publish(port, "dev-01", issued["dev-02"])
        assert refused.returncode != 0 and "not authori" in refused.stderr
        assert _publish(port, "dev-02", issued["dev-02"]).returncode != 0  # revoked
    finally:
        broker.terminate()
        broker.wait(timeout=10)
