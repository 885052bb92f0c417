"""Node-group autoscaling: how many nodes to add to which group, and which idle nodes to remove.

A pure policy after the Kubernetes cluster autoscaler. It lives in `scheduling/`, not
`autoscaling/`, because deciding whether a new node would help is a placement question: it runs
the scheduler's own placement code on template nodes (the cluster autoscaler likewise embeds the
scheduler), and `autoscaling/` may import only `api`. It takes the node groups (a node template
with min and max counts), the workloads that quota admission let through but that no node could
host, the current nodes and `now`, and returns a `NodeGroupDecision`. No clock, no I/O.

Scale-up (the cluster autoscaler's rule): for every group with room to grow, the pending pods are
simulated on fresh nodes of its template with the same placement code the scheduler uses
(`mlkube.scheduling.placement.best_fit`), opening another fresh node whenever a pod fits none of
the ones opened so far, up to the group's max. An *expander* then picks one group among those
that help: "least-waste" (default; the least unused CPU, memory and, on GPU templates, GPU
share on the new nodes) or "most-pods" (the most pods helped). The chosen group's workloads are
taken off the list and the choice repeats until nothing more can be helped, so pending work of
different shapes can grow different groups in one call. Ties go to the group named first.

- A gang (a workload with several pods) is one unit: either every pod of it fits the simulated
  nodes of one group, or the group does not count it; half a gang is never provisioned for.
- Nodes already on their way (`NodeGroup.upcoming`) are fresh nodes too: pending work is first
  simulated on them, and only what they cannot hold asks for more, so a scale-up in progress is
  not repeated while the nodes boot.
- Groups below their `min_nodes` are brought up to it.

Scale-down: a node of a group that has been empty (nothing placed on it) for at least
`scale_down_unneeded_s` (default 600 s, the cluster autoscaler's `scale-down-unneeded-time`) is
removed, never taking a group below its min, longest idle first. Unlike the cluster autoscaler,
nodes that are merely under-used are not drained: moving running work is out of scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlkube.scheduling.cluster import GPU_WHOLE, Cluster, ClusterNode, Task
from mlkube.scheduling.placement import Placement, apply, best_fit, release

__all__ = [
    "DEFAULT_SCALE_DOWN_UNNEEDED_S",
    "Expander",
    "GroupNode",
    "NodeGroup",
    "NodeGroupDecision",
    "NodeTemplate",
    "PendingWorkload",
    "decide_node_groups",
    "is_empty",
]

DEFAULT_SCALE_DOWN_UNNEEDED_S = 600.0
Expander = Literal["least-waste", "most-pods"]


@dataclass(frozen=True, slots=True)
class NodeTemplate:
    """What one new node of a group has: millicores, MiB of memory, `gpus` whole devices."""

    cpu_milli: int
    memory_mib: int
    gpu_model: str = ""
    gpus: int = 0

    def node(self, name: str) -> ClusterNode:
        """A fresh, empty node of this shape."""
        return ClusterNode(
            name,
            self.cpu_milli,
            self.memory_mib,
            self.gpu_model if self.gpus else "",
            [GPU_WHOLE] * self.gpus,
        )


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """A group's template and counts. `current` counts every node of the group, ready or still
    provisioning; `upcoming` is how many of those are still provisioning."""

    name: str
    template: NodeTemplate
    min_nodes: int
    max_nodes: int
    current: int
    upcoming: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_nodes <= self.max_nodes:
            raise ValueError(f"node group {self.name}: need 0 <= min <= max")
        if not 0 <= self.upcoming <= self.current:
            raise ValueError(f"node group {self.name}: need 0 <= upcoming <= current")


@dataclass(frozen=True, slots=True)
class PendingWorkload:
    """A workload admitted by quota that no node could host: all its pods, as placement tasks."""

    key: str
    tasks: tuple[Task, ...]


@dataclass(frozen=True, slots=True)
class GroupNode:
    """A node of a group as it stands: `idle_since` is when it last became empty (None: busy)."""

    node: ClusterNode
    group: str
    idle_since: float | None


@dataclass(frozen=True)
class NodeGroupDecision:
    """Nodes to add per group, node names to remove, and why some pending work helps no group."""

    scale_up: Mapping[str, int] = field(default_factory=dict)
    scale_down: tuple[str, ...] = ()
    no_group: Mapping[str, str] = field(default_factory=dict)  # workload key -> reason


@dataclass(frozen=True)
class _Option:
    group: str
    nodes: int  # new nodes needed
    helped: tuple[str, ...]  # workload keys
    pods: int
    waste: float


def decide_node_groups(
    groups: Sequence[NodeGroup],
    pending: Sequence[PendingWorkload],
    nodes: Iterable[GroupNode],
    *,
    now: float,
    scale_down_unneeded_s: float = DEFAULT_SCALE_DOWN_UNNEEDED_S,
    expander: Expander = "least-waste",
) -> NodeGroupDecision:
    """Scale-up per group and nodes to remove; see the module docstring for the rules.

    `pending` is in the order the scheduler would serve it (most urgent first); simulation
    follows that order. Cost: O(groups^2 * pods) placement calls on small scratch clusters.
    """
    if scale_down_unneeded_s < 0:
        raise ValueError("scale_down_unneeded_s must not be negative")
    if expander not in ("least-waste", "most-pods"):
        raise ValueError(f"expander {expander!r}: use least-waste or most-pods")
    by_name = {g.name: g for g in groups}
    scale_up = {g.name: g.min_nodes - g.current for g in groups if g.current < g.min_nodes}
    remaining = _not_absorbed_by_upcoming(groups, pending)
    no_group: dict[str, str] = {}
    while remaining:
        options = []
        for group in groups:
            room = group.max_nodes - group.current - scale_up.get(group.name, 0)
            option = _estimate(group, remaining, room)
            if option is not None:
                options.append(option)
        if not options:
            break
        best = _expand(options, expander)
        scale_up[best.group] = scale_up.get(best.group, 0) + best.nodes
        helped = set(best.helped)
        remaining = [w for w in remaining if w.key not in helped]
    for wl in remaining:
        no_group[wl.key] = _why_no_group(groups, wl)
    down = _scale_down(by_name, nodes, now=now, unneeded=scale_down_unneeded_s)
    return NodeGroupDecision({g: n for g, n in scale_up.items() if n > 0}, down, no_group)


def _not_absorbed_by_upcoming(
    groups: Sequence[NodeGroup], pending: Sequence[PendingWorkload]
) -> list[PendingWorkload]:
    """Pending work that the nodes still provisioning (as fresh nodes) cannot hold."""
    fresh = [g.template.node(f"{g.name}-upcoming-{i}") for g in groups for i in range(g.upcoming)]
    if not fresh:
        return list(pending)
    cluster = Cluster(fresh)
    return [wl for wl in pending if not _place_gang(cluster, wl.tasks)]


def _place_gang(cluster: Cluster, tasks: Sequence[Task]) -> bool:
    """Place every task or none (undoing what was placed); whether all were placed."""
    done: list[tuple[Task, Placement]] = []
    for task in tasks:
        placement = best_fit(cluster, task)
        if placement is None:
            for placed, where in reversed(done):
                release(cluster, placed, where)
            return False
        apply(cluster, task, placement)
        done.append((task, placement))
    return True


def _estimate(group: NodeGroup, pending: Sequence[PendingWorkload], room: int) -> _Option | None:
    """How many new nodes of `group` (at most `room`) the pending work needs, and what it helps.

    First fit, in order: a gang that does not fit the nodes opened so far opens as many more as
    it needs (one at a time, so pods pack), and gives them back if it still does not fit."""
    if room <= 0:
        return None
    nodes: list[ClusterNode] = []
    cluster = Cluster(nodes)
    helped: list[str] = []
    pods = 0
    for wl in pending:
        opened = 0
        while not _place_gang(cluster, wl.tasks):
            if len(nodes) >= room or opened >= len(wl.tasks):
                del nodes[len(nodes) - opened :]
                cluster = Cluster(nodes)  # forget the nodes opened in vain
                break
            nodes.append(group.template.node(f"{group.name}-new-{len(nodes)}"))
            cluster = Cluster(nodes)  # a rebuilt index; the nodes keep what they hold
            opened += 1
        else:
            helped.append(wl.key)
            pods += len(wl.tasks)
    if not helped:
        return None
    return _Option(group.name, len(nodes), tuple(helped), pods, _waste(nodes))


def _waste(nodes: Sequence[ClusterNode]) -> float:
    """Mean unused fraction over CPU, memory and (when the nodes have any) GPU share."""
    cpu = sum(n.cpu_free for n in nodes) / max(sum(n.cpu_milli for n in nodes), 1)
    memory = sum(n.memory_free for n in nodes) / max(sum(n.memory_mib for n in nodes), 1)
    gpu_total = sum(n.gpu_total_milli for n in nodes)
    if not gpu_total:
        return (cpu + memory) / 2
    # An idle GPU is the costliest waste: counting it keeps CPU work off GPU templates.
    return (cpu + memory + sum(n.gpu_free_milli for n in nodes) / gpu_total) / 3


def _expand(options: Sequence[_Option], expander: Expander) -> _Option:
    """The expander's pick; `options` come in group order, and min keeps the first of ties."""
    if expander == "most-pods":
        return min(options, key=lambda o: (-o.pods, o.waste))
    return min(options, key=lambda o: (o.waste, -o.pods))


def _why_no_group(groups: Sequence[NodeGroup], wl: PendingWorkload) -> str:
    """Why no group can help: a template too small, or every group that could is at its max."""
    at_max = []
    for group in groups:
        cluster = Cluster(
            group.template.node(f"{group.name}-probe-{i}") for i in range(len(wl.tasks))
        )
        if _place_gang(cluster, wl.tasks):
            at_max.append(group.name)
    if at_max:
        return f"node group(s) {', '.join(at_max)} could host it but are at their max size"
    if not groups:
        return "no node groups to scale"
    return "no node group's template can host it"


def _scale_down(
    groups: Mapping[str, NodeGroup],
    nodes: Iterable[GroupNode],
    *,
    now: float,
    unneeded: float,
) -> tuple[str, ...]:
    """Empty nodes idle for at least `unneeded` seconds, longest idle first, down to the min."""
    candidates = sorted(
        (n for n in nodes if n.group in groups and n.idle_since is not None and is_empty(n.node)),
        key=lambda n: (n.idle_since, n.node.name),
    )
    removable = {name: g.current - g.upcoming - g.min_nodes for name, g in groups.items()}
    out: list[str] = []
    for candidate in candidates:
        assert candidate.idle_since is not None
        if now - candidate.idle_since < unneeded or removable[candidate.group] <= 0:
            continue
        removable[candidate.group] -= 1
        out.append(candidate.node.name)
    return tuple(out)


def is_empty(node: ClusterNode) -> bool:
    """Whether nothing is placed on the node."""
    return (
        node.cpu_free == node.cpu_milli
        and node.memory_free == node.memory_mib
        and all(g == GPU_WHOLE for g in node.gpus)
    )
