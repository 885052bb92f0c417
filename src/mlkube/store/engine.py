"""`StoreEngine`: the `ResourceStore` semantics, written once over a backend's transactions.

A backend (SQLite, memory) supplies only storage: a write transaction offering load / next
resource version / write, and three snapshot reads. Everything a user can observe (naming,
preconditions, status as a subresource, generation, finalizers, no-op writes, selector
filtering of events, `Expired`, subscriptions) lives here, so backends cannot drift apart.

A write is load -> decide (pure rules in `mlkube.store.objects`) -> write, inside one backend
transaction; subscribers hear of it only after the commit, outside any lock.
"""

from __future__ import annotations

import abc
import builtins
import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from mlkube.api.clock import Clock
from mlkube.api.errors import BadRequest, Invalid
from mlkube.api.labels import Selector, parse_selector
from mlkube.store import objects
from mlkube.store.base import EventType, Watch, WatchEvent
from mlkube.store.merge_patch import apply_merge_patch
from mlkube.store.objects import Obj

logger = logging.getLogger(__name__)

# Kubernetes' generateName alphabet: no vowels (no accidental words), no look-alikes (0/o, 1/l).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAME_ATTEMPTS = 8


@dataclass(frozen=True)
class Change:
    """One committed write as a backend stores it: the new object row and its watch event."""

    resource: str
    namespace: str
    name: str
    resource_version: int
    type: EventType
    text: str  # the object as JSON; for DELETED its last state
    previous_labels: dict[str, str] | None  # labels before the change, to filter by selector


class Transaction(Protocol):
    """A backend's write transaction: serializable, all or nothing."""

    def load(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The stored object, or None."""
        ...

    def load_all(self, resource: str, namespace: str | None) -> builtins.list[Obj]:
        """Every object of `resource` (in `namespace`, or all when None)."""
        ...

    def next_resource_version(self) -> int:
        """Take the next global resource version (returned to the pool on rollback)."""
        ...

    def write(self, change: Change) -> None:
        """Upsert (or, for DELETED, remove) the object and append the event."""
        ...

    @property
    def last_written(self) -> int:
        """The resource version of the last `write` in this transaction; 0 if none."""
        ...


class StoreEngine(abc.ABC):
    """Implements `mlkube.store.base.ResourceStore`; subclasses provide the storage."""

    def __init__(self, *, clock: Clock, poll_interval: float = 0.2) -> None:
        """`clock` stamps creation and deletion times; `poll_interval` is passed to watches."""
        self._clock = clock
        self._poll_interval = poll_interval
        self._subscribers: dict[int, Callable[[int], None]] = {}
        self._subscribers_lock = threading.Lock()
        self._next_subscriber = 0
        self._random = random.Random()

    # ---- what a backend provides -------------------------------------------------------

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction: commit on normal exit, roll back on an exception."""

    @abc.abstractmethod
    def _read_object(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The stored object, or None."""

    @abc.abstractmethod
    def _read_objects(self, resource: str, namespace: str | None) -> tuple[builtins.list[Obj], int]:
        """Objects sorted by (namespace, name) and the resource version of that snapshot."""

    @abc.abstractmethod
    def _read_changes(
        self, after: int, *, resource: str | None, namespace: str | None, limit: int
    ) -> tuple[builtins.list[Change], int]:
        """Up to `limit` changes above `after`, in order, and the newest discarded version."""

    @abc.abstractmethod
    def current_resource_version(self) -> int:
        """See `ResourceStore.current_resource_version`."""

    @abc.abstractmethod
    def close(self) -> None:
        """See `ResourceStore.close`."""

    # ---- writes ------------------------------------------------------------------------

    def create(self, resource: str, obj: Mapping[str, Any]) -> Obj:
        """See `ResourceStore.create`."""
        objects.metadata_of(obj, resource)
        with self._write() as txn:
            name = self._new_name(txn, resource, obj)
            doc = objects.new_object(
                obj,
                name=name,
                resource_version=txn.next_resource_version(),
                now=self._clock.now(),
                uid=str(uuid.uuid4()),
            )
            return self._put(txn, resource, doc, "ADDED", previous=None)

    def update(self, resource: str, obj: Mapping[str, Any]) -> Obj:
        """See `ResourceStore.update`."""
        namespace, name = objects.key_of(obj, resource)
        with self._write() as txn:
            stored = self._load_checked(txn, resource, namespace, name, obj["metadata"])
            return self._replace(txn, resource, stored, objects.updated_object(stored, obj))

    def update_status(self, resource: str, obj: Mapping[str, Any]) -> Obj:
        """See `ResourceStore.update_status`."""
        namespace, name = objects.key_of(obj, resource)
        with self._write() as txn:
            stored = self._load_checked(txn, resource, namespace, name, obj["metadata"])
            candidate = objects.with_status(stored, obj.get("status"))
            return self._replace(txn, resource, stored, candidate)

    def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> Obj:
        """See `ResourceStore.patch`."""
        if subresource not in (None, "status"):
            raise BadRequest(f'{resource} has no subresource "{subresource}"')
        if not isinstance(patch, Mapping):
            raise BadRequest("a merge patch must be a JSON object")
        meta = objects.metadata_of(patch, resource)
        with self._write() as txn:
            stored = self._load_checked(txn, resource, namespace, name, meta)
            if subresource != "status":
                merged = apply_merge_patch(stored, dict(patch))
                if objects.key_of(merged, resource) != (namespace, name):
                    raise BadRequest(f'a patch cannot change the name or namespace of "{name}"')
                candidate = objects.updated_object(stored, merged)
            elif "status" in patch:
                status = apply_merge_patch(stored.get("status"), patch["status"])
                candidate = objects.with_status(stored, status)
            else:
                candidate = stored
            return self._replace(txn, resource, stored, candidate)

    def delete(
        self, resource: str, namespace: str, name: str, *, resource_version: str | None = None
    ) -> Obj:
        """See `ResourceStore.delete`."""
        with self._write() as txn:
            stored = self._load(txn, resource, namespace, name)
            objects.check_preconditions(resource, stored, resource_version=resource_version)
            return self._delete(txn, resource, stored)

    def delete_collection(
        self, resource: str, namespace: str | None, *, label_selector: str | None = None
    ) -> builtins.list[Obj]:
        """See `ResourceStore.delete_collection`."""
        selector = _selector(label_selector)
        with self._write() as txn:
            victims = txn.load_all(resource, namespace)
            return [
                self._delete(txn, resource, doc)
                for doc in victims
                if selector.matches(objects.labels_of(doc))
            ]

    def _new_name(self, txn: Transaction, resource: str, obj: Mapping[str, Any]) -> str:
        meta = obj.get("metadata", {})
        namespace = objects.namespace_of(obj, resource)
        if meta.get("name"):
            _, name = objects.key_of(obj, resource)
            if txn.load(resource, namespace, name) is not None:
                raise objects.already_exists(resource, name)
            return name
        prefix = meta.get("generateName")
        if not prefix or not isinstance(prefix, str):
            raise Invalid(
                f"{resource} is invalid: metadata.name: Required value: "
                "name or generateName is required"
            )
        for _ in range(_NAME_ATTEMPTS):
            name = prefix + "".join(self._random.choices(_SUFFIX_ALPHABET, k=5))
            if txn.load(resource, namespace, name) is None:
                return name
        raise objects.already_exists(resource, name)

    def _load(self, txn: Transaction, resource: str, namespace: str, name: str) -> Obj:
        stored = txn.load(resource, namespace, name)
        if stored is None:
            raise objects.not_found(resource, name)
        return stored

    def _load_checked(
        self, txn: Transaction, resource: str, namespace: str, name: str, meta: Mapping[str, Any]
    ) -> Obj:
        """The stored object, once `meta`'s resourceVersion and uid preconditions hold."""
        stored = self._load(txn, resource, namespace, name)
        objects.check_preconditions(
            resource, stored, resource_version=meta.get("resourceVersion"), uid=meta.get("uid")
        )
        return stored

    def _replace(self, txn: Transaction, resource: str, stored: Obj, candidate: Obj) -> Obj:
        """Write `candidate` over `stored`, remove it if finalized, skip if nothing changed."""
        if objects.is_finalized(candidate):
            return self._remove(txn, resource, candidate, previous=stored)
        if objects.unchanged(stored, candidate):
            return stored
        doc = objects.with_resource_version(candidate, txn.next_resource_version())
        return self._put(txn, resource, doc, "MODIFIED", previous=stored)

    def _delete(self, txn: Transaction, resource: str, stored: Obj) -> Obj:
        if stored["metadata"].get("deletionTimestamp"):
            return stored  # already being deleted: waiting for its finalizers
        if stored["metadata"].get("finalizers"):
            marked = objects.marked_for_deletion(stored, self._clock.now())
            doc = objects.with_resource_version(marked, txn.next_resource_version())
            return self._put(txn, resource, doc, "MODIFIED", previous=stored)
        return self._remove(txn, resource, stored, previous=stored)

    def _remove(self, txn: Transaction, resource: str, last: Obj, *, previous: Obj) -> Obj:
        doc = objects.with_resource_version(last, txn.next_resource_version())
        return self._put(txn, resource, doc, "DELETED", previous=previous)

    def _put(
        self, txn: Transaction, resource: str, doc: Obj, kind: EventType, *, previous: Obj | None
    ) -> Obj:
        meta = doc["metadata"]
        text = objects.to_json(doc)
        txn.write(
            Change(
                resource=resource,
                namespace=meta.get("namespace") or "",
                name=meta["name"],
                resource_version=int(meta["resourceVersion"]),
                type=kind,
                text=text,
                previous_labels=None if previous is None else objects.labels_of(previous),
            )
        )
        # A fresh parse, so the caller's copy shares nothing with its input or our state.
        return objects.from_json(text)

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        """A backend transaction; subscribers hear of what it wrote once it has committed."""
        with self._transaction() as txn:
            yield txn
        if txn.last_written:
            self._notify(txn.last_written)

    # ---- reads -------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> Obj:
        """See `ResourceStore.get`."""
        doc = self._read_object(resource, namespace, name)
        if doc is None:
            raise objects.not_found(resource, name)
        return doc

    def list(
        self, resource: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> tuple[builtins.list[Obj], int]:
        """See `ResourceStore.list`."""
        selector = _selector(label_selector)
        items, resource_version = self._read_objects(resource, namespace)
        if not selector.empty:
            items = [doc for doc in items if selector.matches(objects.labels_of(doc))]
        return items, resource_version

    def events_since(
        self,
        resource_version: int,
        *,
        resource: str | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[WatchEvent]:
        """See `ResourceStore.events_since`."""
        if limit <= 0:
            raise BadRequest(f"limit must be positive, got {limit}")
        selector = _selector(label_selector)
        events: builtins.list[WatchEvent] = []
        cursor = resource_version
        # Keep reading while a selector filters events out, so a burst of non-matching
        # events never hides later matching ones behind `limit`.
        while len(events) < limit:
            changes, compacted = self._read_changes(
                cursor, resource=resource, namespace=namespace, limit=limit
            )
            if cursor < compacted:
                raise objects.expired(resource_version, compacted)
            events += filter(None, (_as_event(c, selector) for c in changes))
            if len(changes) < limit:
                break  # read up to the head
            cursor = changes[-1].resource_version
        return events[:limit]

    # ---- notification ------------------------------------------------------------------

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """See `ResourceStore.subscribe`."""
        with self._subscribers_lock:
            token = self._next_subscriber
            self._next_subscriber += 1
            self._subscribers[token] = callback

        def unsubscribe() -> None:
            with self._subscribers_lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        resource_version: int,
        label_selector: str | None = None,
    ) -> Watch:
        """See `ResourceStore.watch`. A bad selector raises `BadRequest` here, not later."""
        _selector(label_selector)
        return Watch(
            self,
            resource,
            namespace,
            resource_version=resource_version,
            label_selector=label_selector,
            poll_interval=self._poll_interval,
        )

    def _notify(self, resource_version: int) -> None:
        with self._subscribers_lock:
            callbacks = builtins.list(self._subscribers.values())
        for callback in callbacks:
            try:
                callback(resource_version)
            except Exception:
                # A broken subscriber must not fail a write that is already committed.
                logger.exception("store subscriber %r failed", callback)


def _selector(text: str | None) -> Selector:
    return parse_selector(text) if text else Selector()


def _as_event(change: Change, selector: Selector) -> WatchEvent | None:
    """The event a watcher with `selector` sees, Kubernetes-style, or None if none."""
    kind, obj = change.type, objects.from_json(change.text)
    if not selector.empty:
        now = selector.matches(objects.labels_of(obj))
        before = change.previous_labels is not None and selector.matches(change.previous_labels)
        if kind == "MODIFIED" and now != before:
            kind = "ADDED" if now else "DELETED"
        elif not (now or before):
            return None
    return WatchEvent(kind, obj, change.resource_version)
