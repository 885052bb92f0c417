"""Watch streams: newline-delimited JSON events, as the kube-apiserver sends them.

A watch is an async generator on the server's event loop, not a thread: it reads the store's
event log with `events_since`, then sleeps on an `asyncio.Event` that the store's `subscribe`
callback sets from the writer's thread, with a short poll as the fallback that also sees writes
by other processes sharing the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlkube.api.clock import Clock
from mlkube.api.errors import ApiError, InternalError
from mlkube.api.kinds import Kind
from mlkube.store.base import ResourceStore

log = logging.getLogger("mlkube.server")

POLL_SECONDS = 0.5
BATCH = 1000


def event_line(event_type: str, obj: Mapping[str, Any]) -> bytes:
    """One watch event as the wire carries it: a JSON object and a newline."""
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


class StoreWakeup:
    """An `asyncio.Event` on the running loop that every committed store write sets.

    The store calls back in the writer's thread, so the callback only schedules `set` on the
    loop; after the loop has closed there is nobody left to wake, and that is ignored.
    """

    def __init__(self, store: ResourceStore) -> None:
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = store.subscribe(self._notify)

    def _notify(self, _resource_version: int) -> None:
        # RuntimeError: the loop is closed, so the watch is already over.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._event.set)

    def clear(self) -> None:
        """Forget earlier wake-ups; call before reading the store so none is missed."""
        self._event.clear()

    async def wait(self, timeout: float) -> None:
        """Return when a write is announced or after `timeout` seconds, whichever is first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    def close(self) -> None:
        """Stop listening (idempotent)."""
        self._unsubscribe()


@dataclass(frozen=True)
class WatchRequest:
    """What to watch: `namespace` None is every namespace; `start` None sends the current
    objects as ADDED first; `deadline` is on `clock.monotonic()` (None: until disconnect)."""

    kind: Kind
    namespace: str | None
    label_selector: str | None
    matches: Callable[[Mapping[str, Any]], bool]
    start: int | None
    deadline: float | None
    # How each event's object is sent (a `Table` row for kubectl); None: as stored.
    render: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None

    def event(self, event_type: str, obj: Mapping[str, Any]) -> bytes:
        return event_line(event_type, self.render(obj) if self.render else obj)


async def watch_stream(
    store: ResourceStore, request: WatchRequest, *, clock: Clock
) -> AsyncIterator[bytes]:
    """The event lines of one watch until its deadline; a store error (`Expired` when
    `start` was compacted away) ends the stream with an ERROR event carrying its Status.

    Store calls are direct: they are sub-millisecond SQLite reads (see `writes`).
    """
    wakeup = StoreWakeup(store)
    try:
        async for line in _events(store, request, wakeup, clock):
            yield line
    except ApiError as err:
        yield event_line("ERROR", err.to_status())
    except Exception as err:
        log.error("watch of %s failed", request.kind.resource, exc_info=err)
        yield event_line(
            "ERROR", InternalError("Internal error occurred: watch failed").to_status()
        )
    finally:
        wakeup.close()


async def _events(
    store: ResourceStore, request: WatchRequest, wakeup: StoreWakeup, clock: Clock
) -> AsyncIterator[bytes]:
    resource = request.kind.resource
    if request.start is None:
        items, cursor = store.list(
            resource, request.namespace, label_selector=request.label_selector
        )
        for item in items:
            if request.matches(item):
                yield request.event("ADDED", item)
    else:
        cursor = request.start
    while not _past(request.deadline, clock):
        wakeup.clear()
        head = store.current_resource_version()
        events = store.events_since(
            cursor,
            resource=resource,
            namespace=request.namespace,
            label_selector=request.label_selector,
            limit=BATCH,
        )
        for event in events:
            if request.matches(event.object):
                yield request.event(event.type, event.object)
        if len(events) == BATCH:
            cursor = events[-1].resource_version  # more are waiting: read on at once
            continue
        # Everything up to `head` was committed before the read: skip past events that matched
        # no filter, so a quiet watch neither rescans them nor expires on them later.
        cursor = max(events[-1].resource_version if events else cursor, head)
        await wakeup.wait(_wait_seconds(request.deadline, clock))


def _past(deadline: float | None, clock: Clock) -> bool:
    return deadline is not None and clock.monotonic() >= deadline


def _wait_seconds(deadline: float | None, clock: Clock) -> float:
    if deadline is None:
        return POLL_SECONDS
    return max(0.0, min(POLL_SECONDS, deadline - clock.monotonic()))
