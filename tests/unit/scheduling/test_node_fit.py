import pytest

from mlkube.api.resources import ResourceRequest
from mlkube.scheduling.node_fit import (
    Fit,
    GpuSlot,
    Grant,
    Never,
    NodeCapacity,
    NodeUsage,
    Wait,
    place,
)
from mlkube.scheduling.queue import QueuedWork, admit

GiB = 2**30
NODE = NodeCapacity(
    "node-a",
    cpus=(0, 1, 2, 3),
    memory_bytes=16 * GiB,
    gpus=(
        *tuple(GpuSlot(i, "nvidia", "NVIDIA A100-SXM4-80GB") for i in range(2)),
        GpuSlot(2, "amd", "AMD Instinct MI300X"),
    ),
)


def req(
    cpu: int = 0, mem: int = 0, gpus: int = 0, vendor: str | None = None, model: str | None = None
) -> ResourceRequest:
    return ResourceRequest(cpu, mem, gpus, vendor if gpus else None, model)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (req(cpu=5000), "requests cpu 5 but node node-a has 4 CPUs"),
        (req(mem=17 * GiB), "requests memory 17Gi but node node-a has 16Gi"),
        (req(gpus=3, vendor="nvidia"), "requests 3 nvidia.com/gpu but node node-a has 2 matching"),
        (req(gpus=1, vendor="nvidia", model="H100"), "of model 'H100'"),
        (req(gpus=2, vendor="amd"), "amd.com/gpu on the node: 1 (AMD Instinct MI300X)"),
    ],
)
def test_never_fits_says_why(request_: ResourceRequest, fragment: str) -> None:
    decision = place(request_, NODE, NodeUsage())
    assert isinstance(decision, Never)
    assert fragment in decision.reason


def test_whole_cores_are_exclusive_and_fractions_share() -> None:
    usage = NodeUsage()
    first = place(req(cpu=2000), NODE, usage)
    assert isinstance(first, Fit) and first.grant.cores == (0, 1)
    usage.add(first.grant)
    half = place(req(cpu=500), NODE, usage)
    assert isinstance(half, Fit) and half.grant.cpu_millis == {2: 500}
    usage.add(half.grant)
    # Best fit: the next half core goes beside the first, keeping core 3 whole.
    other_half = place(req(cpu=500), NODE, usage)
    assert isinstance(other_half, Fit) and other_half.grant.cpu_millis == {2: 500}
    usage.add(other_half.grant)
    assert isinstance(place(req(cpu=1000), NODE, usage), Fit)
    usage.add(Grant(cpu_millis={3: 1000}))
    waiting = place(req(cpu=1000), NODE, usage)
    assert isinstance(waiting, Wait) and "needs 1, 0 free" in waiting.reason


def test_one_and_a_half_cores_take_a_whole_and_a_half() -> None:
    decision = place(req(cpu=1500), NODE, NodeUsage())
    assert isinstance(decision, Fit)
    assert decision.grant.cpu_millis == {0: 1000, 1: 500}


def test_memory_and_gpus_are_accounted() -> None:
    usage = NodeUsage.of([Grant(memory_bytes=12 * GiB, gpus=(0,))])
    assert isinstance(place(req(mem=5 * GiB), NODE, usage), Wait)
    gpu = place(req(gpus=1, vendor="nvidia", model="a100"), NODE, usage)
    assert isinstance(gpu, Fit) and gpu.grant.gpus == (1,)
    usage.add(gpu.grant)
    assert isinstance(place(req(gpus=1, vendor="nvidia"), NODE, usage), Wait)
    amd = place(req(gpus=1, vendor="amd"), NODE, usage)
    assert isinstance(amd, Fit) and amd.grant.gpus == (2,)


def test_best_effort_steps_are_not_pinned() -> None:
    decision = place(req(), NODE, NodeUsage.of([Grant(cpu_millis=dict.fromkeys(range(4), 1000))]))
    assert isinstance(decision, Fit) and decision.grant.cores == ()


def test_admission_is_fifo_but_a_big_head_does_not_block_small_ones() -> None:
    queue = [
        QueuedWork("big", ("1",), req(cpu=3000)),
        QueuedWork("small", ("2",), req(cpu=1000)),
        QueuedWork("huge", ("0",), req(cpu=64000)),
        QueuedWork("late", ("3",), req(cpu=1000)),
    ]
    running = [Grant(cpu_millis={0: 1000, 1: 1000})]
    result = admit(queue, NODE, running)
    assert list(result.admitted) == ["small", "late"]
    assert "waiting for CPU" in result.waiting["big"]
    assert "requests cpu 64" in result.never["huge"]


def test_admission_in_arrival_order() -> None:
    queue = [QueuedWork(k, (o,), req(cpu=2000)) for k, o in (("b", "2"), ("a", "1"), ("c", "3"))]
    result = admit(queue, NODE, [])
    assert list(result.admitted) == ["a", "b"]
    assert list(result.waiting) == ["c"]
