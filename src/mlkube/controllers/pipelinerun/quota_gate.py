"""The quota gate: team ClusterQueues decide what may start before the node decides where.

This module turns stored ClusterQueues and ResourceFlavors into the plain data of
`mlkube.scheduling.quota` (loading them is the only I/O here) and turns a waiting step into a
`Workload` whose flavor options are the queue's flavors that cover what the step asks for.
The decisions themselves are the pure policies in `mlkube.scheduling`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from mlkube.api.kinds import CLUSTER_QUEUE, RESOURCE_FLAVOR
from mlkube.api.queueing import ClusterQueue, ResourceFlavor
from mlkube.api.resources import GPU_RESOURCE, ResourceRequest
from mlkube.scheduling.quota import (
    FlavorOption,
    FlavorQuota,
    PodSet,
    Preemption,
    QueueQuota,
    ResourceVector,
    Workload,
)
from mlkube.store.base import ResourceStore

log = logging.getLogger("mlkube.controllers")


@dataclass(frozen=True)
class QueueConfig:
    """The quotas in force: queues by name, which queue each namespace uses, flavor models."""

    quotas: Mapping[str, QueueQuota] = field(default_factory=dict)
    queue_of: Mapping[str, str] = field(default_factory=dict)
    flavor_order: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    flavor_model: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.queue_of)

    def queue_for(self, step_key: str) -> str | None:
        """The queue of a step (`NS/RUN/STEP`, or a replica's `NS/~SERVICE/…`), from its
        namespace; None when the namespace has none."""
        return self.queue_of.get(step_key.split("/", 1)[0])


def load_queues(store: ResourceStore) -> QueueConfig:
    """Read every ClusterQueue and ResourceFlavor; a namespace claimed twice goes to the older."""
    queues = _valid(ClusterQueue, store.list(CLUSTER_QUEUE.resource)[0])
    if not queues:
        return QueueConfig()
    flavors = _valid(ResourceFlavor, store.list(RESOURCE_FLAVOR.resource)[0])
    models = {f.metadata.name or "": f.spec.gpu_model for f in flavors}
    queues.sort(key=lambda q: (q.metadata.creation_timestamp or "", q.metadata.name or ""))
    queue_of: dict[str, str] = {}
    for queue in queues:
        for namespace in queue.spec.namespaces:
            queue_of.setdefault(namespace, queue.metadata.name or "")
    return QueueConfig(
        quotas={q.metadata.name or "": queue_quota(q) for q in queues},
        queue_of=queue_of,
        flavor_order={
            q.metadata.name or "": tuple(f.name for g in q.spec.resource_groups for f in g.flavors)
            for q in queues
        },
        flavor_model=models,
    )


M = TypeVar("M", ClusterQueue, ResourceFlavor)


def _valid(model: type[M], objects: list[dict[str, Any]]) -> list[M]:
    """Parse what the API validated; one object that does not parse (written to the store by
    other means) is skipped and logged, never allowed to stop every run's scheduling."""
    parsed = []
    for obj in objects:
        try:
            parsed.append(model.model_validate(obj))
        except ValidationError as err:
            name = (obj.get("metadata") or {}).get("name")
            log.error("ignoring invalid %s %s: %s", model.__name__, name, err)
    return parsed


def queue_quota(queue: ClusterQueue) -> QueueQuota:
    """The plain-data quota of a ClusterQueue."""
    flavors: dict[str, FlavorQuota] = {}
    for group in queue.spec.resource_groups:
        for flavor in group.flavors:
            nominal: dict[str, str] = {r.name: r.nominal_quota for r in flavor.resources}
            borrow: dict[str, str] = {
                r.name: r.borrowing_limit for r in flavor.resources if r.borrowing_limit is not None
            }
            lend: dict[str, str] = {
                r.name: r.lending_limit for r in flavor.resources if r.lending_limit is not None
            }
            flavors[flavor.name] = FlavorQuota(
                nominal=ResourceVector.of(nominal),
                # Kueue: no borrowingLimit means "as much as the cohort lends"; a resource with
                # a limit elsewhere but not here is likewise unlimited.
                borrowing_limit=ResourceVector.of(borrow) if borrow else None,
                lending_limit=ResourceVector.of(lend) if lend else None,
            )
    spec = queue.spec
    return QueueQuota(
        name=queue.metadata.name or "",
        flavors=flavors,
        cohort=spec.cohort,
        weight=spec.fair_sharing.weight,
        preemption=Preemption(
            within_queue=spec.preemption.within_cluster_queue,
            reclaim_within_cohort=spec.preemption.reclaim_within_cohort,
            borrow_within_cohort=spec.preemption.borrow_within_cohort.policy,
        ),
        strategy=spec.queueing_strategy,
    )


def step_usage(request: ResourceRequest) -> dict[str, int]:
    """What a step counts against quota, in quota units."""
    usage = {"cpu": request.cpu_millis, "memory": request.memory_bytes}
    if request.gpu_count and request.gpu_vendor:
        usage[GPU_RESOURCE[request.gpu_vendor]] = request.gpu_count * 1000
    return {k: v for k, v in usage.items() if v}


def flavor_options(
    config: QueueConfig, queue: str, request: ResourceRequest
) -> tuple[FlavorOption, ...]:
    """The queue's flavors that can hold this step, in the queue's order; CPU-only steps try
    flavors without a GPU model first. A GPU model asked for must match the flavor's."""
    usage = step_usage(request)
    quota = config.quotas[queue]
    wanted = (request.gpu_model or "").lower()
    options: list[tuple[int, FlavorOption]] = []
    for position, name in enumerate(config.flavor_order[queue]):
        model = config.flavor_model.get(name)
        covered = set(quota.flavors[name].nominal.keys())
        if not set(usage) <= covered and usage:
            continue
        if wanted and model and wanted not in model.lower():
            continue
        if request.gpu_count and wanted and not model:
            continue  # a model was asked for; an unlabelled flavor cannot promise it
        rank = position + (1000 if model and not request.gpu_count else 0)
        options.append((rank, FlavorOption(name, ResourceVector(usage))))
    return tuple(option for _, option in sorted(options, key=lambda o: o[0]))


def step_workload(
    key: str,
    queue: str,
    *,
    priority: int,
    created: float,
    request: ResourceRequest,
    config: QueueConfig,
    flavor: str | None = None,
) -> Workload | None:
    """A waiting (or, with `flavor`, admitted) step as a one-pod workload; None when no flavor
    of the queue can ever hold it."""
    options = flavor_options(config, queue, request)
    if flavor is not None:
        options = tuple(o for o in options if o.flavor == flavor) or (
            FlavorOption(flavor, ResourceVector(step_usage(request))),
        )
    if not options:
        return None
    return Workload(
        key=key,
        queue=queue,
        priority=priority,
        created=created,
        pod_sets=(PodSet("main", 1, options),),
        flavors=(flavor,) if flavor is not None else None,
    )
