"""Resource use of each workload's process tree: periodic samples plus exact end figures.

A sample walks the tree with psutil: CPU cores = growth of the tree's total CPU time (user +
system, including already-reaped descendants' `children_*` times) over the wall time since
the previous sample; memory = the sum of RSS. RSS counts pages shared with the warm worker
(a forked child maps the server's image), so it overstates a warm child's own memory; the
memory cgroup's `max_usage_in_bytes`, read when there is one, is the true peak charge.

A workload started with `watch_limit` (a GPU workload without a memory cgroup) is also
checked against that limit at each sample; `sample_all` returns those found over it, once
each, for the runtime to kill (see `memwatch.py`).

At exit, `wait4`'s rusage gives the exact CPU seconds (so the lifetime average is exact even
for a workload too short to be sampled) and the largest RSS any process of the tree reached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psutil

from mlkube.runtime.base import Usage
from mlkube.runtime.local.cgroups import MemoryCgroups
from mlkube.runtime.local.memwatch import MemoryBreach, check_memory, proportional_tree_bytes
from mlkube.runtime.usage_figures import UsageAccumulator

__all__ = ["UsageAccumulator", "UsageSampler", "UsageTracker", "measure_tree", "process_tree"]


def process_tree(process: psutil.Process) -> list[psutil.Process]:
    """`process` and its live descendants (listing them reads every process's `stat`)."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return [process]


def measure_tree(tree: Sequence[psutil.Process]) -> tuple[float, int]:
    """(total CPU seconds, total RSS bytes) of the processes of `tree`."""
    cpu_seconds, rss = 0.0, 0
    for member in tree:
        try:
            with member.oneshot():
                times, memory = member.cpu_times(), member.memory_info()
        except psutil.Error:
            continue  # it exited between listing and reading
        cpu_seconds += times.user + times.system + times.children_user + times.children_system
        rss += memory.rss
    return cpu_seconds, rss


@dataclass
class _Tracked:
    pid: int
    cgroup_dir: str | None
    started: float
    last_time: float
    last_cpu_seconds: float = 0.0
    running: bool = True
    process: psutil.Process | None = None  # made on the first sample, off the launch path
    watch_limit: int | None = None  # memory limit to check at each sample (memwatch.py)
    breached: bool = False  # reported over `watch_limit` already
    figures: UsageAccumulator = field(default_factory=UsageAccumulator)


class UsageTracker:
    """Usage of every workload this runtime knows, kept after exit until `forget`.

    Thread-safe: the sampler thread samples while other threads start and finish workloads.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tracked: dict[str, _Tracked] = {}

    def start(
        self, workload_id: str, pid: int, cgroup_dir: str | None, *, watch_limit: int | None = None
    ) -> None:
        """Begin tracking a workload whose main process is `pid`; with `watch_limit`, also
        check its resident memory against that many bytes at every sample."""
        now = self._clock()
        with self._lock:
            self._tracked[workload_id] = _Tracked(
                pid, cgroup_dir, now, now, watch_limit=watch_limit
            )

    def sample_all(self) -> list[MemoryBreach]:
        """Take one sample of every running workload; return the watched ones newly found
        over their limit (each is reported once)."""
        with self._lock:
            live = [(k, t) for k, t in self._tracked.items() if t.running]
        breaches = []
        for workload_id, tracked in live:
            breach = self._sample(workload_id, tracked)
            if breach is not None:
                breaches.append(breach)
        return breaches

    def _sample(self, workload_id: str, tracked: _Tracked) -> MemoryBreach | None:
        if tracked.process is None:
            try:
                tracked.process = psutil.Process(tracked.pid)
            except psutil.Error:
                return None  # already gone; the exit figures will come with its exit
        tree = process_tree(tracked.process)
        cpu_seconds, rss = measure_tree(tree)
        self._record(workload_id, tracked, cpu_seconds, rss)
        return self._check(workload_id, tracked, tree, rss)

    def _check(
        self, workload_id: str, tracked: _Tracked, tree: list[psutil.Process], rss: int
    ) -> MemoryBreach | None:
        limit = tracked.watch_limit
        if limit is None or tracked.breached:
            return None
        resident = check_memory(limit, rss, lambda: proportional_tree_bytes(tree))
        if resident is None:
            return None
        with self._lock:
            if not tracked.running or tracked.breached:
                return None
            tracked.breached = True
        return MemoryBreach(workload_id, limit, resident)

    def _record(self, workload_id: str, tracked: _Tracked, cpu_seconds: float, rss: int) -> None:
        peak = MemoryCgroups.peak_bytes(tracked.cgroup_dir) if tracked.cgroup_dir else None
        now = self._clock()
        with self._lock:
            if not tracked.running or self._tracked.get(workload_id) is not tracked:
                return
            elapsed = now - tracked.last_time
            cores = (cpu_seconds - tracked.last_cpu_seconds) / elapsed if elapsed > 0 else 0.0
            tracked.last_time, tracked.last_cpu_seconds = now, cpu_seconds
            tracked.figures.add(max(0.0, cores), rss)
            if peak is not None:
                tracked.figures.raise_peak(peak)

    def finish(self, workload_id: str, *, cpu_seconds: float, peak_bytes: int) -> None:
        """The workload exited: fold in its exact CPU time and peak memory."""
        now = self._clock()
        with self._lock:
            tracked = self._tracked.get(workload_id)
            if tracked is None or not tracked.running:
                return
            tracked.running = False
            tracked.figures.finish(
                cpu_seconds=cpu_seconds, wall_seconds=now - tracked.started, peak_bytes=peak_bytes
            )

    def get(self, workload_id: str) -> Usage | None:
        """The workload's usage, or None if it is not tracked."""
        with self._lock:
            tracked = self._tracked.get(workload_id)
            return tracked.figures.snapshot() if tracked else None

    def forget(self, workload_id: str) -> None:
        """Stop tracking (and drop the figures of) a workload."""
        with self._lock:
            self._tracked.pop(workload_id, None)


class UsageSampler:
    """A daemon thread calling `tick()` every `interval` seconds until `close()`."""

    def __init__(self, tick: Callable[[], None], interval: float) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlkube-usage", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick()

    def close(self) -> None:
        """Stop the thread and wait for it (bounded by one tick)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
