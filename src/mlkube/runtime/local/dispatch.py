"""Deliver workload exits to the runtime's handler: one thread, in order, exactly once.

Exit handling is a job queued by whichever thread learns of the exit; the job runs here (it
may touch the filesystem: cgroup counters, removal) and returns the `WorkloadExit` to deliver.
Running the handler on this thread rather than on the thread that reads the fork server's
events means a handler may call `launch()` (which waits for the server's reply) without
deadlocking, and a slow handler never delays other workloads' events.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from mlkube.runtime.base import ExitHandler, WorkloadExit

__all__ = ["ExitDispatcher", "ExitJob"]

_log = logging.getLogger(__name__)

ExitJob = Callable[[], WorkloadExit | None]


class ExitDispatcher:
    """Runs exit jobs and calls the handler on a daemon thread started on first use."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[ExitJob | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._handler: ExitHandler | None = None
        self._backlog: list[WorkloadExit] = []
        self._thread: threading.Thread | None = None

    def submit(self, job: ExitJob) -> None:
        """Queue `job`; its result (if not None) goes to the handler once one is set."""
        self._start()
        self._jobs.put(job)

    def set_handler(self, handler: ExitHandler) -> None:
        """Use `handler` from now on, delivering exits kept while there was none."""
        with self._lock:
            self._handler = handler
        self.submit(lambda: None)

    def on_dispatch_thread(self) -> bool:
        """True when called from the handler's own thread (so it must not wait on itself)."""
        return threading.current_thread() is self._thread

    def close(self, *, timeout: float) -> None:
        """Run the jobs already queued, then stop the thread."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        self._jobs.put(None)
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mlkube-exits", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                result = job()
            except Exception:
                _log.exception("runtime: failed to finish a workload exit")
                continue
            if result is not None:
                self._backlog.append(result)
            self._deliver()

    def _deliver(self) -> None:
        with self._lock:
            handler = self._handler
        while handler is not None and self._backlog:
            workload_exit = self._backlog.pop(0)
            try:
                handler(workload_exit)
            except Exception:
                _log.exception("runtime: exit handler failed for %s", workload_exit.id)
