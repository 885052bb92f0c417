"""`MemoryLimits`: how each workload's memory limit is enforced, and the cgroups that do it.

The mechanism is `plan.choose_memory_enforcement`'s: a "cgroup" workload gets a memory cgroup
of its own (`cgroups.py`), made before its launch request is sent and removed once its exit
has been delivered; "rlimit" and "watchdog" need nothing here (the child sets RLIMIT_AS; the
usage sampler watches, see `memwatch.py`). The cgroup hierarchy is looked for when the first
limited workload starts, not before, and the mechanism GPU workloads get is logged once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import replace

from mlkube.runtime.base import WorkloadSpec
from mlkube.runtime.local.cgroups import MemoryCgroups
from mlkube.runtime.local.exits import ExitFacts
from mlkube.runtime.local.memwatch import describe_enforcement
from mlkube.runtime.local.plan import MemoryEnforcement, choose_memory_enforcement

__all__ = ["MemoryLimits"]

_log = logging.getLogger(__name__)


class MemoryLimits:
    """The memory side of `LocalRuntime`; thread-safe.

    `cgroup_root`: None finds a writable cgroup v1 memory directory under our own cgroup, ""
    disables cgroups, a path names the memory cgroup directory to create ours under (raises
    `ValueError` if it is not one). `sample_interval` is only for the log line.
    """

    def __init__(self, cgroup_root: str | None, *, sample_interval: float) -> None:
        if cgroup_root and not os.path.exists(os.path.join(cgroup_root, "memory.limit_in_bytes")):
            raise ValueError(f"cgroup_root {cgroup_root!r} is not a cgroup v1 memory directory")
        self._root = cgroup_root
        self._sample_interval = sample_interval
        self._lock = threading.Lock()
        self._cgroups: MemoryCgroups | None = None
        self._opened = False
        self._gpu_logged = False

    def prepare(self, spec: WorkloadSpec) -> tuple[MemoryEnforcement | None, str | None]:
        """How `spec`'s limit is enforced (None: it has none), and its new cgroup directory
        if by one. Raises `OSError` when that cgroup cannot be made."""
        if spec.memory_limit_bytes is None:
            return None, None
        with self._lock:
            if not self._opened:
                self._opened = True
                self._cgroups = MemoryCgroups.open(self._root)
            how = choose_memory_enforcement(cgroups=self._cgroups is not None, gpus=bool(spec.gpus))
            if spec.gpus and not self._gpu_logged:
                self._gpu_logged = True
                note = describe_enforcement(how, sample_interval=self._sample_interval)
                _log.info("memory limits of GPU workloads are enforced by %s", note)
            if self._cgroups is None:
                return how, None
            return how, self._cgroups.create(spec.id, spec.memory_limit_bytes)

    @staticmethod
    def read_exit(directory: str, facts: ExitFacts, peak: int) -> tuple[int, ExitFacts]:
        """The cgroup's verdict on an ended workload: `peak` raised to the cgroup's peak, and
        `facts` with `oom_killed` from its OOM counter (both unchanged if it cannot be read)."""
        try:
            oom = MemoryCgroups.oom_killed(directory, sigkilled=facts.signal == signal.SIGKILL)
            peak = max(peak, MemoryCgroups.peak_bytes(directory) or 0)
            facts = replace(facts, oom_killed=oom)
        except (OSError, ValueError) as exc:
            _log.warning("runtime: cannot read memory cgroup %s: %s", directory, exc)
        return peak, facts

    def remove(self, directory: str) -> None:
        """Remove an ended workload's cgroup (retried later while the kernel refuses)."""
        with self._lock:
            if self._cgroups is not None:
                self._cgroups.remove(directory)

    def retry_removals(self) -> None:
        """Try again to remove the cgroups the kernel would not let go of yet."""
        with self._lock:
            if self._cgroups is not None:
                self._cgroups.retry_removals()

    def close(self) -> None:
        """Remove our cgroups (the runtime has stopped its workloads first)."""
        with self._lock:
            if self._cgroups is not None:
                self._cgroups.close()
