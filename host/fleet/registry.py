"""The fleet registry: every device, its credentials, state, desired config and tags.

The fleet service and the CLI call this; the database behind it is one
storage module (host/fleet/storage.py, SQLite by default). Writes from device
messages go through record_*; record_many() takes a batch of decoded control
messages in one transaction, which is how a service draining its MQTT queue
keeps up with a thousand devices.

Thread-safe (one lock per registry), so it may be called from the event loop
or from an executor. Each call is short; none waits on the network.
"""
import json
import time

from device.control import settings as settings_rules
from device.control.messages import Config, ConfigAck, Hello, Status
from device.control.topics import check_device_id
from host.fleet import passwords
from host.fleet.records import DEVICE_COLUMNS, DeviceRecord, Recorder, parse_selector
from host.fleet.storage import open_storage

RESERVED_SELECTORS = ("all",)
TAG_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_"
TAG_MAX_CHARS = 32
GATEWAY_MAX_CHARS = 255


def check_tag(tag):
    """Return tag if it is 1..32 chars of [a-z0-9_-], else raise ValueError."""
    if (not isinstance(tag, str) or not 1 <= len(tag) <= TAG_MAX_CHARS
            or any(char not in TAG_CHARS for char in tag)):
        raise ValueError("registry: a tag must be 1..%d characters of a-z, 0-9, '-' and '_', got %r"
                         % (TAG_MAX_CHARS, tag))
    return tag


def _settings_change(settings):
    """(updates, removals) of a set_config call; a None value reverts to the default."""
    if not isinstance(settings, dict):
        raise ValueError("settings: expected an object, got %r" % (settings,))
    removals = [name for name in settings if settings[name] is None]
    updates = settings_rules.validate_dict(
        {name: value for name, value in settings.items() if value is not None})
    for name in removals:
        if name not in settings_rules.SCHEMA:
            raise ValueError("settings: field '%s' is not a known setting" % name)
    return updates, removals


def _configs(db, device_ids, chunk=500):
    """(id, config JSON) of each device, in chunks under any SQL parameter limit."""
    rows = []
    for start in range(0, len(device_ids), chunk):
        part = device_ids[start:start + chunk]
        rows += db.execute("SELECT id, config FROM devices WHERE id IN (%s)" % ", ".join("?" * len(part)),
                           part).fetchall()
    return rows


class Registry:
    """The fleet's devices in one database (see open_registry)."""

    def __init__(self, storage, password_iterations=passwords.ITERATIONS, clock=time.time):
        self._storage = storage
        self._iterations = password_iterations
        self._clock = clock
        self._recorder = Recorder()

    def close(self):
        """Close the database."""
        self._storage.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- enrollment and credentials --------------------------------------

    def enroll(self, device_id, board=None, tags=()):
        """Add a device; return its new MQTT password (shown once, only its hash is kept)."""
        return self.enroll_many([device_id], board, tags)[device_id]

    def enroll_many(self, device_ids, board=None, tags=()):
        """Add several devices in one transaction; {device_id: password}."""
        device_ids = [self._check_new_id(device_id) for device_id in device_ids]
        if len(set(device_ids)) != len(device_ids):
            raise ValueError("registry: the same device id is listed twice")
        tags = [check_tag(tag) for tag in tags]
        issued = {device_id: passwords.new_password() for device_id in device_ids}
        hashes = [passwords.hash_password(issued[d], self._iterations) for d in device_ids]
        now_s = self._clock()
        with self._storage.transaction() as db:
            for device_id in device_ids:
                if db.execute("SELECT 1 FROM devices WHERE id = ?", (device_id,)).fetchall():
                    raise ValueError("registry: device %r is already enrolled" % device_id)
            db.executemany("INSERT INTO devices (id, board, created_s, password_hash) VALUES (?, ?, ?, ?)",
                           [(d, board, now_s, h) for d, h in zip(device_ids, hashes)])
            db.executemany("INSERT INTO tags (device_id, tag) VALUES (?, ?)",
                           [(d, tag) for d in device_ids for tag in tags])
        return issued

    def _check_new_id(self, device_id):
        check_device_id(device_id)
        if device_id in RESERVED_SELECTORS:
            raise ValueError("registry: device id %r is reserved as a selector" % device_id)
        return device_id

    def revoke(self, device_id):
        """Revoke a device: it can no longer log in, and no selector reaches it."""
        self._update_one(device_id, "UPDATE devices SET revoked = ?, online = ? WHERE id = ?",
                         (True, False, device_id))

    def verify_password(self, device_id, password):
        """True when password is this (not revoked) device's password."""
        rows = self._storage.query("SELECT password_hash FROM devices WHERE id = ? AND revoked = ?",
                                   (device_id, False))
        return bool(rows) and passwords.verify_password(password, rows[0][0])

    def password_file_lines(self):
        """'id:hash' for every device not revoked: the body of mosquitto's password_file."""
        rows = self._storage.query("SELECT id, password_hash FROM devices WHERE revoked = ? ORDER BY id",
                                   (False,))
        return ["%s:%s" % row for row in rows]

    # --- reading ----------------------------------------------------------

    def get(self, device_id):
        """The DeviceRecord of device_id (revoked ones included), or None."""
        records = self._records("WHERE d.id = ?", (device_id,))
        return records[0] if records else None

    def list(self, tag=None, include_revoked=False):
        """DeviceRecords sorted by id: all, or those with `tag`; revoked ones on request."""
        where, params = ["1 = 1"], []
        if tag is not None:
            where.append("d.id IN (SELECT device_id FROM tags WHERE tag = ?)")
            params.append(tag)
        if not include_revoked:
            where.append("d.revoked = ?")
            params.append(False)
        return self._records("WHERE " + " AND ".join(where), params)

    def _records(self, where, params):
        columns = ", ".join("d." + name for name in DEVICE_COLUMNS)
        rows = self._storage.query("SELECT %s FROM devices d %s ORDER BY d.id" % (columns, where), params)
        tags = {}
        for device_id, tag in self._storage.query(
                "SELECT t.device_id, t.tag FROM tags t JOIN devices d ON d.id = t.device_id %s "
                "ORDER BY t.tag" % where, params):
            tags.setdefault(device_id, []).append(tag)
        return [DeviceRecord.from_row(row, tags.get(row[0], [])) for row in rows]

    def select(self, selector):
        """Ids (not revoked) matched by a selector: a device id, "tag:<name>" or "all"."""
        with self._storage.reading() as db:
            return self._select(db, selector)

    def _select(self, db, selector):
        kind, value = parse_selector(selector)
        if kind == "all":
            rows = db.execute("SELECT id FROM devices WHERE revoked = ? ORDER BY id", (False,))
        elif kind == "tag":
            rows = db.execute("SELECT d.id FROM devices d JOIN tags t ON t.device_id = d.id "
                              "WHERE t.tag = ? AND d.revoked = ? ORDER BY d.id", (check_tag(value), False))
        else:
            rows = db.execute("SELECT id FROM devices WHERE id = ? AND revoked = ?", (value, False))
            if not rows.fetchall():
                raise ValueError("registry: no enrolled, unrevoked device %r" % value)
            return [value]
        return [row[0] for row in rows.fetchall()]

    def telemetry(self, device_id, limit=None):
        """[(ts_s, telemetry dict)] oldest first: the last `limit` (default all kept)."""
        return self._recorder.read(self._storage, "telemetry", device_id, limit)

    def events(self, device_id, limit=None):
        """[(ts_s, kind, dict)] oldest first: config and command acks, as recorded."""
        return self._recorder.read(self._storage, "events", device_id, limit)

    # --- desired state ------------------------------------------------------

    def set_config(self, selector, settings):
        """Merge settings into each selected device's desired config; (version, [ids]).

        Every selected device gets the same new fleet-wide version; a None
        value removes the setting (back to the default). (None, []) when the
        selector matched no device.
        """
        updates, removals = _settings_change(settings)
        with self._storage.transaction() as db:
            device_ids = self._select(db, selector)
            if not device_ids:
                return None, []
            version = db.execute("SELECT value FROM counters WHERE name = 'config_version'").fetchone()[0] + 1
            db.execute("UPDATE counters SET value = ? WHERE name = 'config_version'", (version,))
            changed = []
            for device_id, text in _configs(db, device_ids):
                config = json.loads(text)
                config.update(updates)
                for name in removals:
                    config.pop(name, None)
                changed.append((json.dumps(config, sort_keys=True), version, device_id))
            db.executemany("UPDATE devices SET config = ?, config_version_desired = ?, config_error = NULL "
                           "WHERE id = ?", changed)
        return version, device_ids

    def config_message(self, device_id):
        """The retained Config to publish for a device, or None if it has none yet."""
        record = self.get(device_id)
        if record is None or record.config_version_desired == 0:
            return None
        return Config(record.config_version_desired, record.config)

    def assign_gateway(self, device_id, gateway):
        """Set the device's gateway ("host:port" or a gateway id); None clears it."""
        if gateway is not None and (not isinstance(gateway, str)
                                    or not 1 <= len(gateway) <= GATEWAY_MAX_CHARS):
            raise ValueError("registry: gateway must be 1..%d characters, got %r"
                             % (GATEWAY_MAX_CHARS, gateway))
        self._update_one(device_id, "UPDATE devices SET gateway = ? WHERE id = ?", (gateway, device_id))

    def tag(self, device_id, tag):
        """Add a tag to a device (no-op if it has it)."""
        check_tag(tag)
        with self._storage.transaction() as db:
            self._require_device(db, device_id)
            db.execute("INSERT INTO tags (device_id, tag) VALUES (?, ?) "
                       "ON CONFLICT (device_id, tag) DO NOTHING", (device_id, tag))

    def untag(self, device_id, tag):
        """Remove a tag from a device (no-op if it lacks it)."""
        with self._storage.transaction() as db:
            self._require_device(db, device_id)
            db.execute("DELETE FROM tags WHERE device_id = ? AND tag = ?", (device_id, tag))

    def _require_device(self, db, device_id):
        if not db.execute("SELECT 1 FROM devices WHERE id = ?", (device_id,)).fetchall():
            raise ValueError("registry: no device %r" % (device_id,))

    def _update_one(self, device_id, sql, params):
        with self._storage.transaction() as db:
            if db.execute(sql, params).rowcount == 0:
                raise ValueError("registry: no device %r" % (device_id,))

    # --- what devices report -------------------------------------------------

    def record_hello(self, device_id, hello, now_s):
        """A Hello (object or dict): board, firmware, codecs, applied config; online."""
        if isinstance(hello, dict):
            hello = Hello.from_dict(hello)
        return self.record_many([(device_id, hello, now_s)]) == 1

    def record_status(self, device_id, online, now_s):
        """The device went online or offline (its status topic, last will included)."""
        return self.record_many([(device_id, Status("online" if online else "offline", None), now_s)]) == 1

    def record_config_ack(self, device_id, version, ok, error, now_s):
        """The device applied (ok) or refused config `version`."""
        return self.record_many([(device_id, ConfigAck(version, ok, error), now_s)]) == 1

    def record_telemetry(self, device_id, telemetry, now_s):
        """One telemetry report (object or dict); the last TELEMETRY_KEPT are kept."""
        return self.record_many([(device_id, telemetry, now_s)]) == 1

    def record_command_ack(self, device_id, ack, now_s):
        """A CommandAck, kept among the device's events."""
        return self.record_many([(device_id, ack, now_s)]) == 1

    def record_many(self, events):
        """Record [(device_id, message, now_s)] in one transaction; how many were recorded.

        message is a decoded Status, Hello, ConfigAck, Telemetry or CommandAck
        (a plain dict is taken as telemetry). Messages from unknown or revoked
        devices are skipped, not an error: the broker may still deliver a last
        will after a revocation.
        """
        events = list(events)
        with self._storage.transaction() as db:
            return self._recorder.record(db, events)


def open_registry(path, password_iterations=passwords.ITERATIONS, clock=time.time):
    """Open (creating and migrating as needed) the registry database at path."""
    return Registry(open_storage(path), password_iterations, clock)

