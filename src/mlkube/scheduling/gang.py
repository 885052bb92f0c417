"""Gang placement: the workers of one job are placed on the node all together, or not at all.

Pure functions over plain data, built on `node_fit.place`. A gang fits now (`GangFit`, one
grant per worker in rank order), must wait until enough is free for every worker at once
(`Wait`), or can never fit the node even when it is empty (`Never`, with the totals that do
not add up: "4 workers x 2 nvidia.com/gpu = 8 GPUs; the node has 4", with a times sign).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlkube.api.quantity import format_bytes, format_millis
from mlkube.api.resources import ResourceRequest
from mlkube.scheduling.node_fit import (
    CORE_MILLIS,
    Fit,
    Grant,
    Never,
    NodeCapacity,
    NodeUsage,
    Wait,
    matching_gpus,
    never_fits,
    place,
)

__all__ = ["GangFit", "gang_never", "place_gang"]


@dataclass(frozen=True)
class GangFit:
    grants: tuple[Grant, ...]  # one per worker, in the order the requests were given


def place_gang(
    requests: Sequence[ResourceRequest], node: NodeCapacity, usage: NodeUsage
) -> GangFit | Wait | Never:
    """Place every request of the gang on `node` given `usage`, or none of them.

    `usage` is left unchanged; the caller adds the grants of a `GangFit` itself."""
    never = gang_never(requests, node)
    if never:
        return Never(never)
    decision = _place_all(requests, node, usage.copy())
    if isinstance(decision, Wait):
        size = len(requests)
        return Wait(f"{decision.reason} (the gang of {size} workers starts only when all fit)")
    return decision


def gang_never(requests: Sequence[ResourceRequest], node: NodeCapacity) -> str | None:
    """Why the gang can never fit `node`, even empty; None when it could."""
    if not requests:
        return None
    for request in requests:
        reason = never_fits(request, node)
        if reason:
            return f"each worker {reason}"
    total = _total_reason(requests, node)
    if total:
        return total
    # The totals fit but whole-core pinning may still not: try the empty node.
    decision = _place_all(requests, node, NodeUsage())
    if isinstance(decision, Wait):
        return (
            f"{len(requests)} workers do not fit node {node.name} together, "
            f"even empty: {decision.reason}"
        )
    return None


def _place_all(
    requests: Sequence[ResourceRequest], node: NodeCapacity, trial: NodeUsage
) -> GangFit | Wait:
    grants = []
    for request in requests:
        decision = place(request, node, trial)
        if not isinstance(decision, Fit):
            return Wait(decision.reason)
        trial.add(decision.grant)
        grants.append(decision.grant)
    return GangFit(tuple(grants))


def _total_reason(requests: Sequence[ResourceRequest], node: NodeCapacity) -> str | None:
    count, first = len(requests), requests[0]
    cpu = sum(r.cpu_millis for r in requests)
    if cpu > len(node.cpus) * CORE_MILLIS:
        return (
            f"{count} workers × {format_millis(first.cpu_millis)} cpu = "  # noqa: RUF001
            f"{format_millis(cpu)} CPUs; the node has {len(node.cpus)}"
        )
    memory = sum(r.memory_bytes for r in requests)
    if memory > node.memory_bytes:
        return (
            f"{count} workers × {format_bytes(first.memory_bytes)} memory = "  # noqa: RUF001
            f"{format_bytes(memory)}; the node has {format_bytes(node.memory_bytes)}"
        )
    gpus = sum(r.gpu_count for r in requests)
    # Shares of a GPU and fallback lists are left to the exact placement on the empty node.
    whole = not (first.gpu_share_millis or first.gpu_memory_bytes or first.gpu_fallbacks)
    if gpus and first.gpu_vendor and whole:
        available = len(matching_gpus(node, first))
        if gpus > available:
            model = f" of model {first.gpu_model!r}" if first.gpu_model else ""
            return (
                f"{count} workers × {first.gpu_count} {first.gpu_vendor}.com/gpu = "  # noqa: RUF001
                f"{gpus} GPUs{model}; the node has {available}"
            )
    return None
