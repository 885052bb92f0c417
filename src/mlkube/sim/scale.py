"""The node-group step of a pass: ask `mlkube.scheduling.nodegroups` what to add and remove
for the work quota admitted but no node could host."""

from __future__ import annotations

from collections.abc import Sequence

from mlkube.scheduling.nodegroups import NodeGroup, NodeGroupDecision, PendingWorkload
from mlkube.scheduling.nodegroups import decide_node_groups as decide
from mlkube.sim.nodes import NodePool
from mlkube.sim.runs import Run
from mlkube.sim.spec import SimSpec

__all__ = ["scale_node_groups"]


def scale_node_groups(
    spec: SimSpec,
    pool: NodePool,
    upcoming: dict[str, int],
    unplaced: Sequence[Run],
    *,
    now: float,
) -> NodeGroupDecision:
    """The autoscaler's decision; nodes to remove are gone from `pool` when it returns, and
    each unplaced run notes why no group could help. Adding the scale-up's nodes after the
    provisioning delay is the caller's."""
    ready = pool.ready_counts()
    groups = [
        NodeGroup(
            g.name,
            g.template,
            g.min_nodes,
            g.max_nodes,
            ready[g.name] + upcoming[g.name],
            upcoming[g.name],
        )
        for g in spec.groups
    ]
    pending = [PendingWorkload(r.wl.key, r.wl.tasks(r.flavors)) for r in unplaced]
    decision = decide(
        groups,
        pending,
        pool.group_nodes(),
        now=now,
        scale_down_unneeded_s=spec.settings.scale_down_unneeded_s,
        expander=spec.settings.expander,
    )
    if decision.scale_down:
        pool.remove_nodes(decision.scale_down)
    notes = decision.no_group
    for run in unplaced:
        run.scale_note = notes.get(run.wl.key, "")
    return decision
