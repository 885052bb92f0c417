"""Gang placement: all workers of a job on the node at once, or none; tables of cases."""

from __future__ import annotations

import pytest

from mlkube.api.resources import ResourceRequest
from mlkube.scheduling.gang import GangFit, gang_never, place_gang
from mlkube.scheduling.node_fit import GpuSlot, Grant, Never, NodeCapacity, NodeUsage, Wait
from mlkube.scheduling.queue import QueuedWork, admit

GiB = 2**30
NODE = NodeCapacity(
    "node-a",
    cpus=(0, 1, 2, 3),
    memory_bytes=16 * GiB,
    gpus=tuple(GpuSlot(i, "nvidia", "NVIDIA A100-SXM4-80GB") for i in range(4)),
)


def worker(cpu: int = 0, mem: int = 0, gpus: int = 0) -> ResourceRequest:
    return ResourceRequest(cpu, mem * GiB, gpus, "nvidia" if gpus else None)


def held(*cores: int, gpus: tuple[int, ...] = ()) -> NodeUsage:
    return NodeUsage.of([Grant(dict.fromkeys(cores, 1000), 0, gpus)])


@pytest.mark.parametrize(
    ("count", "request_", "usage", "expected"),
    [
        (2, worker(cpu=1000), NodeUsage(), "fit"),
        (4, worker(cpu=1000), NodeUsage(), "fit"),
        (2, worker(cpu=2000), held(0), "wait"),  # three cores free, four needed
        (3, worker(cpu=1000), held(0, 1), "wait"),  # two of three would fit: none starts
        (2, worker(gpus=2), held(gpus=(0,)), "wait"),
        (2, worker(mem=8), NodeUsage(), "fit"),
        (3, worker(cpu=2000), NodeUsage(), "never"),
        (5, worker(gpus=1), NodeUsage(), "never"),
        (1, worker(cpu=5000), NodeUsage(), "never"),
    ],
)
def test_a_gang_fits_whole_waits_whole_or_never_fits(
    count: int, request_: ResourceRequest, usage: NodeUsage, expected: str
) -> None:
    before = usage.copy()
    decision = place_gang([request_] * count, NODE, usage)
    kind = {GangFit: "fit", Wait: "wait", Never: "never"}[type(decision)]
    assert kind == expected
    assert usage == before  # the caller adds the grants, never the policy
    if isinstance(decision, GangFit):
        assert len(decision.grants) == count
        cores = [c for g in decision.grants for c in g.cores]
        assert len(cores) == len(set(cores))  # whole cores are never shared between workers


@pytest.mark.parametrize(
    ("count", "request_", "reason"),
    [
        (
            4,
            worker(gpus=2),
            "4 workers \N{MULTIPLICATION SIGN} 2 nvidia.com/gpu = 8 GPUs; the node has 4",
        ),
        (3, worker(cpu=2000), "3 workers \N{MULTIPLICATION SIGN} 2 cpu = 6 CPUs; the node has 4"),
        (
            2,
            worker(mem=10),
            "2 workers \N{MULTIPLICATION SIGN} 10Gi memory = 20Gi; the node has 16Gi",
        ),
        (2, worker(cpu=5000), "each worker requests cpu 5 but node node-a has 4 CPUs"),
        (4, worker(cpu=1000, gpus=1), None),
    ],
)
def test_why_a_gang_can_never_fit(count: int, request_: ResourceRequest, reason: str) -> None:
    assert gang_never([request_] * count, NODE) == reason


def test_a_waiting_gang_says_which_resource_is_short() -> None:
    decision = place_gang([worker(gpus=2)] * 2, NODE, held(gpus=(0,)))
    assert isinstance(decision, Wait)
    assert decision.reason == (
        "waiting for GPUs: needs 2, 1 matching free"
        " (the gang of 2 workers starts only when all fit)"
    )


def queued(key: str, order: str, request: ResourceRequest, gang: str | None = None) -> QueuedWork:
    return QueuedWork(key, (order,), request, gang)


def test_the_queue_admits_a_gang_all_together_or_holds_every_member() -> None:
    step = queued("ns/run/a", "1", worker(cpu=2000))
    gang = [queued(f"ns/@job/w{r}", "2", worker(cpu=1000), gang="ns/@job") for r in range(3)]
    younger = queued("ns/run/b", "3", worker(cpu=1000))
    result = admit([younger, *gang, step], NODE, [])
    # The step takes two cores; the gang needs three of the two left, so none of its workers
    # starts, and a younger step that fits is not held up behind it.
    assert set(result.admitted) == {"ns/run/a", "ns/run/b"}
    assert set(result.waiting) == {w.key for w in gang}
    assert len(set(result.waiting.values())) == 1


def test_the_queue_admits_every_member_of_a_gang_that_fits() -> None:
    gang = [queued(f"ns/@job/w{r}", "1", worker(cpu=1000), gang="ns/@job") for r in range(4)]
    result = admit(gang, NODE, [])
    assert set(result.admitted) == {w.key for w in gang}
    assert sorted(c for g in result.admitted.values() for c in g.cores) == [0, 1, 2, 3]


def test_the_queue_marks_every_member_of_an_impossible_gang() -> None:
    gang = [queued(f"ns/@job/w{r}", "1", worker(gpus=2), gang="ns/@job") for r in range(4)]
    result = admit(gang, NODE, [])
    assert result.never == dict.fromkeys(
        (w.key for w in gang),
        "4 workers \N{MULTIPLICATION SIGN} 2 nvidia.com/gpu = 8 GPUs; the node has 4",
    )
