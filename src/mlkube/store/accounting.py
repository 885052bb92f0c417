"""The accounting log: one append-only record per finished step attempt, kept after runs go.

`mlkube usage` used to add up the runs' step statuses, so deleting a run erased its CPU- and
GPU-hours. These records are written by the controller when an attempt ends and never change.

They are not a store kind: a resource per attempt would carry metadata, resource versions and
watch events nobody needs, and would be deletable through the API like any object. A narrow
interface (append, read) in front of one SQLite table is all accounting needs; the embedded
platform keeps that table in the store's file, so a backup or a crash treats both alike.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

_BUSY_TIMEOUT_MS = 10_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_records (
    namespace TEXT NOT NULL, user TEXT NOT NULL, run TEXT NOT NULL, run_uid TEXT NOT NULL,
    pipeline TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL,
    start REAL NOT NULL, end REAL NOT NULL, outcome TEXT NOT NULL,
    cpu_millis INTEGER NOT NULL, gpus REAL NOT NULL, cpu_cores_avg REAL NOT NULL,
    PRIMARY KEY (run_uid, step, attempt, start)
);
CREATE INDEX IF NOT EXISTS usage_records_by_step ON usage_records (namespace, pipeline, step, end)
"""


@dataclass(frozen=True)
class UsageRecord:
    """One step attempt, as it is charged: what it held, from `start` to `end` (epoch seconds).

    `gpus` may be fractional (a share of one GPU). `cpu_cores_avg` is the measured average, what
    a step that asked for no CPU is charged. `pipeline` names the pipeline the step belongs to
    (its name, or `inline:` and a digest of an inline spec), to find earlier runs of the step.
    `outcome` is Succeeded, Failed, Preempted or Stopped.
    """

    namespace: str
    user: str
    run: str
    run_uid: str
    pipeline: str
    step: str
    attempt: int
    start: float
    end: float
    outcome: str
    cpu_millis: int
    gpus: float
    cpu_cores_avg: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UsageRecord:
        """A record from its JSON form; extra keys are ignored, a missing one is a KeyError."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


class AccountingLog(Protocol):
    """Where usage records go. Thread-safe; appending the same attempt twice keeps one."""

    def append(self, record: UsageRecord) -> None:
        """Keep `record` for good (a no-op if this attempt, by run uid, step, attempt and
        start, is already kept). Returns once it is durable."""
        ...

    def records(self, namespace: str | None = None) -> list[UsageRecord]:
        """Every record (of `namespace`, or all when None), oldest end first."""
        ...

    def durations(self, namespace: str, pipeline: str, step: str, *, limit: int) -> list[float]:
        """How long the last `limit` successful attempts of this pipeline step ran, newest
        first, in seconds."""
        ...

    def close(self) -> None:
        """Release the file; later calls fail."""
        ...


_COLUMNS = [f.name for f in fields(UsageRecord)]


class SqliteAccountingLog:
    """An `AccountingLog` in a table of the SQLite file at `path` (created if missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    def append(self, record: UsageRecord) -> None:
        """See `AccountingLog.append`."""
        marks = ", ".join("?" for _ in _COLUMNS)
        values = [getattr(record, c) for c in _COLUMNS]
        with self._lock:
            self._conn.execute(
                f"INSERT OR IGNORE INTO usage_records ({', '.join(_COLUMNS)}) VALUES ({marks})",
                values,
            )

    def records(self, namespace: str | None = None) -> list[UsageRecord]:
        """See `AccountingLog.records`."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM usage_records"
        args: Sequence[str] = ()
        if namespace is not None:
            query, args = query + " WHERE namespace = ?", (namespace,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY end, run_uid, step, attempt", args)
            return [UsageRecord(*row) for row in rows.fetchall()]

    def durations(self, namespace: str, pipeline: str, step: str, *, limit: int) -> list[float]:
        """See `AccountingLog.durations`."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT end - start FROM usage_records WHERE namespace = ? AND pipeline = ? "
                "AND step = ? AND outcome = 'Succeeded' ORDER BY end DESC LIMIT ?",
                (namespace, pipeline, step, limit),
            ).fetchall()
        return [float(r[0]) for r in rows]

    def close(self) -> None:
        """See `AccountingLog.close`."""
        with self._lock:
            self._conn.close()
