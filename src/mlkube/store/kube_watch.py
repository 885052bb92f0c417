"""Watch plumbing for `KubernetesStore`: short watches read "until quiet", and the
background threads that announce new resource versions to subscribers.

A Kubernetes watch never says "that is all for now": it streams until its `timeoutSeconds`.
`events_since` must return at once, so `read_watch` opens a watch from the given version and
stops reading when no line arrives for `quiet` seconds once the answer has started (the server
sends what it already has immediately) or when the server ends the stream.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError

from mlkube.api.errors import BadRequest, ServiceUnavailable
from mlkube.store.base import WatchEvent
from mlkube.store.kube_http import KubeHttp, Target, error_from_status_dict, version_of

log = logging.getLogger("mlkube.store.kubernetes")

EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED")


def read_watch(
    http: KubeHttp,
    target: Target,
    namespace: str | None,
    *,
    resource_version: int,
    label_selector: str | None,
    quiet: float,
    connect_timeout: float,
    server_timeout: int,
) -> list[WatchEvent]:
    """The events of one resource after `resource_version`, read until the stream is quiet.

    `resource_version` 0 follows Kubernetes: the current objects arrive as ADDED first.
    An ERROR event raises its `Status` as an `ApiError` (410: `Expired`).
    """
    query = {
        "watch": "true",
        "resourceVersion": str(resource_version),
        "timeoutSeconds": str(server_timeout),
    }
    if label_selector:
        query["labelSelector"] = label_selector
    # The answer's headers may take a while; only the silence after them means "quiet".
    response = http.open(
        "GET", target.path(namespace), query=query, timeout=(connect_timeout, connect_timeout)
    )
    sock = getattr(response.connection, "sock", None)
    if isinstance(sock, socket.socket):
        sock.settimeout(quiet)  # this connection is closed below, never reused
    events: list[WatchEvent] = []
    buffer = b""
    try:
        for chunk in response.stream(amt=None, decode_content=False):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            events.extend(filter(None, (_event(line, target) for line in lines if line.strip())))
    except (ReadTimeoutError, ProtocolError):
        pass  # quiet: nothing more is waiting (a timeout inside a chunk reads as ProtocolError)
    except HTTPError as err:
        raise ServiceUnavailable(f"watch of {target.plural} failed: {err}") from err
    finally:
        # Closing drops the connection, which also ends the watch on the server side.
        response.close()
    if buffer.strip() and (last := _event(buffer, target)) is not None:
        events.append(last)
    return events


def _event(line: bytes, target: Target) -> WatchEvent | None:
    """The event one watch line carries; None for BOOKMARK and other non-change types."""
    try:
        raw: Any = json.loads(line)
    except ValueError as err:
        raise BadRequest(f"the server sent a watch line that is not JSON: {line[:200]!r}") from err
    kind, obj = raw.get("type"), raw.get("object") or {}
    if kind == "ERROR":
        raise error_from_status_dict(obj)
    if kind not in EVENT_TYPES:
        return None
    obj.setdefault("apiVersion", target.api_version)
    return WatchEvent(type=kind, object=obj, resource_version=version_of(obj))


class VersionPoller:
    """One subscriber: a daemon thread that calls `callback(version)` whenever `head()` rises.

    It sees writes by anyone, not only by this store object. The store `deliver`s its own
    writes itself, in the writer's thread; the poll skips versions already delivered, so a
    write is heard twice only if the poll sees it in the moment before its writer delivers it.
    `stop` ends it (idempotent). Errors from `head` are logged and retried next interval;
    callback errors are logged.
    """

    def __init__(
        self,
        head: Callable[[], int],
        callback: Callable[[int], None],
        *,
        interval: float,
        start_version: int,
    ) -> None:
        self._head = head
        self._callback = callback
        self._interval = interval
        self._seen = start_version
        self._seen_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kube-store-poller", daemon=True)
        self._thread.start()

    def deliver(self, version: int) -> None:
        """Call the callback now, in this thread, and keep the poll from repeating `version`."""
        self._advance(version)
        if not self._stop.is_set():
            _call_logged(self._callback, version)

    def _advance(self, version: int) -> bool:
        """Note `version` as heard; False if it (or a later one) was heard already."""
        with self._seen_lock:
            if version <= self._seen:
                return False
            self._seen = version
            return True

    def _run(self) -> None:
        # The baseline: versions written before the subscription are not news.
        try:
            self._advance(self._head())
        except Exception as err:
            log.warning("polling the API server's resource version failed: %s", err)
        while not self._stop.wait(self._interval):
            try:
                version = self._head()
            except Exception as err:
                log.warning("polling the API server's resource version failed: %s", err)
                continue
            if self._advance(version) and not self._stop.is_set():
                _call_logged(self._callback, version)

    def stop(self) -> None:
        """Stop the thread; waits briefly for it unless called from the thread itself."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)


def _call_logged(callback: Callable[[int], None], version: int) -> None:
    """Call a subscriber; its exception is logged and swallowed, never raised."""
    try:
        callback(version)
    except Exception:
        log.exception("store subscriber failed")
