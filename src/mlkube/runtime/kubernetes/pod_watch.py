"""`PodWatch`: one thread that lists, then watches, the pods carrying a label, as an informer
does, and hands each state it sees to a callback.

    watch = PodWatch(core, "mlkube.io/workload", on_pod=seen, on_list=listed)
    watch.start()
    ...
    watch.close()       # returns at once: the open watch response is shut down

After each (re)list `on_list(pods)` gets every matching pod, so the caller can notice pods
that went away while nobody watched; after that `on_pod(pod, deleted)` gets every ADDED /
MODIFIED (`deleted=False`) and DELETED (`deleted=True`) object. A watch that the server ends
(its timeout) resumes from the last version seen; one whose version is too old (410) lists
again; any other failure lists again after a short pause.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from mlkube.runtime.kubernetes.raw import json_of, lines_of, release, shutdown

log = logging.getLogger("mlkube.runtime.kubernetes")

Pod = dict[str, Any]
_WATCH_SECONDS = 300  # the server ends each watch after this; we resume where it stopped
_RETRY_SECONDS = 1.0


class _Expired(Exception):
    """The server no longer holds the version we watched from: list again."""


class PodWatch:
    """List + watch pods matching `label_selector` in every namespace (see the module doc)."""

    def __init__(
        self,
        core: CoreV1Api,
        label_selector: str,
        *,
        on_pod: Callable[[Pod, bool], None],
        on_list: Callable[[list[Pod]], None],
    ) -> None:
        self._core = core
        self._selector = label_selector
        self._on_pod = on_pod
        self._on_list = on_list
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name="mlkube-pod-watch", daemon=True)
        self.synced = threading.Event()  # set once the first list was handed over

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop watching; idempotent. Callbacks in progress finish first."""
        self._closing.set()
        with self._lock:
            response = self._response
        if response is not None:
            shutdown(response)  # unblocks the read in the watch thread
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        version: str | None = None
        while not self._closing.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
            except _Expired:
                version = None
            except Exception:
                if self._closing.is_set():
                    return
                log.warning("pod watch failed; listing again", exc_info=True)
                version = None
                self._closing.wait(_RETRY_SECONDS)

    def _list(self) -> str:
        response = self._core.list_pod_for_all_namespaces(
            label_selector=self._selector, _preload_content=False
        )
        body = json_of(response)
        self._on_list(list(body.get("items") or []))
        self.synced.set()
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> str:
        """Follow one watch from `version`; returns the last version seen when it ends."""
        try:
            response = self._core.list_pod_for_all_namespaces(
                label_selector=self._selector,
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=_WATCH_SECONDS,
                _preload_content=False,
            )
        except ApiException as err:
            if err.status == 410:
                raise _Expired(str(err.reason)) from None
            raise
        with self._lock:
            self._response = response
        try:
            if self._closing.is_set():
                return version
            for line in lines_of(response):
                version = self._event(json.loads(line), version)
        finally:
            with self._lock:
                self._response = None
            release(response)
        return version

    def _event(self, event: dict[str, Any], version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired(str(obj.get("message", "")))
            raise ApiException(status=obj.get("code"), reason=str(obj.get("message", "")))
        new_version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._on_pod(obj, kind == "DELETED")
        return new_version
