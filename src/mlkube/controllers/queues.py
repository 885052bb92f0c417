"""ClusterQueue status: what each team's queue holds and how much waits, for `mlkube get cq`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mlkube.api.errors import Conflict, NotFound
from mlkube.api.kinds import CLUSTER_QUEUE
from mlkube.api.queueing import ClusterQueueStatus, FlavorUsage
from mlkube.controllers.pipelinerun.launch import step_key_of
from mlkube.controllers.pipelinerun.node_queue import NodeQueue, held_workloads
from mlkube.controllers.pipelinerun.quota_gate import QueueConfig
from mlkube.scheduling.quota import FlavorResource, Ledger, format_amount
from mlkube.store.base import ResourceStore


def _held(queue: NodeQueue) -> Iterator[str]:
    """Step keys of everything running or reserved."""
    yield from (step_key_of(w) for w in list(queue.running))
    yield from list(queue.reserved)


def _workloads(queue: NodeQueue, keys: Iterable[str]) -> set[str]:
    """The workloads these step keys make up, as quota counts them: a gang's workers are
    one workload (its gang id), any other step key is its own."""
    return {queue.gang_of(key) or key for key in keys}


def queue_usage(queue: NodeQueue, config: QueueConfig) -> dict[str, dict[FlavorResource, int]]:
    """Per ClusterQueue, the amount of each flavor's resources its steps hold now, counted as
    the scheduler counts them."""
    usage: dict[str, dict[FlavorResource, int]] = {name: {} for name in config.quotas}
    for workload in held_workloads(queue, config):
        used = usage[workload.queue]
        for fr, amount in workload.usage().items():
            used[fr] = used.get(fr, 0) + amount
    return usage


def queue_statuses(
    queue: NodeQueue, config: QueueConfig, *, now: float | None = None
) -> dict[str, ClusterQueueStatus]:
    """The status each ClusterQueue should show (with `now` and a usage history kept, its
    fair-sharing state too)."""
    usage = queue_usage(queue, config)
    fair = {}
    if queue.fair_usage is not None and now is not None:
        held = held_workloads(queue, config)
        queue.fair_usage.sync(held, now=now)
        fair = queue.fair_usage.statuses(Ledger(config.quotas, held), now=now)
    counts = {name: [0, 0] for name in config.quotas}
    # A gang half reserved and half waiting (within one pass) counts as admitted, not both.
    admitted = _workloads(queue, _held(queue))
    pending = _workloads(queue, list(queue.waiting)) - admitted
    for column, workloads in enumerate((admitted, pending)):
        for key in workloads:
            name = config.queue_for(key)
            if name is not None:
                counts[name][column] += 1
    statuses = {}
    for name, quota in config.quotas.items():
        used = usage[name]
        flavors = []
        for flavor, fq in quota.flavors.items():
            resources = {r: format_amount(r, used.get((flavor, r), 0)) for r in fq.nominal}
            borrowed = {
                r: format_amount(r, used.get((flavor, r), 0) - fq.nominal.get_amount(r))
                for r in fq.nominal
                if used.get((flavor, r), 0) > fq.nominal.get_amount(r)
            }
            flavors.append(FlavorUsage(name=flavor, resources=resources, borrowed=borrowed))
        statuses[name] = ClusterQueueStatus(
            admitted_workloads=counts[name][0],
            pending_workloads=counts[name][1],
            flavors_usage=flavors,
            fair_sharing=fair.get(name),
        )
    return statuses


def write_queue_statuses(
    store: ResourceStore, queue: NodeQueue, config: QueueConfig, *, now: float | None = None
) -> None:
    """Update each ClusterQueue whose status changed; a queue gone meanwhile is skipped."""
    for name, status in queue_statuses(queue, config, now=now).items():
        try:
            obj = store.get(CLUSTER_QUEUE.resource, "", name)
            new = status.to_dict()
            if obj.get("status") != new:
                store.update_status(CLUSTER_QUEUE.resource, dict(obj, status=new))
        except (NotFound, Conflict):
            continue
