"""The `ResourceStore` seam: Kubernetes-style object storage with optimistic concurrency.

Objects are plain JSON dicts in Kubernetes shape (`apiVersion`, `kind`, `metadata`, `spec`,
`status`). A store keys them by `(resource, namespace, name)`, where `resource` is the plural
with its API group (`"pipelineruns.mlkube.io"`, or `"namespaces"` for the core group) and a
cluster-scoped object has namespace `""`. The store never looks inside `spec`: validation is the
API layer's job, done before any store call.

Every successful write takes the next value of one global counter, the resource version (like
etcd's revision), and appends one watch event carrying it. Writes that change nothing are not
writes: they return the stored object, take no resource version and emit no event, so a
controller that rewrites an unchanged status every reconcile does not wake itself up forever.

Implementations: `mlkube.store.sqlite.SqliteStore` (embedded), `mlkube.testing.memory_store
.MemoryStore` (tests), both passing `tests/contract/test_store_contract.py`, and
`mlkube.store.kubernetes.KubernetesStore` (cluster), which passes the part of it a real API
server allows (see `tests/integration/kube/test_kubernetes_store.py`).
"""

from __future__ import annotations

import builtins
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class WatchEvent:
    """One committed change and the object as it stands after it; for DELETED, the object's
    last state, stamped with the deletion's resource version."""

    type: EventType
    object: dict[str, Any]
    resource_version: int


class EventSource(Protocol):
    """What a `Watch` needs from a store; every `ResourceStore` is one."""

    def current_resource_version(self) -> int:
        """The resource version of the latest committed write (0 for an empty store)."""
        ...

    def events_since(
        self,
        resource_version: int,
        *,
        resource: str | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[WatchEvent]:
        """Up to `limit` events with a resource version above `resource_version`, oldest first,
        optionally filtered. Returns at once (possibly []).

        With a label selector, events follow Kubernetes: a change that makes an object start
        matching arrives as ADDED, one that makes it stop matching as DELETED. Raises
        `Expired` (`too old resource version: 5 (120)`) when events after `resource_version`
        were already discarded; the caller must list again and watch from the list's version.
        """
        ...

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """Call `callback(resource_version)` after every write committed by this store object.

        It runs in the writer's thread, after the commit and outside any store lock, so it may
        call the store; it should be quick (set an event, put on a queue). Calls from
        concurrent writers may arrive out of order: treat them as a wake-up, then read events.
        Its exceptions are logged and swallowed: they never fail the write. Returns an
        idempotent unsubscribe.
        Writes by other processes are not announced; `events_since` still sees them.
        """
        ...


class ResourceStore(EventSource, Protocol):
    """Storage for Kubernetes-shaped objects. All methods are synchronous and thread-safe.

    Errors are always `mlkube.api.errors` exceptions: `NotFound`, `AlreadyExists`, `Conflict`
    (stale `resourceVersion`), `Expired` (compacted watch history), `BadRequest`/`Invalid`
    (a request that cannot be stored), `ServiceUnavailable` (storage busy or closed; retry).
    A method that raises has changed nothing. Returned objects are fresh copies the caller may
    mutate freely; arguments are never mutated. The event methods (`current_resource_version`,
    `events_since`, `subscribe`) are `EventSource`'s.
    """

    def create(self, resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store a new object and return it as stored.

        Sets `metadata.uid` (uuid4), `creationTimestamp` (RFC 3339, seconds, from the store's
        clock), `resourceVersion` and `generation` = 1; drops any client-sent
        `deletionTimestamp`. Without `metadata.name`, `metadata.generateName` plus five random
        characters names it. `status` is stored as given. Raises `AlreadyExists`, or `Invalid`
        when the object has neither name nor generateName.
        """
        ...

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        """The stored object; raises `NotFound` (`pipelineruns.mlkube.io "x" not found`)."""
        ...

    def list(
        self, resource: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Objects of `resource` sorted by (namespace, name), and the resource version at which
        that snapshot was taken (start a watch from it to miss nothing).

        `namespace=None` lists every namespace. Raises `BadRequest` for a bad selector.
        """
        ...

    def update(self, resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the object named by `obj`'s metadata, except its `status` (a subresource).

        If `metadata.resourceVersion` is set and is not the stored one, raises `Conflict`; if
        absent, the update is unconditional. uid, creationTimestamp, deletionTimestamp and
        generation come from storage; generation goes up by one when anything outside
        `metadata` and `status` changed. An update that changes nothing returns the stored
        object untouched. If the object is being deleted and the update leaves no finalizers,
        the object is removed (a DELETED event) and its last state returned. Raises
        `NotFound`, `Conflict` (also when a given `metadata.uid` differs from the stored one).
        """
        ...

    def update_status(self, resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace only `status` with `obj["status"]` (absent: remove it); spec and metadata stay
        as stored and generation is unchanged. Same preconditions and errors as `update`."""
        ...

    def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386) to the stored object.

        `metadata.resourceVersion` in the patch is a precondition (`Conflict`). Without a
        subresource the result is stored as by `update` (status kept, finalizer removal may
        delete); with `subresource="status"` only the patch's `status` applies. Raises
        `NotFound`, `Conflict`, `BadRequest` (unknown subresource, a patch that renames).
        """
        ...

    def delete(
        self, resource: str, namespace: str, name: str, *, resource_version: str | None = None
    ) -> dict[str, Any]:
        """Delete an object, honouring finalizers, and return its resulting state.

        With finalizers: set `metadata.deletionTimestamp` (and deletionGracePeriodSeconds 0,
        generation + 1), emit MODIFIED, and leave removal to whoever clears the finalizers.
        Without: remove it and emit DELETED with the last state under a new resource version.
        Deleting an object already marked for deletion changes nothing and returns it.
        Raises `NotFound`, or `Conflict` when `resource_version` is given and stale.
        """
        ...

    def delete_collection(
        self, resource: str, namespace: str | None, *, label_selector: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """`delete` every matching object of `resource` in `namespace` (None: all namespaces),
        atomically, with the same finalizer rules; returns each resulting state. Used for the
        namespace deletion cascade. Deleting nothing is not an error."""
        ...

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        resource_version: int,
        label_selector: str | None = None,
    ) -> Watch:
        """A blocking iterator over events of `resource` after `resource_version`; see `Watch`."""
        ...

    def close(self) -> None:
        """Release resources. Idempotent; later calls raise `ServiceUnavailable`."""
        ...


class Watch:
    """A stream of `WatchEvent`s built on `events_since`, woken by `subscribe`.

    It also polls every `poll_interval` seconds, so writes made by another process on the same
    database are seen with at most that delay. Use from one consumer thread; `close` may be
    called from any thread and wakes a blocked `next`. `next` raises `Expired` (and closes the
    watch) if it falls behind the store's retained history.
    """

    def __init__(
        self,
        source: EventSource,
        resource: str,
        namespace: str | None = None,
        *,
        resource_version: int,
        label_selector: str | None = None,
        poll_interval: float = 0.2,
    ) -> None:
        """Start watching after `resource_version` (usually the version returned by `list`)."""
        self._source = source
        self._filters: dict[str, Any] = {
            "resource": resource,
            "namespace": namespace,
            "label_selector": label_selector,
        }
        self._cursor = resource_version
        self._poll_interval = poll_interval
        self._buffer: deque[WatchEvent] = deque()
        self._wakeup = threading.Event()
        self._closed = False
        self._unsubscribe = source.subscribe(lambda _rv: self._wakeup.set())

    def next(self, timeout: float | None = None) -> WatchEvent | None:
        """The next event, waiting up to `timeout` seconds (None: until one comes or `close`).

        Returns None on timeout or once closed; `timeout=0` only checks what is already there.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            if self._buffer:
                return self._buffer.popleft()
            # Clear before reading, so a write that lands during the read still wakes us.
            self._wakeup.clear()
            self._fill()
            if self._buffer:
                continue
            wait = self._poll_interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return None
            self._wakeup.wait(wait)
        return None

    def _fill(self) -> None:
        head = self._source.current_resource_version()
        try:
            events = self._source.events_since(self._cursor, **self._filters)
        except Exception:
            self.close()
            raise
        if events:
            self._cursor = events[-1].resource_version
            self._buffer.extend(events)
        else:
            # Every event up to `head` was committed before the read and matched nothing:
            # skip past them, so a quiet filter does not rescan (and later expire) forever.
            self._cursor = max(self._cursor, head)

    def close(self) -> None:
        """Stop the watch: unsubscribe and wake a blocked `next`. Idempotent, any thread."""
        if not self._closed:
            self._closed = True
            self._unsubscribe()
        self._wakeup.set()

    @property
    def closed(self) -> bool:
        """True once `close` was called (or the watch expired)."""
        return self._closed

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        event = self.next()
        if event is None:
            raise StopIteration
        return event

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
