from collections.abc import Callable

import pytest

from mlkube.scheduling.cluster import Cluster, ClusterNode, NodeState, Task
from mlkube.scheduling.placement import (
    Placement,
    Workload,
    apply,
    best_fit,
    fgd,
    fragmentation,
    release,
    task_fragmentation,
)

Policy = Callable[[Cluster, Task], Placement | None]

WHOLE = Task("whole", cpu_milli=1000, memory_mib=1024, num_gpu=1, gpu_milli=1000)
SHARE = Task("share", cpu_milli=1000, memory_mib=1024, num_gpu=1, gpu_milli=300)
CPU = Task("cpu", cpu_milli=4000, memory_mib=1024)
# Mostly whole-GPU work: what FGD keeps room for.
WORKLOAD = Workload.from_tasks([WHOLE] * 8 + [SHARE] * 2)


def fgd_policy(cluster: Cluster, task: Task) -> Placement | None:
    return fgd(cluster, task, workload=WORKLOAD)


POLICIES: dict[str, Policy] = {"best_fit": best_fit, "fgd": fgd_policy}


def node(name: str, gpus: list[int], model: str = "A100", cpu: int = 32000) -> ClusterNode:
    return ClusterNode(name, cpu_milli=cpu, memory_mib=65536, gpu_model=model, gpus=gpus)


def cpu_node(name: str, cpu: int = 32000) -> ClusterNode:
    return ClusterNode(name, cpu_milli=cpu, memory_mib=65536)


def names(cluster: Cluster, placement: Placement | None) -> tuple[str, tuple[int, ...]] | None:
    if placement is None:
        return None
    return cluster.nodes[placement.node_index].name, placement.gpu_indices


CASES = [
    # (id, nodes, task, expected (node name, gpu indices) or None)
    ("share on tightest device", [node("a", [1000, 400])], SHARE, ("a", (1,))),
    ("share needs a device with room", [node("a", [200, 1000])], SHARE, ("a", (1,))),
    (
        "whole gpus skip partly used",
        [node("a", [500, 1000, 1000])],
        Task("two", 1000, 1024, num_gpu=2, gpu_milli=1000),
        ("a", (1, 2)),
    ),
    (
        "model constraint",
        [node("a", [1000], model="A100"), node("v", [1000], model="V100")],
        Task("v", 1000, 1024, num_gpu=1, gpu_milli=1000, gpu_models=("V100", "P100")),
        ("v", (0,)),
    ),
    (
        "no node of the model",
        [node("a", [1000], model="A100")],
        Task("v", 1000, 1024, num_gpu=1, gpu_milli=1000, gpu_models=("V100",)),
        None,
    ),
    ("cpu-only kept off gpu nodes", [node("g", [1000]), cpu_node("c")], CPU, ("c", ())),
    (
        "cpu-only on gpu node when nothing else fits",
        [node("g", [1000]), cpu_node("c", cpu=2000)],
        CPU,
        ("g", ()),
    ),
    ("gpu task never on cpu node", [cpu_node("c")], WHOLE, None),
    ("too much cpu", [node("a", [1000], cpu=500)], WHOLE, None),
    ("too much memory", [node("a", [1000])], Task("m", 0, 10**6), None),
    ("too many gpus", [node("a", [1000, 1000])], Task("g", 0, 0, 4, 1000), None),
    ("gpu share too big", [node("a", [200, 250])], SHARE, None),
]


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
@pytest.mark.parametrize(
    ("nodes", "task", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_placement_table(
    policy: Policy,
    nodes: list[ClusterNode],
    task: Task,
    expected: tuple[str, tuple[int, ...]] | None,
) -> None:
    cluster = Cluster(nodes)
    assert names(cluster, policy(cluster, task)) == expected


def test_best_fit_breaks_a_whole_gpu_where_fgd_does_not() -> None:
    """A share fits best on the one-GPU node by best-fit, which strands that GPU for whole
    tasks; FGD puts it on the partly used device of the bigger node instead."""
    nodes = [node("one", [1000]), node("four", [1000, 1000, 1000, 600])]
    assert names(Cluster(nodes), best_fit(Cluster(nodes), SHARE)) == ("one", (0,))
    cluster = Cluster([node("one", [1000]), node("four", [1000, 1000, 1000, 600])])
    assert names(cluster, fgd_policy(cluster, SHARE)) == ("four", (3,))


def test_fgd_leaves_room_for_more_whole_gpu_tasks() -> None:
    def whole_tasks_placed(policy: Policy) -> int:
        cluster = Cluster([node("one", [1000]), node("four", [1000, 1000, 1000, 600])])
        placed = 0
        for task in [SHARE, *[WHOLE] * 4]:
            placement = policy(cluster, task)
            if placement is not None:
                apply(cluster, task, placement)
                placed += task is WHOLE
        return placed

    assert (whole_tasks_placed(best_fit), whole_tasks_placed(fgd_policy)) == (3, 4)


def test_memory_falls_back_to_next_best_state() -> None:
    small = ClusterNode("small", cpu_milli=2000, memory_mib=512)
    big = ClusterNode("big", cpu_milli=32000, memory_mib=65536)
    cluster = Cluster([small, big])
    task = Task("t", cpu_milli=1000, memory_mib=4096)
    for policy in POLICIES.values():
        assert names(cluster, policy(cluster, task)) == ("big", ())


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
@pytest.mark.parametrize("task", [WHOLE, SHARE, CPU], ids=["whole", "share", "cpu"])
def test_apply_release_round_trip(policy: Policy, task: Task) -> None:
    cluster = Cluster([node("a", [1000, 700]), cpu_node("c")])
    before = [(n.cpu_free, n.memory_free, list(n.gpus)) for n in cluster.nodes]
    states = list(cluster.node_state)
    placement = policy(cluster, task)
    assert placement is not None
    apply(cluster, task, placement)
    assert cluster.node_state != states
    release(cluster, task, placement)
    assert [(n.cpu_free, n.memory_free, n.gpus) for n in cluster.nodes] == before
    assert cluster.node_state == states


def test_apply_refuses_what_is_not_free_and_changes_nothing() -> None:
    cluster = Cluster([node("a", [200])])
    with pytest.raises(ValueError, match="GPU share not free"):
        apply(cluster, SHARE, Placement(0, (0,), 300))
    with pytest.raises(ValueError, match="distinct GPUs"):
        apply(cluster, WHOLE, Placement(0))
    with pytest.raises(ValueError, match="releasing more"):
        release(cluster, SHARE, Placement(0, (0,), 300))
    assert cluster.nodes[0].gpus == [200]
    assert cluster.nodes[0].cpu_free == 32000


def test_placements_fill_the_cluster_then_stop() -> None:
    cluster = Cluster([node("a", [1000, 1000]), node("b", [1000])])
    placed = 0
    while (placement := fgd_policy(cluster, WHOLE)) is not None:
        apply(cluster, WHOLE, placement)
        placed += 1
    assert placed == 3
    assert cluster.gpu_free_milli() == 0


STATES = [
    NodeState("A100", 32000, 32000, (1000, 1000)),
    NodeState("A100", 32000, 32000, (1000, 600)),
    NodeState("A100", 32000, 500, (1000, 600)),  # no CPU left: everything is a fragment
    NodeState("A100", 32000, 32000, (250, 100)),
    NodeState("V100", 32000, 32000, (1000, 0)),
    NodeState("", 32000, 32000, ()),
]


@pytest.mark.parametrize("state", STATES)
def test_fragmentation_is_the_popularity_weighted_sum(state: NodeState) -> None:
    tasks = [WHOLE, SHARE, CPU, Task("v", 9000, 1, 1, 1000, ("V100",)), Task("two", 0, 0, 2, 1000)]
    workload = Workload.from_tasks(tasks * 3 + [SHARE])
    expected = sum(
        count * task_fragmentation(state, shape)
        for shape, count in zip(workload.shapes, workload.counts, strict=True)
    )
    assert fragmentation(state, workload) == expected


@pytest.mark.parametrize(
    ("state", "task", "expected"),
    [
        (STATES[1], WHOLE, 600),  # the partly used device cannot take a whole task
        (STATES[1], SHARE, 0),
        (STATES[2], SHARE, 1600),  # cannot run at all: all free GPU is stranded
        (STATES[3], SHARE, 350),
        (STATES[4], Task("a", 0, 0, 1, 1000, ("A100",)), 1000),
        (STATES[0], CPU, 0),
    ],
)
def test_task_fragmentation(state: NodeState, task: Task, expected: int) -> None:
    assert task_fragmentation(state, task.shape) == expected


@pytest.mark.parametrize(
    ("cpu", "num_gpu", "gpu_milli", "message"),
    [
        (0, 0, 500, "needs num_gpu"),
        (0, 2, 500, "share of a GPU"),
        (0, 1, 0, "gpu_milli must be"),
        (-1, 0, 0, "negative"),
    ],
)
def test_task_refuses_bad_requests(cpu: int, num_gpu: int, gpu_milli: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Task("t", cpu, 0, num_gpu, gpu_milli)


def test_node_refuses_bad_gpu_share() -> None:
    with pytest.raises(ValueError, match="free share"):
        ClusterNode("n", 1000, 1000, "A100", [1200])
