"""Placement of steps on one node: which cores, how much memory, which GPUs.

Pure functions over plain data. A request either fits now (a `Fit` naming the cores and GPUs),
must wait for running work to finish (`Wait`), or can never fit this node (`Never`), each with
a reason a person can act on.

CPU is accounted per core in millicores, as the kubelet's static CPU manager would pin it: a
request of `n` whole cores takes `n` cores with nothing else on them, and a fractional part takes
the best-fitting partly used core. The step is then pinned (CPU affinity) to exactly those cores.
GPUs are granted whole, as a share of one device, or as the first fitting choice of a fallback
list (see gpu_fit.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mlkube.api.quantity import format_bytes, format_millis
from mlkube.api.resources import WHOLE_GPU, GpuChoice, ResourceRequest
from mlkube.scheduling import gpu_fit
from mlkube.scheduling.gpu_fit import GpuSlot

__all__ = [
    "CORE_MILLIS",
    "Decision",
    "Fit",
    "GpuSlot",
    "Grant",
    "Never",
    "NodeCapacity",
    "NodeUsage",
    "Wait",
    "matching_gpus",
    "never_fits",
    "place",
]

CORE_MILLIS = 1000


@dataclass(frozen=True)
class NodeCapacity:
    name: str
    cpus: tuple[int, ...]
    memory_bytes: int
    gpus: tuple[GpuSlot, ...] = ()


@dataclass(frozen=True)
class Grant:
    """What one admitted workload holds on the node: cores, memory, and `gpu_millis`
    thousandths of each device in `gpus` (1000: whole devices), granted for `gpu_choice`
    (one of the request's GPU choices)."""

    cpu_millis: Mapping[int, int] = field(default_factory=dict)  # core id -> millicores
    memory_bytes: int = 0
    gpus: tuple[int, ...] = ()
    gpu_millis: int = WHOLE_GPU
    gpu_choice: GpuChoice | None = None

    @property
    def cores(self) -> tuple[int, ...]:
        return tuple(sorted(self.cpu_millis))

    @property
    def gpu_total_millis(self) -> int:
        """Thousandths of a GPU held in all (250 for a quarter share, 2000 for two GPUs)."""
        return len(self.gpus) * self.gpu_millis

    @property
    def gpu_shared(self) -> bool:
        return bool(self.gpus) and self.gpu_millis < WHOLE_GPU


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
    """What is allocated on the node now; built from the grants of running workloads.
    `gpus` maps each device held in whole or in part to the thousandths held (a plain set of
    device ids, as older callers pass, means those devices are held whole)."""

    cpu_millis: dict[int, int] = field(default_factory=dict)
    memory_bytes: int = 0
    gpus: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.gpus, dict):
            self.gpus = dict.fromkeys(self.gpus, WHOLE_GPU)

    def copy(self) -> NodeUsage:
        """An independent copy, for trial placements."""
        return NodeUsage(dict(self.cpu_millis), self.memory_bytes, dict(self.gpus))

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
        for device in grant.gpus:
            self.gpus[device] = self.gpus.get(device, 0) + grant.gpu_millis


def matching_gpus(node: NodeCapacity, request: ResourceRequest) -> list[GpuSlot]:
    """Devices of the request's first GPU choice (vendor and, if asked, model)."""
    choices = request.gpu_choices()
    return gpu_fit.matching(node.gpus, choices[0]) if choices else []


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
    return gpu_fit.never_reason(request.gpu_choices(), node.gpus, node.name)


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
    gpus: gpu_fit.GpuPick | None = None
    choices = request.gpu_choices()
    if choices:
        picked = gpu_fit.pick(choices, node.gpus, usage.gpus)
        if isinstance(picked, str):
            return Wait(f"waiting for GPUs: {picked}")
        gpus = picked
    cores = _pick_cores(request.cpu_millis, node.cpus, usage.cpu_millis)
    if cores is None:
        free_millis = sum(CORE_MILLIS - usage.cpu_millis.get(c, 0) for c in node.cpus)
        return Wait(
            f"waiting for CPU: needs {format_millis(request.cpu_millis)}, "
            f"{format_millis(free_millis)} free"
        )
    if gpus is None:
        return Fit(Grant(cpu_millis=cores, memory_bytes=request.memory_bytes))
    return Fit(
        Grant(
            cpu_millis=cores,
            memory_bytes=request.memory_bytes,
            gpus=gpus.devices,
            gpu_millis=gpus.millis,
            gpu_choice=gpus.choice,
        )
    )


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
