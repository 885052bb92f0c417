"""Placement of steps on one node: which cores, how much memory, which GPUs.

Pure functions over plain data. A request either fits now (a `Fit` naming the cores and GPUs),
must wait for running work to finish (`Wait`), or can never fit this node (`Never`), each with
a reason a person can act on.

CPU is accounted per core in millicores, as the kubelet's static CPU manager would pin it: a
request of `n` whole cores takes `n` cores with nothing else on them, and a fractional part takes
the best-fitting partly used core. The step is then pinned (CPU affinity) to exactly those cores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mlkube.api.quantity import format_bytes, format_millis
from mlkube.api.resources import ResourceRequest

CORE_MILLIS = 1000


@dataclass(frozen=True)
class GpuSlot:
    index: int
    vendor: str
    model: str


@dataclass(frozen=True)
class NodeCapacity:
    name: str
    cpus: tuple[int, ...]
    memory_bytes: int
    gpus: tuple[GpuSlot, ...] = ()


@dataclass(frozen=True)
class Grant:
    """What one admitted workload holds on the node."""

    cpu_millis: Mapping[int, int] = field(default_factory=dict)  # core id -> millicores
    memory_bytes: int = 0
    gpus: tuple[int, ...] = ()

    @property
    def cores(self) -> tuple[int, ...]:
        return tuple(sorted(self.cpu_millis))


@dataclass(frozen=True)
class Fit:
    grant: Grant


@dataclass(frozen=True)
class Wait:
    reason: str


@dataclass(frozen=True)
class Never:
    reason: str


Decision = Fit | Wait | Never


@dataclass
class NodeUsage:
    """What is allocated on the node now; built from the grants of running workloads."""

    cpu_millis: dict[int, int] = field(default_factory=dict)
    memory_bytes: int = 0
    gpus: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, grants: Iterable[Grant]) -> NodeUsage:
        usage = cls()
        for grant in grants:
            usage.add(grant)
        return usage

    def add(self, grant: Grant) -> None:
        for core, millis in grant.cpu_millis.items():
            self.cpu_millis[core] = self.cpu_millis.get(core, 0) + millis
        self.memory_bytes += grant.memory_bytes
        self.gpus.update(grant.gpus)


def matching_gpus(node: NodeCapacity, request: ResourceRequest) -> list[GpuSlot]:
    """Devices of the requested vendor and, if asked, model (case-insensitive substring)."""
    wanted = (request.gpu_model or "").lower()
    return [
        g
        for g in node.gpus
        if g.vendor == request.gpu_vendor and (not wanted or wanted in g.model.lower())
    ]


def never_fits(request: ResourceRequest, node: NodeCapacity) -> str | None:
    """Why the request can never fit on the empty node, or None if it could."""
    if request.cpu_millis > len(node.cpus) * CORE_MILLIS:
        return (
            f"requests cpu {format_millis(request.cpu_millis)} but node {node.name} "
            f"has {len(node.cpus)} CPUs"
        )
    if request.memory_bytes > node.memory_bytes:
        return (
            f"requests memory {format_bytes(request.memory_bytes)} but node {node.name} "
            f"has {format_bytes(node.memory_bytes)}"
        )
    if request.gpu_count:
        return _gpu_never(request, node)
    return None


def _gpu_never(request: ResourceRequest, node: NodeCapacity) -> str | None:
    resource = f"{request.gpu_vendor}.com/gpu"
    candidates = matching_gpus(node, request)
    if len(candidates) >= request.gpu_count:
        return None
    model = f" of model {request.gpu_model!r}" if request.gpu_model else ""
    vendor_gpus = [g for g in node.gpus if g.vendor == request.gpu_vendor]
    models = sorted({g.model for g in vendor_gpus})
    has = f"{len(vendor_gpus)} ({', '.join(models)})" if models else "none"
    return (
        f"requests {request.gpu_count} {resource}{model} but node {node.name} "
        f"has {len(candidates)} matching; {resource} on the node: {has}"
    )


def place(request: ResourceRequest, node: NodeCapacity, usage: NodeUsage) -> Decision:
    """Decide whether `request` fits on `node` given what `usage` already holds."""
    never = never_fits(request, node)
    if never:
        return Never(never)
    free_memory = node.memory_bytes - usage.memory_bytes
    if request.memory_bytes > free_memory:
        return Wait(
            f"waiting for memory: needs {format_bytes(request.memory_bytes)}, "
            f"{format_bytes(max(free_memory, 0))} free"
        )
    gpus: tuple[int, ...] = ()
    if request.gpu_count:
        free = [g.index for g in matching_gpus(node, request) if g.index not in usage.gpus]
        if len(free) < request.gpu_count:
            return Wait(f"waiting for GPUs: needs {request.gpu_count}, {len(free)} matching free")
        gpus = tuple(sorted(free)[: request.gpu_count])
    cores = _pick_cores(request.cpu_millis, node.cpus, usage.cpu_millis)
    if cores is None:
        free_millis = sum(CORE_MILLIS - usage.cpu_millis.get(c, 0) for c in node.cpus)
        return Wait(
            f"waiting for CPU: needs {format_millis(request.cpu_millis)}, "
            f"{format_millis(free_millis)} free"
        )
    return Fit(Grant(cpu_millis=cores, memory_bytes=request.memory_bytes, gpus=gpus))


def _pick_cores(millis: int, cpus: Sequence[int], used: Mapping[int, int]) -> dict[int, int] | None:
    """Whole free cores for the integer part, the tightest-fitting core for the remainder."""
    if millis == 0:
        return {}
    whole, rest = divmod(millis, CORE_MILLIS)
    free_cores = [c for c in cpus if used.get(c, 0) == 0]
    if len(free_cores) < whole:
        return None
    picked = {c: CORE_MILLIS for c in free_cores[:whole]}
    if rest:
        # Best fit for the fraction keeps whole cores free for whole-core requests.
        options = [
            (CORE_MILLIS - used.get(c, 0), c)
            for c in cpus
            if c not in picked and CORE_MILLIS - used.get(c, 0) >= rest
        ]
        if not options:
            return None
        picked[min(options)[1]] = rest
    return picked
