"""The registry's database: one connection, the schema and its migrations.

Only this module knows it is SQLite. The registry writes plain, parameterized
SQL ("?" placeholders; ON CONFLICT upserts, which SQLite >= 3.24 and PostgreSQL
both read) through transaction()/query(); a PostgreSQL storage offers the same
two calls, swaps "?" for "%s" and fills SERIAL_PRIMARY_KEY in the DDL.

Durability: WAL with synchronous=NORMAL, so a commit does not fsync (a power
cut can lose the last moments of telemetry, never corrupt the file); writes
that arrive together are batched into one transaction by the registry.
"""
import contextlib
import sqlite3
import threading

BUSY_TIMEOUT_MS = 5000

# Each entry migrates the schema from version i to i + 1; never edit a shipped one.
MIGRATIONS = (
    (
        """CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            board TEXT,
            firmware TEXT,
            runtime TEXT,
            codecs TEXT NOT NULL DEFAULT '[]',
            capabilities TEXT NOT NULL DEFAULT '[]',
            online BOOLEAN NOT NULL DEFAULT FALSE,
            last_seen_s DOUBLE PRECISION,
            gateway TEXT,
            config_version_desired INTEGER NOT NULL DEFAULT 0,
            config_version_applied INTEGER NOT NULL DEFAULT 0,
            config_error TEXT,
            config TEXT NOT NULL DEFAULT '{}',
            revoked BOOLEAN NOT NULL DEFAULT FALSE,
            created_s DOUBLE PRECISION NOT NULL,
            password_hash TEXT NOT NULL
        )""",
        """CREATE TABLE tags (
            device_id TEXT NOT NULL REFERENCES devices (id),
            tag TEXT NOT NULL,
            PRIMARY KEY (device_id, tag)
        )""",
        "CREATE INDEX tags_by_tag ON tags (tag)",
        """CREATE TABLE telemetry (
            seq {SERIAL_PRIMARY_KEY},
            device_id TEXT NOT NULL REFERENCES devices (id),
            ts_s DOUBLE PRECISION NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX telemetry_by_device ON telemetry (device_id, seq)",
        """CREATE TABLE events (
            seq {SERIAL_PRIMARY_KEY},
            device_id TEXT NOT NULL REFERENCES devices (id),
            ts_s DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_device ON events (device_id, seq)",
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO counters (name, value) VALUES ('config_version', 0)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
_SQLITE_DDL = (("{SERIAL_PRIMARY_KEY}", "INTEGER PRIMARY KEY"),)  # a rowid alias: grows monotonically


def _sqlite_statement(statement):
    for placeholder, sql in _SQLITE_DDL:
        statement = statement.replace(placeholder, sql)
    return statement


class SqliteStorage:
    """A SQLite database file, safe to share between the threads of one process."""

    dialect = "sqlite"

    def __init__(self, path):
        self.path = str(path)
        # Autocommit mode: transaction() says BEGIN and COMMIT itself.
        self._connection = sqlite3.connect(self.path, isolation_level=None,
                                           check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        self._lock = threading.RLock()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                       "busy_timeout=%d" % BUSY_TIMEOUT_MS):
            self._connection.execute("PRAGMA " + pragma)

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction (taken up front, so read-modify-write is safe across processes)."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    @contextlib.contextmanager
    def reading(self):
        """The connection for several reads in a row (no write lock taken)."""
        with self._lock:
            yield self._connection

    def query(self, sql, params=()):
        """All rows of a read-only statement, as tuples."""
        with self._lock:
            return self._connection.execute(sql, params).fetchall()

    def schema_version(self):
        """The version the database is at (0 for a new file)."""
        with self._lock:
            self._connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            rows = self._connection.execute("SELECT version FROM schema_version").fetchall()
        return rows[0][0] if rows else 0

    def migrate(self):
        """Bring the schema to SCHEMA_VERSION, one transaction per step."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise ValueError("registry: %s has schema version %d; this pipit reads up to %d"
                             % (self.path, current, SCHEMA_VERSION))
        for version in range(current, SCHEMA_VERSION):
            with self.transaction() as db:
                for statement in MIGRATIONS[version]:
                    db.execute(_sqlite_statement(statement))
                db.execute("DELETE FROM schema_version")
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
        return SCHEMA_VERSION

    def close(self):
        """Close the connection (idempotent)."""
        with self._lock:
            self._connection.close()


def open_storage(path):
    """Open (creating if needed) and migrate the database at path."""
    storage = SqliteStorage(path)
    try:
        storage.migrate()
    except BaseException:
        storage.close()
        raise
    return storage
