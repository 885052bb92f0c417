"""Placement of tasks on many nodes: best-fit, and fragmentation gradient descent (FGD).

Both policies are pure functions of the cluster's state and the task: no clock, no I/O. They scan
the cluster's distinct node *states* (see `cluster.Cluster`), not its nodes, and cache each
state's score per task shape in the cluster; a cached score is a pure function of the state, so
caching never changes a decision.

Rules shared by both policies:

- GPU-model constraint: a task with `gpu_models` only goes to nodes of one of those models.
- CPU-only tasks go to nodes without GPUs when one of those fits; only when none fits are GPU
  nodes considered. With FGD this is a hard rule on top of the paper's policy: the paper lets
  FGD score CPU-only tasks everywhere (exhausting a GPU node's CPU strands its GPUs, which FGD
  sees as fragmentation), whereas here FGD only scores them on GPU nodes as a fallback. On
  GPU-less nodes FGD's fragmentation is always zero, so there it packs by best-fit.
- Ties (equal score) go to best-fit; remaining ties to the state seen first, and within a state
  to the first node (in the order it entered the state) with enough free memory.
- Memory is a constraint, not a score: it is checked on the node chosen, falling back to the
  next best state when no node in the best one has the memory.

FGD follows Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with
Fragmentation Gradient Descent", USENIX ATC 2023.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import accumulate

from mlkube.scheduling.cluster import (
    CPU_ONLY,
    GPU_WHOLE,
    Cluster,
    ClusterNode,
    NodeState,
    Task,
    TaskShape,
)

INFEASIBLE = float("inf")
# FGD scores are integer fragmentation deltas; the best-fit tie-break (a residual in [0, 2])
# is added after scaling the delta by this, so it can never reorder different deltas.
_DELTA_SCALE = 3.0


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a task goes: a node, and `gpu_milli` taken from each device in `gpu_indices`."""

    node_index: int
    gpu_indices: tuple[int, ...] = ()
    gpu_milli: int = 0


DemandClass = tuple[int, int, tuple[str, ...], tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True, eq=False)
class Workload:
    """The "typical tasks" FGD measures fragmentation against: shapes and their popularity.

    `counts[k]` is how often `shapes[k]` occurs; popularity is `counts[k] / sum(counts)`. Integer
    counts keep fragmentation exact (no float ties that differ by rounding). Compared by
    identity, because scores cached in a cluster are keyed by the workload object.
    """

    shapes: tuple[TaskShape, ...]
    counts: tuple[int, ...]
    # Per (num_gpu, gpu_milli, gpu_models): CPU requests ascending, and cumulative counts with a
    # leading 0, so `cumulative[bisect_right(cpus, c)]` counts those asking for at most `c`.
    demand_classes: tuple[DemandClass, ...] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.shapes) != len(self.counts) or any(c <= 0 for c in self.counts):
            raise ValueError("workload: one positive count per shape")
        by_demand: defaultdict[tuple[int, int, tuple[str, ...]], Counter[int]] = defaultdict(
            Counter
        )
        for shape, count in zip(self.shapes, self.counts, strict=True):
            by_demand[shape.num_gpu, shape.gpu_milli, shape.gpu_models][shape.cpu_milli] += count
        classes = []
        for (num, need, models), per_cpu in by_demand.items():
            cpus = tuple(sorted(per_cpu))
            cumulative = tuple(accumulate((per_cpu[c] for c in cpus), initial=0))
            classes.append((num, need, models, cpus, cumulative))
        object.__setattr__(self, "demand_classes", tuple(classes))

    @classmethod
    def from_tasks(cls, tasks: Iterable[Task]) -> Workload:
        """Popularity of each distinct task shape among `tasks` (the paper's target workload)."""
        counter = Counter(t.shape for t in tasks)
        return cls(tuple(counter), tuple(counter.values()))


# --- fragmentation (the paper's F_n(m) and its expectation) -------------------------------


def can_host(state: NodeState, shape: TaskShape) -> bool:
    """Whether a node in `state` can run a task of `shape` now (memory aside)."""
    if shape.cpu_milli > state.cpu_free:
        return False
    if shape.num_gpu == 0:
        return True
    if shape.gpu_models and state.gpu_model not in shape.gpu_models:
        return False
    gpus = state.gpus  # sorted, largest free share first
    if shape.gpu_milli < GPU_WHOLE:
        return bool(gpus) and gpus[0] >= shape.gpu_milli
    return len(gpus) >= shape.num_gpu and gpus[shape.num_gpu - 1] == GPU_WHOLE


def task_fragmentation(state: NodeState, shape: TaskShape) -> int:
    """F_n(m): free GPU milli on the node that a task of `shape` cannot use.

    If the task cannot run on the node at all (CPU, GPU count or model), every free share is a
    fragment. Otherwise a device is a fragment when its free share is below what the task needs
    per device (its share, or a whole device); a CPU-only task that fits fragments nothing.
    """
    if not can_host(state, shape):
        return sum(state.gpus)
    if shape.num_gpu == 0:
        return 0
    need = shape.gpu_milli
    return sum(g for g in state.gpus if g < need)


def fragmentation(state: NodeState, workload: Workload) -> int:
    """Expected fragmentation times `sum(workload.counts)`: sum_k count_k * F_n(m_k).

    Equal to summing `task_fragmentation` over the workload, computed per GPU demand class:
    shapes differing only in CPU are counted together, those whose CPU does not fit by bisection.
    """
    gpus = state.gpus
    free = sum(gpus)
    if free == 0:
        return 0
    top, cpu_free, model = gpus[0], state.cpu_free, state.gpu_model
    total = 0
    for num, need, models, cpus, cumulative in workload.demand_classes:
        everyone = cumulative[-1]
        if (models and model not in models) or (
            (top < need) if need < GPU_WHOLE else (len(gpus) < num or gpus[num - 1] < need)
        ):
            total += everyone * free  # no task of this class can run here
            continue
        fits = cumulative[bisect_right(cpus, cpu_free)]  # those asking for <= cpu_free
        total += (everyone - fits) * free
        if num and fits:
            total += fits * sum(g for g in gpus if g < need)
    return total


# --- per-state scoring ---------------------------------------------------------------------


def _after(state: NodeState, shape: TaskShape, take: int) -> NodeState:
    """The state after placing `shape`, taking from a device with free share `take`."""
    gpus = state.gpus
    if shape.num_gpu == 0:
        pass
    elif shape.gpu_milli == GPU_WHOLE:
        gpus = gpus[shape.num_gpu :] + (0,) * shape.num_gpu
    else:
        at = gpus.index(take)
        gpus = tuple(sorted((*gpus[:at], take - shape.gpu_milli, *gpus[at + 1 :]), reverse=True))
    return state._replace(cpu_free=state.cpu_free - shape.cpu_milli, gpus=gpus)


def _takes(state: NodeState, shape: TaskShape) -> list[int]:
    """Free shares a task could take its GPU from (one per distinct value); [0] if no choice."""
    if shape.num_gpu == 0 or shape.gpu_milli == GPU_WHOLE:
        return [GPU_WHOLE if shape.num_gpu else 0]
    return sorted({g for g in state.gpus if g >= shape.gpu_milli})


def _residual(state: NodeState, shape: TaskShape) -> float:
    """Best-fit's measure: the fraction of CPU plus the fraction of GPU left after placing."""
    left = (state.cpu_free - shape.cpu_milli) / max(state.cpu_total, 1)
    if state.gpus:
        gpu_left = sum(state.gpus) - shape.num_gpu * shape.gpu_milli
        left += gpu_left / (GPU_WHOLE * len(state.gpus))
    return left


Score = tuple[float, int] | None  # (score, device share taken) or None when it cannot host
Scorer = Callable[[Cluster, NodeState, TaskShape], Score]


def _best_fit_score(cluster: Cluster, state: NodeState, shape: TaskShape) -> Score:
    if not can_host(state, shape):
        return None
    # The tightest device that fits keeps fuller devices for bigger shares.
    return _residual(state, shape), _takes(state, shape)[0]


def _fgd_scorer(frags: dict[int, int], workload: Workload) -> Scorer:
    """FGD's score, with `frags` the cluster's cache of each state's fragmentation."""

    def score(cluster: Cluster, state: NodeState, shape: TaskShape) -> Score:
        if not can_host(state, shape):
            return None
        before = _frag_of(cluster, frags, state, workload)
        residual = _residual(state, shape)  # the best-fit tie-break; the same for every take
        best: Score = None
        for take in _takes(state, shape):
            after = _after(state, shape, take)
            delta = _frag_of(cluster, frags, after, workload) - before
            value = delta * _DELTA_SCALE + residual
            if best is None or value < best[0]:
                best = (value, take)
        return best

    return score


def _frag_of(cluster: Cluster, frags: dict[int, int], state: NodeState, w: Workload) -> int:
    sid = cluster.intern(state)
    value = frags.get(sid)
    if value is None:
        value = frags[sid] = fragmentation(state, w)
    return value


# --- policies --------------------------------------------------------------------------------


def best_fit(cluster: Cluster, task: Task) -> Placement | None:
    """The feasible node left with the least free CPU + GPU (each as a fraction of the node's).

    The baseline of the FGD paper. A GPU share goes to the tightest device it fits. None when
    no node can host the task now.
    """
    return _place(cluster, task, "best-fit", _best_fit_score)


def fgd(cluster: Cluster, task: Task, *, workload: Workload) -> Placement | None:
    """The node and devices whose expected fragmentation grows least (Weng et al. 2023).

    For every feasible node and device choice, the increase of
    `sum_k popularity_k * F_n(typical task k)` is computed; the smallest wins (ties: best-fit).
    None when no node can host the task now.
    """
    scorer = _fgd_scorer(cluster.memo(("frag", workload)), workload)
    return _place(cluster, task, ("fgd", workload), scorer)


def _place(cluster: Cluster, task: Task, key: object, scorer: Scorer) -> Placement | None:
    shape = task.shape
    memo: dict[int, Score] = cluster.memo((key, shape))
    groups = cluster.groups
    if shape.num_gpu == 0:
        cpu_nodes = groups.get(CPU_ONLY)
        if cpu_nodes:
            found = _scan(cluster, task, [cpu_nodes], memo, scorer)
            if found is not None:
                return found
        candidates = [g for name, g in groups.items() if name is not CPU_ONLY]
    elif shape.gpu_models:
        candidates = [groups[m] for m in shape.gpu_models if m in groups]
    else:
        candidates = [g for name, g in groups.items() if name is not CPU_ONLY]
    return _scan(cluster, task, candidates, memo, scorer)


def _scan(
    cluster: Cluster,
    task: Task,
    candidates: list[dict[int, dict[int, None]]],
    memo: dict[int, Score],
    scorer: Scorer,
) -> Placement | None:
    """The best state's first node with enough memory; the hot loop of every decision."""
    shape = task.shape
    states = cluster.states
    best = INFEASIBLE
    best_sid = -1
    best_group: dict[int, dict[int, None]] = {}
    for group in candidates:
        for sid in group:
            if sid in memo:
                score = memo[sid]
            else:
                score = memo[sid] = scorer(cluster, states[sid], shape)
            if score is not None and score[0] < best:
                best, best_sid, best_group = score[0], sid, group
    if best_sid < 0:
        return None
    node = _with_memory(cluster, best_group[best_sid], task.memory_mib)
    if node is not None:
        return _placement(cluster.nodes[node], node, shape, memo[best_sid])
    return _scan_by_memory(cluster, task, candidates, memo)


def _with_memory(cluster: Cluster, members: Iterable[int], memory_mib: int) -> int | None:
    nodes = cluster.nodes
    for index in members:
        if nodes[index].memory_free >= memory_mib:
            return index
    return None


def _scan_by_memory(
    cluster: Cluster,
    task: Task,
    candidates: list[dict[int, dict[int, None]]],
    memo: dict[int, Score],
) -> Placement | None:
    """Slow path when the best state has no node with the memory: walk states best first."""
    ranked: list[tuple[float, int, dict[int, None]]] = []
    for group in candidates:
        for sid, members in group.items():
            score = memo[sid]
            if score is not None:
                ranked.append((score[0], sid, members))
    ranked.sort(key=lambda r: (r[0], r[1]))
    for _, sid, members in ranked:
        node = _with_memory(cluster, members, task.memory_mib)
        if node is not None:
            return _placement(cluster.nodes[node], node, task.shape, memo[sid])
    return None


def _placement(node: ClusterNode, index: int, shape: TaskShape, score: Score) -> Placement:
    assert score is not None  # only feasible states reach here
    if shape.num_gpu == 0:
        return Placement(index)
    take = score[1]
    picked: list[int] = []
    for device, free in enumerate(node.gpus):
        if free == take:
            picked.append(device)
            if len(picked) == shape.num_gpu:
                break
    return Placement(index, tuple(picked), shape.gpu_milli)


# --- mutation ----------------------------------------------------------------------------------


def apply(cluster: Cluster, task: Task, placement: Placement) -> None:
    """Take the task's resources on the placed node; ValueError (nothing changed) if not free."""
    node = cluster.nodes[placement.node_index]
    _check_shape(node, task, placement)
    if node.cpu_free < task.cpu_milli or node.memory_free < task.memory_mib:
        raise ValueError(f"task {task.name}: not enough free CPU or memory on {node.name}")
    if any(node.gpus[i] < placement.gpu_milli for i in placement.gpu_indices):
        raise ValueError(f"task {task.name}: GPU share not free on {node.name}")
    node.cpu_free -= task.cpu_milli
    node.memory_free -= task.memory_mib
    for i in placement.gpu_indices:
        node.gpus[i] -= placement.gpu_milli
    cluster.refresh(placement.node_index)


def release(cluster: Cluster, task: Task, placement: Placement) -> None:
    """Give back what `apply` took; ValueError (nothing changed) if it would exceed the totals."""
    node = cluster.nodes[placement.node_index]
    _check_shape(node, task, placement)
    over_cpu = node.cpu_free + task.cpu_milli > node.cpu_milli
    if over_cpu or node.memory_free + task.memory_mib > node.memory_mib:
        raise ValueError(f"task {task.name}: releasing more CPU or memory than {node.name} has")
    if any(node.gpus[i] + placement.gpu_milli > GPU_WHOLE for i in placement.gpu_indices):
        raise ValueError(f"task {task.name}: releasing more GPU than {node.name} has")
    node.cpu_free += task.cpu_milli
    node.memory_free += task.memory_mib
    for i in placement.gpu_indices:
        node.gpus[i] += placement.gpu_milli
    cluster.refresh(placement.node_index)


def _check_shape(node: ClusterNode, task: Task, placement: Placement) -> None:
    devices = placement.gpu_indices
    if len(devices) != task.num_gpu or len(set(devices)) != len(devices):
        raise ValueError(f"task {task.name}: needs {task.num_gpu} distinct GPUs, got {devices}")
    if devices and placement.gpu_milli != task.gpu_milli:
        raise ValueError(f"task {task.name}: placement takes {placement.gpu_milli} milli-GPU")
    if any(not 0 <= i < len(node.gpus) for i in devices):
        raise ValueError(f"task {task.name}: {node.name} has no GPU among {devices}")
    if devices and task.gpu_models and node.gpu_model not in task.gpu_models:
        raise ValueError(f"task {task.name}: {node.name} has {node.gpu_model} GPUs")
