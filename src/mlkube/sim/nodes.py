"""The simulated machines: static nodes and node-group nodes in one placement `Cluster`.

`NodePool` owns the cluster and everything the engine asks of machines: placing a gang
all-or-nothing with the scheduler's placement policy, releasing it, adding and removing group
nodes, which nodes are empty since when, and running totals of what is allocated.

Node indices change when nodes come and go (the cluster is rebuilt around the same node
objects, which keep what they hold), so a placed pod is remembered by its node object and its
index looked up when it is released.

The pool also remembers which nodes gained room since the engine last asked (`take_gained`):
work that found no room is only worth trying again when one did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from mlkube.scheduling.cluster import Cluster, ClusterNode, Task
from mlkube.scheduling.nodegroups import GroupNode, is_empty
from mlkube.scheduling.placement import Placement, apply, best_fit, fgd, release
from mlkube.scheduling.placement import Workload as PlacementWorkload
from mlkube.sim.spec import GroupSpec, SimPodSet, SimSpec

__all__ = ["Held", "NodePool", "PlacementPolicy", "policy_for"]

PlacementPolicy = Callable[[Cluster, Task], Placement | None]


@dataclass(frozen=True, slots=True)
class Held:
    """One placed pod: its task, the node it runs on, the devices and share it took."""

    task: Task
    node: ClusterNode
    gpu_indices: tuple[int, ...]
    gpu_milli: int


class NodePool:
    """Static nodes (never scaled) plus the nodes of each group."""

    def __init__(self, static: Sequence[ClusterNode], groups: Sequence[GroupSpec]) -> None:
        self.groups = {g.name: g for g in groups}
        self.group_of: dict[str, str] = {}  # group nodes only
        self.idle_since: dict[str, float | None] = {n.name: 0.0 for n in static}
        self._named = {g: 0 for g in self.groups}
        self._nodes: list[ClusterNode] = list(static)
        self.cluster = Cluster(self._nodes)
        self._index: dict[str, int] = {}
        self.cpu_allocated = self.gpu_allocated = 0  # milli-CPU, milli-GPU
        self.cpu_total = self.gpu_total = 0  # of the nodes present now
        self._gained: dict[str, ClusterNode] = {}
        self.placements = 0  # pods the policy was asked to place
        self.placement_s = 0.0  # wall time spent placing gangs
        for group in groups:
            self.add_nodes(group.name, group.initial, now=0.0)
        self._rebuild()

    # --- capacity -------------------------------------------------------------------------

    def add_nodes(self, group: str, count: int, *, now: float) -> list[ClusterNode]:
        """`count` fresh nodes of the group's template, empty since `now`."""
        template = self.groups[group].template
        added = []
        for _ in range(count):
            name = f"{group}-{self._named[group]}"
            self._named[group] += 1
            node = template.node(name)
            self._nodes.append(node)
            self.group_of[name] = group
            self.idle_since[name] = now
            self._gained[name] = node
            added.append(node)
        self._rebuild()
        return added

    def remove_nodes(self, names: Iterable[str]) -> None:
        """Remove empty group nodes; ValueError (nothing changed) for a busy or static one."""
        gone = set(names)
        for node in self._nodes:
            if node.name in gone and (node.name not in self.group_of or not is_empty(node)):
                raise ValueError(f"node {node.name} is static or busy; it cannot be removed")
        self._nodes[:] = [n for n in self._nodes if n.name not in gone]
        for name in gone:
            self.group_of.pop(name, None)
            self.idle_since.pop(name, None)
            self._gained.pop(name, None)
        self._rebuild()

    def _rebuild(self) -> None:
        self.cluster = Cluster(self._nodes)
        self._index = {n.name: i for i, n in enumerate(self._nodes)}
        self.cpu_total = sum(n.cpu_milli for n in self._nodes)
        self.gpu_total = self.cluster.gpu_total_milli()

    def take_gained(self) -> list[ClusterNode]:
        """Nodes added or given room back since the last call."""
        gained = list(self._gained.values())
        self._gained = {}
        return gained

    @property
    def nodes(self) -> Sequence[ClusterNode]:
        return self._nodes

    def ready_counts(self) -> dict[str, int]:
        """Ready nodes per group."""
        counts = dict.fromkeys(self.groups, 0)
        for group in self.group_of.values():
            counts[group] += 1
        return counts

    def group_nodes(self) -> list[GroupNode]:
        """Every group node with when it became empty, for the node-group policy."""
        return [
            GroupNode(n, self.group_of[n.name], self.idle_since[n.name])
            for n in self._nodes
            if n.name in self.group_of
        ]

    # --- pods -----------------------------------------------------------------------------

    def place_gang(
        self, tasks: Sequence[Task], policy: PlacementPolicy, *, now: float
    ) -> list[Held] | None:
        """Place every task or none (what was placed is released again); None if any fails."""
        start = time.perf_counter()
        try:
            return self._place_gang(tasks, policy)
        finally:
            self.placement_s += time.perf_counter() - start

    def _place_gang(self, tasks: Sequence[Task], policy: PlacementPolicy) -> list[Held] | None:
        held: list[Held] = []
        for task in tasks:
            self.placements += 1
            placement = policy(self.cluster, task)
            if placement is None:
                self._unplace(held)  # back as it was: no node gained room
                return None
            apply(self.cluster, task, placement)
            node = self._nodes[placement.node_index]
            held.append(Held(task, node, placement.gpu_indices, placement.gpu_milli))
            self.cpu_allocated += task.cpu_milli
            self.gpu_allocated += task.num_gpu * task.gpu_milli
        for pod in held:  # only now: a gang given back leaves the idle clocks as they were
            self.idle_since[pod.node.name] = None
        return held

    def release(self, held: Iterable[Held], *, now: float) -> list[ClusterNode]:
        """Give back what `held` took; returns the nodes that became empty."""
        held = list(held)
        self._unplace(held)
        emptied = []
        for pod in held:
            self._gained[pod.node.name] = pod.node
            if is_empty(pod.node) and self.idle_since.get(pod.node.name) is None:
                self.idle_since[pod.node.name] = now
                emptied.append(pod.node)
        return emptied

    def _unplace(self, held: Iterable[Held]) -> None:
        for pod in held:
            index = self._index[pod.node.name]
            release(self.cluster, pod.task, Placement(index, pod.gpu_indices, pod.gpu_milli))
            self.cpu_allocated -= pod.task.cpu_milli
            self.gpu_allocated -= pod.task.num_gpu * pod.task.gpu_milli


def policy_for(spec: SimSpec) -> PlacementPolicy:
    """The placement policy the spec's settings name (FGD measured against its workloads)."""
    if spec.settings.placement == "best-fit":
        return best_fit
    tasks: list[Task] = [t for wl in spec.workloads for ps in wl.pod_sets for t in _tasks(ps)]
    workload = PlacementWorkload.from_tasks(tasks)

    def place(cluster: Cluster, task: Task) -> Placement | None:
        return fgd(cluster, task, workload=workload)

    return place


def _tasks(pod_set: SimPodSet) -> list[Task]:
    return [pod_set.options[0].task] * pod_set.count
