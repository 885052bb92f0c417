"""One workload's life in a simulation, and the kinds of events that move it along."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlkube.scheduling.admission import PendingReason
from mlkube.scheduling.quota import Workload as QuotaWorkload
from mlkube.sim.nodes import Held
from mlkube.sim.spec import SimWorkload

__all__ = ["ARRIVE", "EVICTED", "FINISH", "READY", "WAKE", "Run"]

ARRIVE, READY, FINISH, EVICTED, WAKE = range(5)


@dataclass(slots=True, eq=False)
class Run:
    """One workload's life: future -> waiting -> (reserved ->) running -> done, and back to
    waiting after a preemption (running -> terminating -> waiting)."""

    wl: SimWorkload
    quota: QuotaWorkload | None
    shape: int  # equal for workloads of one queue with equal pod sets
    state: str = "future"
    enqueued: float = 0.0
    held: list[Held] = field(default_factory=list)
    generation: int = 0  # bumped on eviction: a stale completion event is ignored
    wait: float = 0.0
    started: bool = False
    flavors: tuple[str, ...] | None = None  # last flavors admission chose
    blockers: int = 0  # reserved: victims still in their grace period
    preemptor: str | None = None  # terminating: who it makes room for
    reason: str = ""  # why it could not be placed, when that was the last word
    scale_note: str = ""  # why no node group could help, from the last autoscaler pass
    quota_reason: PendingReason | None = None  # why quota admission left it waiting

    @property
    def order(self) -> tuple[int, float, str]:
        """Most urgent first: higher priority, then longer waiting, then by name."""
        return -self.wl.priority, self.enqueued, self.wl.key

    def why(self) -> str:
        """Why it is not done, for `SimResult.unschedulable`."""
        if self.quota_reason is not None and self.state == "waiting":
            return self.quota_reason.message()
        if self.reason:
            return self.reason + (f"; {self.scale_note}" if self.scale_note else "")
        return f"still {self.state} when nothing was left to happen"
