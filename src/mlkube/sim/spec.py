"""What a simulation runs: nodes, node groups, quotas and workloads, as plain data.

The trace loaders (`mlkube.sim.trace` for YAML, `mlkube.sim.alibaba` for the public Alibaba
trace) build a `SimSpec`; benchmarks may build one directly. Quotas are the platform's own
`QueueConfig`, translated from ClusterQueue / ResourceFlavor manifests by the quota gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlkube.controllers.pipelinerun.quota_gate import QueueConfig
from mlkube.scheduling.cluster import ClusterNode, Task
from mlkube.scheduling.nodegroups import DEFAULT_SCALE_DOWN_UNNEEDED_S, Expander, NodeTemplate
from mlkube.scheduling.quota import FlavorOption, PodSet, ResourceVector, Workload

__all__ = [
    "GroupSpec",
    "SimOption",
    "SimPodSet",
    "SimSettings",
    "SimSpec",
    "SimWorkload",
]


@dataclass(frozen=True, slots=True)
class SimOption:
    """One fallback choice of a pod set: the quota flavor it is charged to ("" when its
    namespace has no queue), what each pod counts against quota, and each pod's placement task."""

    flavor: str
    per_pod: ResourceVector
    task: Task


@dataclass(frozen=True, slots=True)
class SimPodSet:
    """`count` identical pods; `options` is the fallback list, most preferred first."""

    name: str
    count: int
    options: tuple[SimOption, ...]


@dataclass(frozen=True, slots=True)
class SimWorkload:
    """A unit of work: arrives at `arrival`, runs `duration` seconds once all its pods start.

    `queue` is None when its namespace has no ClusterQueue: it is then never limited by quota
    (as on the platform) and goes straight to placement, trying its options in order."""

    key: str
    namespace: str
    queue: str | None
    priority: int
    arrival: float
    duration: float
    pod_sets: tuple[SimPodSet, ...]

    def quota_workload(self, created: float) -> Workload:
        """The workload as quota admission sees it, pending, aged from `created`."""
        assert self.queue is not None
        sets = tuple(
            PodSet(ps.name, ps.count, tuple(FlavorOption(o.flavor, o.per_pod) for o in ps.options))
            for ps in self.pod_sets
        )
        return Workload(self.key, self.queue, self.priority, created, sets)

    def tasks(self, flavors: tuple[str, ...] | None) -> tuple[Task, ...]:
        """Every pod's task for the chosen flavor per pod set (None: each set's first option)."""
        out: list[Task] = []
        for index, ps in enumerate(self.pod_sets):
            option = ps.options[0]
            if flavors is not None:
                option = next(o for o in ps.options if o.flavor == flavors[index])
            out.extend(option.task for _ in range(ps.count))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A node group: nodes of `template`, between `min_nodes` and `max_nodes`; `initial` at
    the start."""

    name: str
    template: NodeTemplate
    min_nodes: int
    max_nodes: int
    initial: int


@dataclass(frozen=True, slots=True)
class SimSettings:
    """Knobs of the simulated control plane, in virtual seconds.

    `tick_s`: decisions are taken once per tick in which something happened (Kueue and the
    cluster autoscaler both work in passes); 0 decides at every event time."""

    autoscale: bool = True
    provisioning_s: float = 60.0
    scale_down_unneeded_s: float = DEFAULT_SCALE_DOWN_UNNEEDED_S
    expander: Expander = "least-waste"
    preemption_grace_s: float = 30.0
    tick_s: float = 1.0
    placement: str = "best-fit"  # or "fgd"

    def __post_init__(self) -> None:
        for name in ("provisioning_s", "scale_down_unneeded_s", "preemption_grace_s", "tick_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"settings.{name} must not be negative")
        if self.placement not in ("best-fit", "fgd"):
            raise ValueError(f"settings.placement {self.placement!r}: use best-fit or fgd")


@dataclass(frozen=True)
class SimSpec:
    """Everything one run needs."""

    nodes: tuple[ClusterNode, ...]
    groups: tuple[GroupSpec, ...]
    queues: QueueConfig
    workloads: tuple[SimWorkload, ...]
    settings: SimSettings = field(default_factory=SimSettings)
