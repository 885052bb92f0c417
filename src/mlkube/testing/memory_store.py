"""`MemoryStore`: the `ResourceStore` in memory, for unit tests of controllers.

It shares every rule with `SqliteStore` (both are `StoreEngine`s) and passes the same contract
suite; only the storage differs. Objects are kept as JSON text, exactly as SQLite keeps them, so
a test cannot come to depend on aliasing or on values JSON would not round-trip.
"""

from __future__ import annotations

import bisect
import builtins
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from mlkube.api.clock import Clock
from mlkube.api.errors import ServiceUnavailable
from mlkube.store.engine import Change, StoreEngine
from mlkube.store.objects import Obj, from_json
from mlkube.testing.clock import FakeClock

_Key = tuple[str, str]  # (namespace, name) within one resource


class MemoryStore(StoreEngine):
    """An in-memory `ResourceStore`; thread-safe; the clock defaults to a `FakeClock`."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        event_retention: int = 10000,
        poll_interval: float = 0.2,
    ) -> None:
        """Keep the last `event_retention` (>= 1) events; older ones make watches `Expired`."""
        if event_retention < 1:
            raise ValueError(f"event_retention must be at least 1, got {event_retention}")
        super().__init__(clock=clock or FakeClock(), poll_interval=poll_interval)
        self._lock = threading.Lock()
        self._objects: dict[str, dict[_Key, str]] = {}
        self._events: list[Change] = []
        self._resource_version = 0
        self._compacted = 0  # newest resource version whose event was discarded
        self._retention = event_retention
        self._closed = False

    @contextmanager
    def _transaction(self) -> Iterator[_MemoryTransaction]:
        with self._locked():
            txn = _MemoryTransaction(self._objects, self._resource_version)
            yield txn  # an exception here leaves the store untouched: nothing applied yet
            self._apply(txn)

    def _apply(self, txn: _MemoryTransaction) -> None:
        for change in txn.changes:
            table = self._objects.setdefault(change.resource, {})
            if change.type == "DELETED":
                table.pop((change.namespace, change.name), None)
            else:
                table[(change.namespace, change.name)] = change.text
        self._events += txn.changes
        self._resource_version = max(self._resource_version, txn.last_written)
        excess = len(self._events) - self._retention
        if excess > 0:
            self._compacted = self._events[excess - 1].resource_version
            del self._events[:excess]

    def _read_object(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self._locked():
            text = self._objects.get(resource, {}).get((namespace, name))
        return None if text is None else from_json(text)

    def _read_objects(self, resource: str, namespace: str | None) -> tuple[builtins.list[Obj], int]:
        with self._locked():
            texts = _select(self._objects.get(resource, {}), namespace)
            resource_version = self._resource_version
        return [from_json(text) for text in texts], resource_version

    def _read_changes(
        self, after: int, *, resource: str | None, namespace: str | None, limit: int
    ) -> tuple[builtins.list[Change], int]:
        with self._locked():
            start = bisect.bisect_right(self._events, after, key=lambda c: c.resource_version)
            found: builtins.list[Change] = []
            for change in self._events[start:]:
                if len(found) == limit:
                    break
                if resource in (None, change.resource) and namespace in (None, change.namespace):
                    found.append(change)
            return found, self._compacted

    def current_resource_version(self) -> int:
        """See `ResourceStore.current_resource_version`."""
        with self._locked():
            return self._resource_version

    def close(self) -> None:
        """See `ResourceStore.close`."""
        with self._lock:
            self._closed = True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise ServiceUnavailable("the store is closed")
            yield


class _MemoryTransaction:
    """Buffers writes; `MemoryStore._apply` makes them visible all at once on commit."""

    def __init__(self, objects: dict[str, dict[_Key, str]], resource_version: int) -> None:
        self._objects = objects
        self._resource_version = resource_version
        self._pending: dict[tuple[str, str, str], str | None] = {}
        self.changes: builtins.list[Change] = []
        self.last_written = 0

    def load(self, resource: str, namespace: str, name: str) -> Obj | None:
        key = (resource, namespace, name)
        if key in self._pending:
            text = self._pending[key]
        else:
            text = self._objects.get(resource, {}).get((namespace, name))
        return None if text is None else from_json(text)

    def load_all(self, resource: str, namespace: str | None) -> builtins.list[Obj]:
        table: dict[_Key, str | None] = dict(self._objects.get(resource, {}))
        for (res, ns, name), text in self._pending.items():
            if res == resource:
                table[(ns, name)] = text
        return [from_json(text) for text in _select(table, namespace)]

    def next_resource_version(self) -> int:
        self._resource_version += 1
        return self._resource_version

    def write(self, change: Change) -> None:
        text = None if change.type == "DELETED" else change.text
        self._pending[(change.resource, change.namespace, change.name)] = text
        self.changes.append(change)
        self.last_written = change.resource_version


def _select(table: Mapping[_Key, str | None], namespace: str | None) -> builtins.list[str]:
    """Texts in (namespace, name) order, as SQLite's `ORDER BY namespace, name` returns them;
    None marks an object deleted in a pending transaction."""
    found = (table[key] for key in sorted(table) if namespace in (None, key[0]))
    return [text for text in found if text is not None]
