"""Many nodes with CPUs, memory and shareable GPUs, as plain data built for fast placement.

A `ClusterNode` tracks what is free on one machine: millicores, MiB of memory, and per GPU
device the free share in milli-GPUs (1000 = a whole free device). A `Task` asks for CPU, memory
and either nothing, a share of one GPU (`num_gpu=1`, `gpu_milli<1000`) or whole GPUs
(`num_gpu>=1`, `gpu_milli=1000`), optionally of some GPU models.

`Cluster` keeps the nodes and an index that placement scans instead of the nodes: nodes of the
same kind (GPU model, CPU total, GPU count) with the same free CPU and the same multiset of free
GPU shares are interchangeable for scoring, so they share one interned *state id*. A decision
scores each distinct state once rather than each node, and scores are cached per state id,
because a state's score for a task class is a pure function of that state. Memory is not part
of the state (neither best-fit nor FGD score it); it is checked per node when one is chosen.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

GPU_WHOLE = 1000  # milli-GPUs in one device


@dataclass(slots=True, eq=False)
class ClusterNode:
    """One machine. `gpus` is the free share of each device (1000 = whole device free).

    The totals are fixed at construction (`cpu_milli`, `memory_mib`, `len(gpus)` devices of
    1000 each); `cpu_free`, `memory_free` and `gpus` change as tasks are applied and released.
    """

    name: str
    cpu_milli: int
    memory_mib: int
    gpu_model: str = ""
    gpus: list[int] = field(default_factory=list)
    cpu_free: int = field(init=False)
    memory_free: int = field(init=False)

    def __post_init__(self) -> None:
        if self.cpu_milli < 0 or self.memory_mib < 0:
            raise ValueError(f"node {self.name}: cpu_milli and memory_mib must not be negative")
        if any(not 0 <= g <= GPU_WHOLE for g in self.gpus):
            raise ValueError(f"node {self.name}: each GPU's free share must be in 0..{GPU_WHOLE}")
        self.cpu_free = self.cpu_milli
        self.memory_free = self.memory_mib

    @property
    def gpu_total_milli(self) -> int:
        return GPU_WHOLE * len(self.gpus)

    @property
    def gpu_free_milli(self) -> int:
        return sum(self.gpus)


@dataclass(frozen=True, slots=True)
class Task:
    """What one task asks for. `gpu_models` empty means any model.

    `num_gpu=0` (then `gpu_milli=0`): CPU only. `num_gpu=1, gpu_milli<1000`: a share of one
    GPU. `gpu_milli=1000`: `num_gpu` whole GPUs. Anything else is refused with a ValueError.
    """

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int = 0
    gpu_milli: int = 0
    gpu_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.cpu_milli < 0 or self.memory_mib < 0 or self.num_gpu < 0:
            raise ValueError(f"task {self.name}: requests must not be negative")
        if self.num_gpu == 0 and self.gpu_milli != 0:
            raise ValueError(f"task {self.name}: gpu_milli needs num_gpu >= 1")
        if self.num_gpu >= 1 and not 0 < self.gpu_milli <= GPU_WHOLE:
            raise ValueError(f"task {self.name}: gpu_milli must be in 1..{GPU_WHOLE}")
        if self.num_gpu > 1 and self.gpu_milli != GPU_WHOLE:
            raise ValueError(f"task {self.name}: a share of a GPU needs num_gpu=1")

    @property
    def shape(self) -> TaskShape:
        """The fields that scoring depends on (everything but the name and memory)."""
        return TaskShape(self.cpu_milli, self.num_gpu, self.gpu_milli, self.gpu_models)


class TaskShape(NamedTuple):
    """A task class: placements are scored per shape, so scores are cached per shape."""

    cpu_milli: int
    num_gpu: int
    gpu_milli: int
    gpu_models: tuple[str, ...]


class NodeState(NamedTuple):
    """What scoring sees of a node: its kind and what is free (GPU shares sorted, largest first)."""

    gpu_model: str
    cpu_total: int
    cpu_free: int
    gpus: tuple[int, ...]


CPU_ONLY: str | None = None  # group of nodes without GPUs


def group_of(node: ClusterNode) -> str | None:
    """Index group: the GPU model, or CPU_ONLY for nodes without GPUs."""
    return node.gpu_model if node.gpus else CPU_ONLY


class Cluster:
    """The nodes plus the state index that placement scans.

    Whoever mutates a node must call `refresh(index)` afterwards (`placement.apply` and
    `placement.release` do); the index is otherwise never stale.
    """

    def __init__(self, nodes: Iterable[ClusterNode]) -> None:
        self.nodes: list[ClusterNode] = list(nodes)
        self.states: list[NodeState] = []  # state id -> state
        self._state_ids: dict[NodeState, int] = {}
        # group -> state id -> node indices in that state (dicts as ordered sets)
        self.groups: dict[str | None, dict[int, dict[int, None]]] = {}
        self.node_state: list[int] = []
        self._memos: dict[Hashable, dict[int, Any]] = {}
        for index, node in enumerate(self.nodes):
            sid = self.intern(self.state_of(node))
            self.node_state.append(sid)
            self.groups.setdefault(group_of(node), {}).setdefault(sid, {})[index] = None

    @staticmethod
    def state_of(node: ClusterNode) -> NodeState:
        gpus = tuple(sorted(node.gpus, reverse=True))
        return NodeState(node.gpu_model, node.cpu_milli, node.cpu_free, gpus)

    def intern(self, state: NodeState) -> int:
        """The id of `state`, allocating one the first time it is seen (ids are never reused)."""
        sid = self._state_ids.get(state)
        if sid is None:
            sid = len(self.states)
            self._state_ids[state] = sid
            self.states.append(state)
        return sid

    def refresh(self, index: int) -> None:
        """Move node `index` to the state it is in now."""
        node = self.nodes[index]
        old = self.node_state[index]
        new = self.intern(self.state_of(node))
        if new == old:
            return
        group = self.groups[group_of(node)]
        members = group[old]
        del members[index]
        if not members:
            del group[old]  # keep the scan over live states only
        group.setdefault(new, {})[index] = None
        self.node_state[index] = new

    def memo(self, key: Hashable) -> dict[int, Any]:
        """A cache keyed by state id for one pure scoring function named by `key`.

        Valid for the life of this cluster because state ids are never reused.
        """
        table = self._memos.get(key)
        if table is None:
            table = self._memos[key] = {}
        return table

    def gpu_free_milli(self) -> int:
        """Free GPU capacity over all devices, in milli-GPUs."""
        return sum(n.gpu_free_milli for n in self.nodes)

    def gpu_total_milli(self) -> int:
        return sum(n.gpu_total_milli for n in self.nodes)
