"""The quota gate: team ClusterQueues decide what may start before the node decides where.

This module turns stored ClusterQueues and ResourceFlavors into the plain data of
`mlkube.scheduling.quota` (loading them is the only I/O here) and turns a waiting step into a
`Workload` whose flavor options are the queue's flavors that cover what the step asks for.
The decisions themselves are the pure policies in `mlkube.scheduling`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from mlkube.api.kinds import CLUSTER_QUEUE, RESOURCE_FLAVOR
from mlkube.api.queueing import ClusterQueue, ResourceFlavor
from mlkube.api.resources import WHOLE_GPU, GpuChoice, ResourceRequest
from mlkube.scheduling import gpu_fit
from mlkube.scheduling.node_fit import NodeCapacity
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


def step_usage(request: ResourceRequest, gpu_millis: int | None = None) -> dict[str, int]:
    """What a step counts against quota, in quota units, for its first GPU choice; GPUs in
    thousandths: `gpu_millis` when given (a share sized on a device), else the choice's
    count or fraction (a share by memory alone counts as a whole GPU: nothing sized it)."""
    usage = {"cpu": request.cpu_millis, "memory": request.memory_bytes}
    choices = request.gpu_choices()
    if choices:
        first = choices[0]
        if gpu_millis is None:
            gpu_millis = first.share_millis if first.share_millis else first.count * WHOLE_GPU
        usage[first.resource] = gpu_millis
    return {k: v for k, v in usage.items() if v}


def flavor_options(
    config: QueueConfig,
    queue: str,
    request: ResourceRequest,
    *,
    node: NodeCapacity | None = None,
) -> tuple[FlavorOption, ...]:
    """The queue's flavors that can hold this step, in order: a fallback list's choices in
    their order, each in the queue's flavor order (a flavor goes to the first choice it
    fits); CPU-only steps try flavors without a GPU model first. A GPU model asked for must
    match the flavor's. With `node`, choices the node can never hold are left out, and a
    share sized by memory is counted on the node's matching devices (see `gpu_millis_on`)."""
    return tuple(option for option, _ in _options(config, queue, request, node))


def admitted_request(
    config: QueueConfig,
    queue: str,
    request: ResourceRequest,
    flavor: str,
    *,
    node: NodeCapacity | None = None,
) -> ResourceRequest:
    """The request narrowed to what quota admitted in `flavor`: the one GPU choice that flavor
    was offered for (so the node grants that same alternative), of the flavor's GPU model when
    the choice names none."""
    choice = next(
        (c for o, c in _options(config, queue, request, node) if o.flavor == flavor), None
    )
    if choice is None:
        return request
    model = config.flavor_model.get(flavor)
    if model and not choice.model:
        choice = dataclasses.replace(choice, model=model)
    return request.with_gpus(choice)


def gpu_millis_on(choice: GpuChoice, node: NodeCapacity, model: str | None = None) -> int:
    """Thousandths of a GPU the choice holds, charged to quota before the node picks a device:
    a share by memory is sized on the smallest matching device (of the flavor's `model` when
    given), so what quota admits always covers the device granted."""
    if not choice.shared:
        return choice.count * WHOLE_GPU
    candidates = gpu_fit.matching(node.gpus, choice)
    if model:
        candidates = [g for g in candidates if model.lower() in g.model.lower()] or candidates
    shares = [choice.share_on(g.memory_bytes) for g in candidates]
    sized = [s for s in shares if s is not None]
    return max(sized) if sized else WHOLE_GPU


def _options(
    config: QueueConfig, queue: str, request: ResourceRequest, node: NodeCapacity | None
) -> list[tuple[FlavorOption, GpuChoice | None]]:
    choices: list[GpuChoice | None] = list(request.gpu_choices()) or [None]
    if node is not None and len(choices) > 1:
        # A choice the node can never hold must not take quota the others could use.
        choices = [
            c for c in choices if c is None or not gpu_fit.never_reason((c,), node.gpus, node.name)
        ]
    quota = config.quotas[queue]
    ranked: list[tuple[int, FlavorOption, GpuChoice | None]] = []
    taken: set[str] = set()
    for index, choice in enumerate(choices):
        single = request.with_gpus(choice) if choice is not None else request
        wanted = (choice.model or "").lower() if choice is not None else ""
        for position, name in enumerate(config.flavor_order[queue]):
            model = config.flavor_model.get(name)
            if name in taken:
                continue
            if wanted and (not model or wanted not in model.lower()):
                continue  # a model was asked for; an unlabelled flavor cannot promise it
            millis = None
            if choice is not None and choice.shared and node is not None:
                millis = gpu_millis_on(choice, node, model)
            usage = step_usage(single, millis)
            if usage and not set(usage) <= set(quota.flavors[name].nominal.keys()):
                continue
            taken.add(name)
            rank = index * 100_000 + position + (1000 if model and choice is None else 0)
            ranked.append((rank, FlavorOption(name, ResourceVector(usage)), choice))
    ranked.sort(key=lambda r: r[0])
    return [(option, choice) for _, option, choice in ranked]


def step_workload(
    key: str,
    queue: str,
    *,
    priority: int,
    created: float,
    request: ResourceRequest,
    config: QueueConfig,
    flavor: str | None = None,
    node: NodeCapacity | None = None,
) -> Workload | None:
    """A waiting (or, with `flavor`, admitted) step as a one-pod workload; None when no flavor
    of the queue can ever hold it. `node`: see `flavor_options`."""
    options = flavor_options(config, queue, request, node=node)
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
