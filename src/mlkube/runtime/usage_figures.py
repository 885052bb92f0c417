"""Current, peak and mean resource use of one workload from its samples: the arithmetic the
local runtime (psutil samples) and the Kubernetes runtime (the metrics API's PodMetrics)
share, so a step's `Usage` means the same on one machine and on a cluster."""

from __future__ import annotations

from dataclasses import dataclass

from mlkube.runtime.base import Usage

__all__ = ["UsageAccumulator"]


@dataclass
class UsageAccumulator:
    """Current, peak and mean of the samples of one workload. Pure arithmetic."""

    cpu_cores: float = 0.0
    memory_bytes: int = 0
    max_cpu_cores: float = 0.0
    max_memory_bytes: int = 0
    samples: int = 0
    cpu_sum: float = 0.0
    memory_sum: int = 0
    lifetime_avg_cpu: float | None = None

    def add(self, cpu_cores: float, memory_bytes: int) -> None:
        """Record one sample."""
        self.cpu_cores, self.memory_bytes = cpu_cores, memory_bytes
        self.max_cpu_cores = max(self.max_cpu_cores, cpu_cores)
        self.max_memory_bytes = max(self.max_memory_bytes, memory_bytes)
        self.samples += 1
        self.cpu_sum += cpu_cores
        self.memory_sum += memory_bytes

    def raise_peak(self, memory_bytes: int) -> None:
        """Take a peak measured elsewhere (cgroup, rusage) into account."""
        self.max_memory_bytes = max(self.max_memory_bytes, memory_bytes)

    def finish(self, *, cpu_seconds: float, wall_seconds: float, peak_bytes: int) -> None:
        """The workload ended: exact lifetime CPU average, current figures drop to zero."""
        self.raise_peak(peak_bytes)
        self.lifetime_avg_cpu = cpu_seconds / wall_seconds if wall_seconds > 0 else 0.0
        self.max_cpu_cores = max(self.max_cpu_cores, self.lifetime_avg_cpu)
        self.cpu_cores, self.memory_bytes = 0.0, 0

    def snapshot(self) -> Usage:
        """The figures as a `Usage`; without samples the mean memory is the peak."""
        if self.lifetime_avg_cpu is not None:
            avg_cpu = self.lifetime_avg_cpu
        else:
            avg_cpu = self.cpu_sum / self.samples if self.samples else 0.0
        avg_memory = self.memory_sum // self.samples if self.samples else self.max_memory_bytes
        return Usage(
            cpu_cores=self.cpu_cores,
            memory_bytes=self.memory_bytes,
            max_cpu_cores=self.max_cpu_cores,
            max_memory_bytes=self.max_memory_bytes,
            samples=self.samples,
            avg_cpu_cores=avg_cpu,
            avg_memory_bytes=avg_memory,
        )
