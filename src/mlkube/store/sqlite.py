"""`SqliteStore`: the embedded `ResourceStore`, one SQLite file shared by any processes.

Durability: WAL journal with `synchronous=NORMAL`. A commit is in the WAL file (in the OS page
cache at least) before `COMMIT` returns, so a crash or `kill -9` of any process never loses a
committed write; only an OS crash or power loss can drop the last few commits (FULL would
fsync every commit to cover that too, at ~10x the cost per write).

Concurrency: each write is one `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock up
front, so reading the global resource-version counter, checking preconditions and writing are
atomic across threads and processes. Readers never block writers (WAL). Within a process one
connection serves every thread behind a lock; JSON is parsed outside that lock.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlkube.api.clock import Clock, SystemClock
from mlkube.api.errors import InternalError, ServiceUnavailable
from mlkube.store.engine import Change, StoreEngine
from mlkube.store.objects import Obj, from_json, to_json

_SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 10_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL,
    name TEXT NOT NULL, type TEXT NOT NULL, json TEXT NOT NULL, prev_labels TEXT
);
CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource, rv);
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 0), rv INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES (0, 0);
"""


class SqliteStore(StoreEngine):
    """A `ResourceStore` in the SQLite file at `path` (created if missing). Thread-safe; any
    number of processes may open the same file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        event_retention: int = 10000,
        poll_interval: float = 0.2,
    ) -> None:
        """Open (and if needed create) the store. Keeps the last `event_retention` (>= 1) watch
        events; `poll_interval` is how often watches look for other processes' writes.
        Raises `ServiceUnavailable` if the file cannot be opened or has a newer schema."""
        if event_retention < 1:
            raise ValueError(f"event_retention must be at least 1, got {event_retention}")
        super().__init__(clock=clock or SystemClock(), poll_interval=poll_interval)
        self._retention = event_retention
        self._lock = threading.Lock()
        self._closed = False
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ServiceUnavailable(f"cannot open the store at {os.fspath(path)}: {exc}") from exc
        try:
            self._configure()
        except BaseException:
            self.close()
            raise

    def _configure(self) -> None:
        with self._locked() as conn:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode not in ("wal", "memory"):  # "memory": a `:memory:` database, for tools
                # SQLite silently keeps the old mode where WAL cannot work (network shares).
                raise ServiceUnavailable(f"the store needs WAL mode, but SQLite chose {mode!r}")
            # NORMAL is crash-safe in WAL mode (see the module docstring), FULL is not needed.
            conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        with self._transaction():
            (version,) = self._conn.execute("PRAGMA user_version").fetchone()
            if version > _SCHEMA_VERSION:
                raise ServiceUnavailable(
                    f"the store's schema version {version} is newer than this mlkube "
                    f"understands ({_SCHEMA_VERSION}); upgrade mlkube"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[_SqliteTransaction]:
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                txn = _SqliteTransaction(conn)
                yield txn
                txn.finish(self._retention)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _read_object(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self._locked() as conn:
            row = conn.execute(_GET, (resource, namespace, name)).fetchone()
        return None if row is None else from_json(row[0])

    def _read_objects(self, resource: str, namespace: str | None) -> tuple[builtins.list[Obj], int]:
        with self._locked() as conn, _snapshot(conn):
            rows = conn.execute(*_list_query(resource, namespace)).fetchall()
            (resource_version,) = conn.execute("SELECT rv FROM counter").fetchone()
        return [from_json(text) for (text,) in rows], resource_version

    def _read_changes(
        self, after: int, *, resource: str | None, namespace: str | None, limit: int
    ) -> tuple[builtins.list[Change], int]:
        where: builtins.list[str] = ["rv > ?"]
        params: builtins.list[object] = [after]
        for column, value in (("resource", resource), ("namespace", namespace)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        query = (
            "SELECT resource, namespace, name, rv, type, json, prev_labels FROM events"
            f" WHERE {' AND '.join(where)} ORDER BY rv LIMIT ?"
        )
        with self._locked() as conn, _snapshot(conn):
            rows = conn.execute(query, (*params, limit)).fetchall()
            oldest, current = conn.execute(
                "SELECT (SELECT MIN(rv) FROM events), (SELECT rv FROM counter)"
            ).fetchone()
        # Every write leaves one event, so everything below the oldest one left was discarded.
        compacted = current if oldest is None else oldest - 1
        return [_change(row) for row in rows], compacted

    def current_resource_version(self) -> int:
        """See `ResourceStore.current_resource_version`."""
        with self._locked() as conn:
            (resource_version,) = conn.execute("SELECT rv FROM counter").fetchone()
        return int(resource_version)

    def close(self) -> None:
        """See `ResourceStore.close`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, exclusively; SQLite errors become API errors."""
        with self._lock:
            if self._closed:
                raise ServiceUnavailable("the store is closed")
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise ServiceUnavailable(
                        f"the store is busy: {exc}", retry_after_seconds=1
                    ) from exc
                raise InternalError(f"store error: {exc}") from exc
            except sqlite3.Error as exc:
                raise InternalError(f"store error: {exc}") from exc


class _SqliteTransaction:
    """Runs inside `BEGIN IMMEDIATE`: holds the database's write lock until commit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._resource_version: int | None = None
        self.last_written = 0

    def load(self, resource: str, namespace: str, name: str) -> Obj | None:
        row = self._conn.execute(_GET, (resource, namespace, name)).fetchone()
        return None if row is None else from_json(row[0])

    def load_all(self, resource: str, namespace: str | None) -> builtins.list[Obj]:
        rows = self._conn.execute(*_list_query(resource, namespace)).fetchall()
        return [from_json(text) for (text,) in rows]

    def next_resource_version(self) -> int:
        if self._resource_version is None:
            (self._resource_version,) = self._conn.execute("SELECT rv FROM counter").fetchone()
        self._resource_version += 1
        return self._resource_version

    def write(self, change: Change) -> None:
        key = (change.resource, change.namespace, change.name)
        if change.type == "DELETED":
            self._conn.execute(
                "DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?", key
            )
        else:
            self._conn.execute(_UPSERT, (*key, change.resource_version, change.text))
        labels = None if change.previous_labels is None else to_json(change.previous_labels)
        self._conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
            (change.resource_version, *key, change.type, change.text, labels),
        )
        self.last_written = change.resource_version

    def finish(self, retention: int) -> None:
        """Advance the counter and discard events beyond the retention window."""
        if self.last_written:
            self._conn.execute("UPDATE counter SET rv = ?", (self.last_written,))
            self._conn.execute("DELETE FROM events WHERE rv <= ?", (self.last_written - retention,))


_GET = "SELECT json FROM objects WHERE resource = ? AND namespace = ? AND name = ?"
_UPSERT = (
    "INSERT INTO objects VALUES (?, ?, ?, ?, ?) ON CONFLICT (resource, namespace, name)"
    " DO UPDATE SET rv = excluded.rv, json = excluded.json"
)


def _list_query(resource: str, namespace: str | None) -> tuple[str, tuple[str, ...]]:
    if namespace is None:
        return "SELECT json FROM objects WHERE resource = ? ORDER BY namespace, name", (resource,)
    return (
        "SELECT json FROM objects WHERE resource = ? AND namespace = ? ORDER BY name",
        (resource, namespace),
    )


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction, so several SELECTs see one consistent state of the file."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _change(row: Any) -> Change:
    resource, namespace, name, rv, kind, text, labels = row
    return Change(
        resource=resource,
        namespace=namespace,
        name=name,
        resource_version=rv,
        type=kind,
        text=text,
        previous_labels=None if labels is None else from_json(labels),
    )
