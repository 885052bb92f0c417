"""Usage arithmetic: samples, peaks, averages and exit figures (no processes)."""

from __future__ import annotations

import pytest

from mlkube.runtime.base import Usage
from mlkube.runtime.local.usage import UsageAccumulator, UsageTracker


def test_accumulator_keeps_current_peak_and_mean():
    acc = UsageAccumulator()
    acc.add(1.0, 100)
    acc.add(0.5, 300)
    acc.add(0.0, 200)
    assert acc.snapshot() == Usage(0.0, 200, 1.0, 300, 3, avg_cpu_cores=0.5, avg_memory_bytes=200)


def test_finish_uses_exact_cpu_time_and_outside_peaks():
    acc = UsageAccumulator()
    acc.add(0.2, 100)
    acc.finish(cpu_seconds=3.0, wall_seconds=2.0, peak_bytes=500)
    assert acc.snapshot() == Usage(0.0, 0, 1.5, 500, 1, avg_cpu_cores=1.5, avg_memory_bytes=100)


def test_finish_without_samples():
    acc = UsageAccumulator()
    acc.finish(cpu_seconds=0.001, wall_seconds=0.002, peak_bytes=4096)
    usage = acc.snapshot()
    assert (usage.samples, usage.max_memory_bytes, usage.avg_memory_bytes) == (0, 4096, 4096)
    assert usage.avg_cpu_cores == pytest.approx(0.5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tracker_lifecycle_without_sampling():
    clock = FakeClock()
    tracker = UsageTracker(clock=clock)
    assert tracker.get("w") is None
    tracker.start("w", pid=1 << 30, cgroup_dir=None)  # never sampled: no process is touched
    assert tracker.get("w") == Usage(0.0, 0, 0.0, 0, 0)
    clock.now += 4.0
    tracker.finish("w", cpu_seconds=2.0, peak_bytes=1 << 20)
    tracker.finish("w", cpu_seconds=99.0, peak_bytes=0)  # only the first finish counts
    usage = tracker.get("w")
    assert usage is not None
    assert (usage.avg_cpu_cores, usage.max_memory_bytes) == (0.5, 1 << 20)
    tracker.forget("w")
    assert tracker.get("w") is None
