"""`LocalRuntime`: workloads as processes on this machine, with enforced limits.

Who does what:

- the calling thread (`launch`): creates the memory cgroup (`limits.py`), builds the request
  (`plan.py`), sends it to the fork server and waits for the pid (a round trip of well under
  a millisecond once the server is warm);
- the fork server (`forkserver.py`, a separate single-threaded process): hands the request
  to a child forked in advance, which sets itself up (`child.py`) and runs the target in
  place or execs; watches exits through pidfds, enforces stop grace periods;
- the link thread (`link.py`): owns the server process, reads its events;
- the exit thread (`dispatch.py`): reads the cgroup's OOM counter and peak, removes the
  cgroup, classifies the exit (`exits.py`) and calls the handler;
- the usage thread (`usage.py`): samples every running workload's process tree, and kills
  a watched workload found over its memory limit (below).

Memory limits (`limits.py`, by `plan.choose_memory_enforcement`): a cgroup v1 memory cgroup
per workload where we can create one (the kernel charges and OOM-kills); otherwise RLIMIT_AS
in the child, except for GPU workloads, which CUDA/ROCm's huge address-space reservations
would stop from starting: their resident memory is checked at every usage sample instead
(`memwatch.py`), and one found over its limit is SIGKILLed through the fork server and
reported OOMKilled. Sampling can overshoot the limit between two samples (`sample_interval`).

If the platform process dies, even by SIGKILL, the fork server gets SIGTERM from the kernel
(PDEATHSIG) and SIGKILLs every workload's process group; each workload also has PDEATHSIG
SIGKILL towards the server, so nothing outlives the platform.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psutil

from mlkube.runtime.base import (
    ExitHandler,
    GpuDevice,
    NodeInfo,
    Runtime,
    Usage,
    WorkloadExit,
    WorkloadSpec,
)
from mlkube.runtime.local.cgroups import MemoryCgroups, cgroup_memory_limit
from mlkube.runtime.local.dispatch import ExitDispatcher
from mlkube.runtime.local.exits import ExitFacts, classify_exit
from mlkube.runtime.local.gpus import detect_gpus
from mlkube.runtime.local.limits import MemoryLimits
from mlkube.runtime.local.link import ServerLink
from mlkube.runtime.local.memwatch import MemoryBreach
from mlkube.runtime.local.plan import MemoryEnforcement, launch_request
from mlkube.runtime.local.usage import UsageSampler, UsageTracker

__all__ = ["LocalRuntime"]

_log = logging.getLogger(__name__)

_REPLY_TIMEOUT = 120.0  # a first launch may wait for a slow `preload` import (torch: seconds)
_CLOSE_SLACK = 5.0


@dataclass(eq=False)
class _Workload:
    spec: WorkloadSpec
    generation: int = 0  # which fork server it was sent to
    pid: int = 0
    cgroup_dir: str | None = None
    memory: MemoryEnforcement | None = None  # None: no memory limit
    breach: MemoryBreach | None = None  # set before the watchdog kills it
    started: threading.Event = field(default_factory=threading.Event)
    exit_queued: bool = False  # its exit has been handed to the exit thread
    done: bool = False  # its exit is being (or has been) delivered


class LocalRuntime:
    """The `Runtime` protocol for this machine's processes; see the module docstring.

    `gpus`: None detects the node's GPUs (NVML, amdsmi, sysfs); a sequence is taken as the
    node's device list (fake devices in tests). `sample_interval`: seconds between usage
    samples, which is also how often a GPU workload's memory is checked where there is no
    cgroup. `cgroup_root`: None finds a writable cgroup v1 memory directory under our own
    cgroup, "" disables cgroups (memory limits then use RLIMIT_AS, or sampling for GPU
    workloads), a path names the memory cgroup directory to create ours under. `node_name`
    defaults to the host name.
    """

    def __init__(
        self,
        *,
        gpus: Sequence[GpuDevice] | None = None,
        sample_interval: float = 1.0,
        cgroup_root: str | None = None,
        node_name: str | None = None,
    ) -> None:
        if sample_interval <= 0:
            raise ValueError("sample_interval: must be positive")
        self._memory = MemoryLimits(cgroup_root, sample_interval=sample_interval)
        self._gpus = tuple(gpus) if gpus is not None else None
        self._sample_interval = sample_interval
        self._node_name = node_name or socket.gethostname()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._workloads: dict[str, _Workload] = {}
        self._closed = False
        self._usage = UsageTracker()
        self._sampler: UsageSampler | None = None
        self._exits = ExitDispatcher()
        self._link = ServerLink(self._on_event, self._on_lost)

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the Runtime protocol ------------------------------------------------------------

    def node(self) -> NodeInfo:
        """Cores in our affinity mask, min(RAM, our cgroup limit), the GPUs (detected once)."""
        memory = psutil.virtual_memory().total
        limit = cgroup_memory_limit()
        with self._lock:
            if self._gpus is None:
                self._gpus = detect_gpus()
            gpus = self._gpus
        return NodeInfo(
            name=self._node_name,
            cpus=tuple(sorted(os.sched_getaffinity(0))),
            memory_bytes=min(memory, limit) if limit else memory,
            gpus=gpus,
        )

    def launch(self, spec: WorkloadSpec) -> int:
        """See `Runtime.launch`. Blocks only for the fork server's reply (and, on the first
        launch naming a new `preload`, for that import)."""
        workload = self._admit(spec)
        if not workload.started.wait(_REPLY_TIMEOUT):
            _log.error("runtime worker did not answer launch of %s; restarting it", spec.id)
            self._link.kill()  # its loss reports this launch as failed
            workload.started.wait(_REPLY_TIMEOUT)
        return workload.pid

    def start(self, spec: WorkloadSpec) -> None:
        """See `Runtime.start`: hands the request to the fork server and returns."""
        self._admit(spec)

    def stop(self, id: str, *, grace_seconds: float) -> None:
        """See `Runtime.stop`. Waits only while the workload's own launch is in flight."""
        with self._lock:
            workload = self._workloads.get(id)
        if workload is None or not workload.started.wait(_REPLY_TIMEOUT):
            return
        with self._lock:
            if workload.exit_queued or workload.pid == 0:
                return
        # OSError: the server is gone, and its workloads with it; their exits are on the way.
        with suppress(OSError):
            self._link.send({"op": "stop", "id": id, "grace": max(0.0, grace_seconds)})

    def set_exit_handler(self, handler: ExitHandler) -> None:
        """See `Runtime.set_exit_handler`."""
        self._exits.set_handler(handler)

    def running(self) -> set[str]:
        """See `Runtime.running`."""
        with self._lock:
            return {key for key, w in self._workloads.items() if not w.done}

    def usage(self, id: str) -> Usage | None:
        """See `Runtime.usage`."""
        return self._usage.get(id)

    def forget(self, id: str) -> None:
        """See `Runtime.forget`."""
        with self._lock:
            workload = self._workloads.get(id)
            if workload is None or not workload.done:
                return
            del self._workloads[id]
        self._usage.forget(id)

    def close(self, *, grace_seconds: float = 5.0) -> None:
        """See `Runtime.close`: SIGTERM everything, SIGKILL after `grace_seconds`, then stop
        the fork server and the helper threads and remove our cgroups."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            live = [key for key, w in self._workloads.items() if not w.exit_queued]
        for key in live:
            self.stop(key, grace_seconds=grace_seconds)
        if not self._exits.on_dispatch_thread():
            with self._changed:
                self._changed.wait_for(self._all_done, timeout=grace_seconds + _CLOSE_SLACK)
        self._link.close(timeout=_CLOSE_SLACK)
        if self._sampler is not None:
            self._sampler.close()
        self._exits.close(timeout=_CLOSE_SLACK)
        self._memory.close()

    # -- extras --------------------------------------------------------------------------

    def warm(self, preload: Sequence[str] = ()) -> None:
        """Start the fork server now and import `preload` into it, without waiting.

        Lets the platform pay interpreter start-up and heavy imports before the first step
        needs them. Import failures are ignored here; a launch naming the same entry retries
        and reports it.
        """
        self._link.ensure_running()
        self._link.send({"op": "preload", "refs": list(preload)})

    @property
    def worker_pid(self) -> int | None:
        """The fork server's pid while it runs (for diagnostics and tests)."""
        return self._link.server_pid

    # -- launching -----------------------------------------------------------------------

    def _admit(self, spec: WorkloadSpec) -> _Workload:
        """The workload's record: a known id's, or a new one whose launch is sent now."""
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalRuntime is closed")
            workload = self._workloads.get(spec.id)
            if workload is not None:
                return workload
            workload = self._workloads[spec.id] = _Workload(spec)
        self._start(workload)
        return workload

    def _start(self, workload: _Workload) -> None:
        try:
            self._start_helpers()
            workload.memory, workload.cgroup_dir = self._memory.prepare(workload.spec)
        except (OSError, RuntimeError) as exc:
            self._fail(workload, f"cannot prepare the workload: {exc}")
            return
        procs = MemoryCgroups.procs_file(workload.cgroup_dir) if workload.cgroup_dir else None
        request = launch_request(
            workload.spec,
            base_env=os.environ,
            cgroup_procs=procs,
            address_space_limit=workload.memory == "rlimit",
        )

        def record(generation: int) -> None:
            workload.generation = generation

        try:
            self._link.send(request, on_sent=record)
        except OSError as exc:
            self._fail(workload, f"runtime worker unavailable: {exc}")

    def _start_helpers(self) -> None:
        self._link.ensure_running()
        with self._lock:
            if self._sampler is None:
                self._sampler = UsageSampler(self._tick, self._sample_interval)

    def _tick(self) -> None:
        try:
            for breach in self._usage.sample_all():
                self._kill_for_memory(breach)
            self._memory.retry_removals()
        except Exception:
            _log.exception("runtime: usage sampling failed")

    def _kill_for_memory(self, breach: MemoryBreach) -> None:
        with self._lock:
            workload = self._workloads.get(breach.workload_id)
            if workload is None or workload.exit_queued:
                return
            workload.breach = breach  # before the kill, so its exit is classified with it
        _log.warning(
            "workload %s over its memory limit: %s; killing it", breach.workload_id, breach.detail()
        )
        # OSError: the server is gone, and the workload with it; its exit is on the way.
        with suppress(OSError):
            self._link.send({"op": "kill", "id": breach.workload_id})

    # -- events from the fork server (link thread) ---------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            workload = self._workloads.get(str(event.get("id")))
        if workload is None:
            return
        kind = event.get("ev")
        if kind == "started":
            workload.pid = int(event["pid"])
            watch = workload.spec.memory_limit_bytes if workload.memory == "watchdog" else None
            self._usage.start(
                workload.spec.id, workload.pid, workload.cgroup_dir, watch_limit=watch
            )
            workload.started.set()
        elif kind == "failed":
            self._fail(workload, str(event["message"]))
        elif kind == "exited":
            self._queue_exit(workload, _facts(workload, event), event)

    def _on_lost(self, generation: int, why: str) -> None:
        with self._lock:
            victims = [
                w
                for w in self._workloads.values()
                if w.generation == generation and not w.exit_queued
            ]
        for workload in victims:
            if not workload.started.is_set():
                self._fail(workload, why)
            else:
                facts = ExitFacts(None, signal.SIGKILL, time.time(), stopped=True, lost=why)
                self._queue_exit(workload, facts, {})

    def _fail(self, workload: _Workload, message: str) -> None:
        workload.started.set()
        self._queue_exit(workload, ExitFacts(None, None, time.time(), launch_error=message), {})

    def _queue_exit(self, workload: _Workload, facts: ExitFacts, event: dict[str, Any]) -> None:
        with self._lock:
            if workload.exit_queued:
                return
            workload.exit_queued = True
        cpu_seconds = float(event.get("cpu_seconds", 0.0))
        max_rss = int(event.get("max_rss_bytes", 0))
        self._exits.submit(lambda: self._finish(workload, facts, cpu_seconds, max_rss))

    # -- exits (exit thread) -------------------------------------------------------------

    def _finish(
        self, workload: _Workload, facts: ExitFacts, cpu_seconds: float, max_rss: int
    ) -> WorkloadExit:
        peak, directory = max_rss, workload.cgroup_dir
        if directory is not None:
            peak, facts = self._memory.read_exit(directory, facts, peak)
            # Removal (slow for a memory cgroup) waits until the exit has been delivered.
            self._exits.submit(lambda: self._memory.remove(directory))
        self._usage.finish(workload.spec.id, cpu_seconds=cpu_seconds, peak_bytes=peak)
        workload_exit = classify_exit(workload.spec.id, facts)
        with self._changed:
            workload.done = True
            self._changed.notify_all()
        return workload_exit

    def _all_done(self) -> bool:
        return all(w.done for w in self._workloads.values())


def _facts(workload: _Workload, event: dict[str, Any]) -> ExitFacts:
    spec, breach = workload.spec, workload.breach
    return ExitFacts(
        exit_code=event.get("exit_code"),
        signal=event.get("signal"),
        finished_at=float(event["finished_at"]),
        stopped=bool(event.get("stopped")),
        launch_error=str(event.get("launch_error") or ""),
        python_target=spec.python is not None,
        memory_limit_bytes=spec.memory_limit_bytes,
        oom_killed=breach is not None,
        oom_detail=breach.detail() if breach is not None else "",
    )


def _satisfies_protocol(runtime: LocalRuntime) -> Runtime:
    # Never called: makes mypy check LocalRuntime against the Runtime protocol.
    return runtime
