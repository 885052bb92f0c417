"""What a run measures as it goes (allocation over time, the timeline, peak nodes), and the
`SimResult` it reports at the end."""

from __future__ import annotations

from collections.abc import Mapping

from mlkube.sim.nodes import NodePool
from mlkube.sim.preempt import Preemption
from mlkube.sim.results import DecisionTimes, GroupNodes, Sample, SimResult, percentile
from mlkube.sim.runs import Run

__all__ = ["Metrics"]


class Metrics:
    def __init__(self, pool: NodePool) -> None:
        self.pool = pool
        self.admissions = self.finished = 0
        self.last_finish = self.last = 0.0
        self.area = [0.0, 0.0, 0.0, 0.0]  # cpu allocated, cpu present, gpu allocated, present
        self.timeline: list[Sample] = []
        self.peak = pool.ready_counts()
        self.admission_decisions = 0
        self.admission_s = 0.0

    def account(self, now: float) -> None:
        """Add what was allocated and present since the last call, weighted by time."""
        dt, pool = now - self.last, self.pool
        for i, value in enumerate(
            (pool.cpu_allocated, pool.cpu_total, pool.gpu_allocated, pool.gpu_total)
        ):
            self.area[i] += value * dt
        self.last = now

    def sample(self, now: float) -> None:
        """Add a timeline point if nodes or allocation changed since the last one."""
        counts = self.pool.ready_counts()
        sample = Sample(now, counts, self.pool.cpu_allocated, self.pool.gpu_allocated)
        previous = self.timeline[-1] if self.timeline else None
        if previous and (previous.nodes, previous.cpu_allocated, previous.gpu_allocated) == (
            counts,
            sample.cpu_allocated,
            sample.gpu_allocated,
        ):
            return
        self.timeline.append(sample)
        for group, count in counts.items():
            self.peak[group] = max(self.peak[group], count)

    def result(self, runs: Mapping[str, Run], preemption: Preemption, *, wall: float) -> SimResult:
        waits = {k: r.wait for k, r in runs.items() if r.started}
        ordered = sorted(waits.values())
        final = self.pool.ready_counts()
        return SimResult(
            workloads=len(runs),
            finished=self.finished,
            makespan_s=self.last_finish,
            mean_wait_s=sum(ordered) / len(ordered) if ordered else 0.0,
            p50_wait_s=percentile(ordered, 50),
            p95_wait_s=percentile(ordered, 95),
            max_wait_s=ordered[-1] if ordered else 0.0,
            admissions=self.admissions,
            admissions_per_wall_s=self.admissions / wall if wall > 0 else 0.0,
            preemptions=preemption.count,
            gpu_allocation=self.area[2] / self.area[3] if self.area[3] else 0.0,
            cpu_allocation=self.area[0] / self.area[1] if self.area[1] else 0.0,
            nodes={g: GroupNodes(self.peak[g], final[g]) for g in final},
            unschedulable={k: r.why() for k, r in runs.items() if r.state != "done"},
            wall_s=wall,
            waits=waits,
            timeline=tuple(self.timeline),
            decisions=DecisionTimes(
                self.admission_decisions,
                self.admission_s,
                self.pool.placements,
                self.pool.placement_s,
                preemption.asked,
                preemption.spent,
            ),
        )
