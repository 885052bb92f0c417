"""`FakeRuntime`: the `Runtime` protocol without processes, for controller tests.

`launch` records the spec and hands out a fake pid; nothing runs until the test says how the
workload ends with `finish(id, ...)`, which calls the exit handler synchronously on the
test's own thread. No threads, no clock reads unless you let it use `time.time`.

    fake = FakeRuntime(cpus=(0, 1, 2, 3), memory_bytes=16 << 30)
    fake.set_exit_handler(exits.append)
    controller.reconcile()                       # launches through the fake
    fake.finish("run-1-train-0", exit_code=3)     # -> WorkloadExit(reason="Error", ...)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from mlkube.runtime.base import (
    ExitHandler,
    ExitReason,
    GpuDevice,
    NodeInfo,
    Runtime,
    Usage,
    WorkloadExit,
    WorkloadSpec,
)

__all__ = ["FakeRuntime"]

_FIRST_PID = 10_000


class FakeRuntime:
    """An in-memory `Runtime`. Thread-safe; the handler runs outside its lock.

    `stop()` records `(id, grace_seconds)` in `stops` and, unless `finish_on_stop` is False,
    finishes the workload at once with reason `Killed`. `close()` does the same for every
    running workload.
    """

    def __init__(
        self,
        *,
        node_name: str = "fake-node",
        cpus: Sequence[int] = (0, 1, 2, 3),
        memory_bytes: int = 16 << 30,
        gpus: Sequence[GpuDevice] = (),
        finish_on_stop: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node_info = NodeInfo(node_name, tuple(cpus), memory_bytes, tuple(gpus))
        self.finish_on_stop = finish_on_stop
        self.launched: list[WorkloadSpec] = []
        self.stops: list[tuple[str, float]] = []
        self.exits: list[WorkloadExit] = []
        self.closed = False
        self._clock = clock
        self._lock = threading.Lock()
        self._specs: dict[str, WorkloadSpec] = {}
        self._pids: dict[str, int] = {}
        self._running: set[str] = set()
        self._usage: dict[str, Usage] = {}
        self._handler: ExitHandler | None = None
        self._undelivered: list[WorkloadExit] = []

    # -- the Runtime protocol ------------------------------------------------------------

    def node(self) -> NodeInfo:
        """The configured `NodeInfo` (assign `node_info` to change it mid-test)."""
        return self.node_info

    def launch(self, spec: WorkloadSpec) -> int:
        """Record `spec` and return a fake pid; idempotent on `spec.id` until `forget`."""
        with self._lock:
            if self.closed:
                raise RuntimeError("FakeRuntime is closed")
            if spec.id in self._pids:
                return self._pids[spec.id]
            pid = _FIRST_PID + len(self.launched)
            self.launched.append(spec)
            self._specs[spec.id] = spec
            self._pids[spec.id] = pid
            self._running.add(spec.id)
            return pid

    def start(self, spec: WorkloadSpec) -> None:
        """See `Runtime.start`: the same as `launch` here."""
        self.launch(spec)

    def stop(self, id: str, *, grace_seconds: float) -> None:
        """Record the stop; finish as `Killed` now if `finish_on_stop`. Unknown ids: no-op."""
        with self._lock:
            if id not in self._running:
                return
            self.stops.append((id, grace_seconds))
        if self.finish_on_stop:
            self.finish(
                id, exit_code=None, signal=15, reason="Killed", message="stopped (by SIGTERM)"
            )

    def set_exit_handler(self, handler: ExitHandler) -> None:
        """Use `handler`; exits finished while there was none are delivered now."""
        with self._lock:
            self._handler = handler
            pending, self._undelivered = self._undelivered, []
        for workload_exit in pending:
            handler(workload_exit)

    def running(self) -> set[str]:
        """Ids launched and not yet finished."""
        with self._lock:
            return set(self._running)

    def usage(self, id: str) -> Usage | None:
        """What `set_usage` stored for `id`, else zeros for a known id, else None."""
        with self._lock:
            if id not in self._pids:
                return None
            return self._usage.get(id, Usage(0.0, 0, 0.0, 0, 0))

    def forget(self, id: str) -> None:
        """Drop a finished workload; running ones are left alone."""
        with self._lock:
            if id in self._running or id not in self._pids:
                return
            del self._pids[id], self._specs[id]
            self._usage.pop(id, None)

    def close(self) -> None:
        """Finish every running workload as `Killed`; later launches raise."""
        with self._lock:
            self.closed = True
            live = sorted(self._running)
        for workload_id in live:
            self.finish(
                workload_id, exit_code=None, signal=15, reason="Killed", message="runtime closed"
            )

    # -- test controls -------------------------------------------------------------------

    def finish(
        self,
        id: str,
        exit_code: int | None = 0,
        *,
        reason: ExitReason | None = None,
        signal: int | None = None,
        message: str | None = None,
        finished_at: float | None = None,
    ) -> WorkloadExit:
        """End a running workload and deliver its exit to the handler, synchronously.

        `reason` defaults from the exit: `Completed` for 0, `Error` otherwise, `Killed` for a
        signal. Raises `KeyError` if `id` is not running (a bug in the test).
        """
        if reason is None:
            reason = "Killed" if signal is not None else "Completed" if exit_code == 0 else "Error"
        if message is None:
            message = (
                f"killed by signal {signal}" if signal is not None else f"exit code {exit_code}"
            )
        when = self._clock() if finished_at is None else finished_at
        workload_exit = WorkloadExit(id, exit_code, signal, reason, message, when)
        with self._lock:
            if id not in self._running:
                raise KeyError(f"workload {id!r} is not running")
            self._running.discard(id)
            self.exits.append(workload_exit)
            handler = self._handler
            if handler is None:
                self._undelivered.append(workload_exit)
        if handler is not None:
            handler(workload_exit)
        return workload_exit

    def set_usage(self, id: str, usage: Usage) -> None:
        """Make `usage(id)` return `usage` (a launched id)."""
        with self._lock:
            self._usage[id] = usage

    def spec(self, id: str) -> WorkloadSpec:
        """The spec launched under `id` (`KeyError` if none)."""
        with self._lock:
            return self._specs[id]


def _satisfies_protocol(runtime: FakeRuntime) -> Runtime:
    # Never called: makes mypy check FakeRuntime against the Runtime protocol.
    return runtime
