"""Registry rows as objects, selectors, and recording what devices report.

Kept apart from registry.py so that the SQL of the hot path (record_many,
called for every batch of MQTT messages) sits in one small place.
"""
import json

from device.control.messages import CommandAck, ConfigAck, Hello, Status, Telemetry
from device.control.topics import is_valid_id

TELEMETRY_KEPT = 100  # per device; older reports are deleted as new ones arrive
EVENTS_KEPT = 100
DEVICE_COLUMNS = ("id", "board", "firmware", "runtime", "codecs", "capabilities", "online",
                  "last_seen_s", "gateway", "config_version_desired", "config_version_applied",
                  "config_error", "config", "revoked", "created_s")
_JSON_COLUMNS = ("codecs", "capabilities", "config")
_BOOL_COLUMNS = ("online", "revoked")


class DeviceRecord:
    """One device as the registry knows it: a snapshot, changing it changes nothing."""

    def __init__(self, **values):
        for name in DEVICE_COLUMNS:
            setattr(self, name, values.get(name))
        self.tags = list(values.get("tags", ()))

    @classmethod
    def from_row(cls, row, tags):
        """Build from a SELECT of DEVICE_COLUMNS (JSON and booleans decoded)."""
        values = dict(zip(DEVICE_COLUMNS, row))
        for name in _JSON_COLUMNS:
            values[name] = json.loads(values[name])
        for name in _BOOL_COLUMNS:
            values[name] = bool(values[name])
        return cls(tags=tags, **values)

    @property
    def config_pending(self):
        """True while the device has not acknowledged its desired config version."""
        return self.config_version_applied != self.config_version_desired

    def to_dict(self):
        """Plain JSON-ready dict (for the CLI's --json and the service's API)."""
        data = {name: getattr(self, name) for name in DEVICE_COLUMNS}
        data["tags"] = list(self.tags)
        return data

    def __eq__(self, other):
        return isinstance(other, DeviceRecord) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return "DeviceRecord(%r, online=%r, revoked=%r, tags=%r)" % (
            self.id, self.online, self.revoked, self.tags)


def parse_selector(selector):
    """("all", None), ("tag", name) or ("device", id); ValueError otherwise."""
    if selector == "all":
        return "all", None
    if isinstance(selector, str) and selector.startswith("tag:"):
        return "tag", selector[len("tag:"):]
    if is_valid_id(selector):
        return "device", selector
    raise ValueError("registry: a selector is a device id, 'tag:<name>' or 'all', got %r" % (selector,))


class Recorder:
    """Applies device messages to the tables inside a caller's transaction."""

    def record(self, db, events):
        """Apply [(device_id, message, now_s)]; return how many were for live devices."""
        recorded, trim = 0, set()
        for device_id, message, now_s in events:
            live, table = self._apply(db, device_id, message, now_s)
            recorded += live
            if live and table:
                trim.add((table, device_id))
        for table, device_id in trim:
            self._trim(db, table, device_id)
        return recorded

    def _apply(self, db, device_id, message, now_s):
        """(device is live, table written besides devices or None) for one message."""
        if isinstance(message, Status):
            sql = "UPDATE devices SET online = ?, last_seen_s = ?, firmware = COALESCE(?, firmware)"
            return self._update(db, device_id, sql, (message.online, now_s, message.firmware)), None
        if isinstance(message, Hello):
            return self._hello(db, device_id, message, now_s), None
        if isinstance(message, ConfigAck):
            return self._config_ack(db, device_id, message, now_s), "events"
        if isinstance(message, CommandAck):
            live = self._update(db, device_id, "UPDATE devices SET last_seen_s = ?", (now_s,))
            return live and self._event(db, device_id, now_s, "command/ack", message.to_dict()), "events"
        if isinstance(message, (Telemetry, dict)):
            data = message.to_dict() if isinstance(message, Telemetry) else message
            live = self._update(db, device_id, "UPDATE devices SET last_seen_s = ?", (now_s,))
            if live:
                db.execute("INSERT INTO telemetry (device_id, ts_s, data) VALUES (?, ?, ?)",
                           (device_id, now_s, json.dumps(data)))
            return live, "telemetry"
        raise TypeError("registry: cannot record %r" % (message,))

    def _hello(self, db, device_id, hello, now_s):
        sql = ("UPDATE devices SET board = ?, firmware = ?, runtime = ?, codecs = ?, capabilities = ?, "
               "config_version_applied = ?, online = ?, last_seen_s = ?")
        params = (hello.board, hello.firmware, hello.runtime, json.dumps(hello.codecs),
                  json.dumps(hello.capabilities), hello.config_version, True, now_s)
        return self._update(db, device_id, sql, params)

    def _config_ack(self, db, device_id, ack, now_s):
        if ack.ok:
            sql, params = "UPDATE devices SET config_version_applied = ?, config_error = NULL", (ack.version,)
        else:
            sql, params = "UPDATE devices SET config_error = ?", (ack.error,)
        live = self._update(db, device_id, sql + ", last_seen_s = ?", params + (now_s,))
        return live and self._event(db, device_id, now_s, "config/ack", ack.to_dict())

    def _update(self, db, device_id, sql, params):
        """Run an UPDATE of the device's row; False if it is unknown or revoked."""
        return db.execute(sql + " WHERE id = ? AND revoked = ?", params + (device_id, False)).rowcount > 0

    def _event(self, db, device_id, now_s, kind, data):
        db.execute("INSERT INTO events (device_id, ts_s, kind, data) VALUES (?, ?, ?, ?)",
                   (device_id, now_s, kind, json.dumps(data)))
        return True

    def _trim(self, db, table, device_id):
        kept = TELEMETRY_KEPT if table == "telemetry" else EVENTS_KEPT
        db.execute("DELETE FROM %s WHERE device_id = ? AND seq <= (SELECT seq FROM %s WHERE device_id = ? "
                   "ORDER BY seq DESC LIMIT 1 OFFSET ?)" % (table, table), (device_id, device_id, kept))

    def read(self, storage, table, device_id, limit=None):
        """The newest `limit` rows of telemetry or events for a device, oldest first."""
        kept = TELEMETRY_KEPT if table == "telemetry" else EVENTS_KEPT
        limit = kept if limit is None else max(0, min(int(limit), kept))
        if table == "telemetry":
            rows = storage.query("SELECT ts_s, data FROM telemetry WHERE device_id = ? "
                                 "ORDER BY seq DESC LIMIT ?", (device_id, limit))
            return [(ts_s, json.loads(data)) for ts_s, data in reversed(rows)]
        rows = storage.query("SELECT ts_s, kind, data FROM events WHERE device_id = ? "
                             "ORDER BY seq DESC LIMIT ?", (device_id, limit))
        return [(ts_s, kind, json.loads(data)) for ts_s, kind, data in reversed(rows)]
