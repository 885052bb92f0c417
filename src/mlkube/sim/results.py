"""What a simulation reports: a plain dataclass, and the statistics that fill it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DecisionTimes", "GroupNodes", "Sample", "SimResult", "percentile"]


@dataclass(frozen=True, slots=True)
class Sample:
    """The cluster at virtual time `t`: ready nodes per group, allocated CPU and GPU (milli)."""

    t: float
    nodes: Mapping[str, int]
    cpu_allocated: int
    gpu_allocated: int


@dataclass(frozen=True, slots=True)
class GroupNodes:
    """Ready nodes of one group: the most at any time, and at the end."""

    peak: int
    final: int


@dataclass(frozen=True, slots=True)
class DecisionTimes:
    """How many decisions of each kind a run took and the wall time spent on them: one
    admission decision per workload handed to quota admission (those that cannot fit the
    quota left are filtered out before, in the time counted), one placement decision per pod
    the placement policy was asked to place, one preemption decision per queue head the
    preemption policy was asked about."""

    admissions: int = 0
    admission_s: float = 0.0
    placements: int = 0
    placement_s: float = 0.0
    preemptions: int = 0  # heads preemption was asked about
    preemption_s: float = 0.0

    def per_admission_us(self) -> float:
        return 1e6 * self.admission_s / self.admissions if self.admissions else 0.0

    def per_placement_us(self) -> float:
        return 1e6 * self.placement_s / self.placements if self.placements else 0.0

    def per_preemption_us(self) -> float:
        return 1e6 * self.preemption_s / self.preemptions if self.preemptions else 0.0


@dataclass(frozen=True)
class SimResult:
    """Outcome of one run. Times are virtual seconds except `wall_s`.

    Queue wait is, per workload, the time spent waiting before each start (a preempted workload
    waits again after its grace period), summed; the statistics cover every workload that
    started. Allocation rates are time-weighted: allocated / present capacity over the run."""

    workloads: int
    finished: int
    makespan_s: float
    mean_wait_s: float
    p50_wait_s: float
    p95_wait_s: float
    max_wait_s: float
    admissions: int
    admissions_per_wall_s: float
    preemptions: int
    gpu_allocation: float
    cpu_allocation: float
    nodes: Mapping[str, GroupNodes]
    unschedulable: Mapping[str, str]  # workload key -> why it never (re)started
    wall_s: float
    waits: Mapping[str, float] = field(default_factory=dict)  # workload key -> total wait
    timeline: Sequence[Sample] = ()
    decisions: DecisionTimes = field(default_factory=DecisionTimes)

    def summary(self) -> dict[str, Any]:
        """Everything but the per-workload waits, the timeline and the decision times, as
        JSON-ready data."""
        out = asdict(self)
        del out["waits"], out["timeline"], out["decisions"]
        return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values` (0 for none); `q` in 0..100."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[rank - 1]
