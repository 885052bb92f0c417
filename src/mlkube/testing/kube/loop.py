"""A thread that runs reconcilers whenever the store changes, and on a short tick."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from mlkube.store.base import ResourceStore

log = logging.getLogger(__name__)


class ReconcileLoop:
    """Calls each of `reconcilers` in turn after every store write (coalesced) and at least
    every `interval` seconds (only on the tick without
    `wake_on_writes`), in one daemon thread, until `stop`. A reconciler's exception is
    logged and the loop goes on: one bad object never stalls the fake cluster."""

    def __init__(
        self,
        store: ResourceStore,
        reconcilers: Sequence[Callable[[], None]],
        *,
        name: str,
        interval: float = 0.1,
        wake_on_writes: bool = True,
    ) -> None:
        self._store = store
        self._reconcilers = list(reconcilers)
        self._interval = interval
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._unsubscribe: Callable[[], None] = lambda: None
        self._wake_on_writes = wake_on_writes

    def start(self) -> None:
        """Start the thread (once)."""
        if self._wake_on_writes:
            self._unsubscribe = self._store.subscribe(lambda _rv: self._wake.set())
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            for reconcile in self._reconcilers:
                if self._stopped.is_set():
                    return
                try:
                    reconcile()
                except Exception:
                    log.exception("fake cluster reconciler %r failed", reconcile)
            self._wake.wait(self._interval)

    def stop(self) -> None:
        """Stop after the current pass and wait for the thread. Idempotent."""
        self._unsubscribe()
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
