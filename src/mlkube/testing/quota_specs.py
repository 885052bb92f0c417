"""Spec factories for the quota policies (`mlkube.scheduling.quota`), for tests and benchmarks.

Terse builders of the plain data that admission, fair sharing and preemption take:

    vector(gpu=0.25, cpu="500m", memory="8Gi")        # a ResourceVector in quota units
    workload("w1", "team-a", option("h100", gpu=1), option("a100", gpu=2), priority=5)
    workload("w0", "team-a", option("f", gpu=4), admitted="f")   # holds its quota
"""

from __future__ import annotations

from mlkube.api.resources import GPU_RESOURCE
from mlkube.scheduling.quota import FlavorOption, PodSet, ResourceVector, Workload

__all__ = ["GPU", "option", "vector", "workload"]

GPU = GPU_RESOURCE["nvidia"]


def vector(**amounts: str | int | float) -> ResourceVector:
    """Kubernetes quantities by resource name; the keyword `gpu` stands for `nvidia.com/gpu`."""
    return ResourceVector.of({GPU if k == "gpu" else k: v for k, v in amounts.items()})


def option(flavor: str, **per_pod: str | int | float) -> FlavorOption:
    """One fallback choice of a pod set: `flavor`, with `per_pod` as in `vector`."""
    return FlavorOption(flavor, vector(**per_pod))


def workload(
    key: str,
    queue: str,
    *options: FlavorOption,
    count: int = 1,
    priority: int = 0,
    created: float = 0.0,
    admitted: str | None = None,
) -> Workload:
    """A workload of one pod set ("main", `count` pods) with the fallback list `options`;
    pending, or with `admitted` naming its flavor, admitted and holding its usage."""
    return Workload(
        key,
        queue,
        priority,
        created,
        (PodSet("main", count, options),),
        flavors=None if admitted is None else (admitted,),
    )
