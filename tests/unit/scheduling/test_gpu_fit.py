# ruff: noqa: RUF001  (reasons write counts with a multiplication sign)
"""GPU placement on one node: shares of a device, shares sized by memory, fallback lists."""

from __future__ import annotations

import pytest

from mlkube.api.resources import GpuChoice, ResourceRequest
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
A100 = "NVIDIA A100-SXM4-40GB"
H100 = "NVIDIA H100 80GB HBM3"
# Two A100s (40Gi), one H100 (80Gi), one AMD device.
NODE = NodeCapacity(
    "node-a",
    cpus=(0, 1, 2, 3),
    memory_bytes=64 * GiB,
    gpus=(
        GpuSlot(0, "nvidia", A100, 40 * GiB),
        GpuSlot(1, "nvidia", A100, 40 * GiB),
        GpuSlot(2, "nvidia", H100, 80 * GiB),
        GpuSlot(3, "amd", "AMD Instinct MI300X", 192 * GiB),
    ),
)
A100_ONLY = NodeCapacity(
    "a100-node",
    (0, 1),
    16 * GiB,
    (GpuSlot(0, "nvidia", A100, 40 * GiB), GpuSlot(1, "nvidia", A100, 40 * GiB)),
)


def gpu(
    count: int = 1,
    model: str | None = None,
    *,
    share: int = 0,
    memory: int = 0,
    vendor: str = "nvidia",
) -> GpuChoice:
    return GpuChoice(vendor, count, model, share, memory)  # type: ignore[arg-type]


def ask(*choices: GpuChoice) -> ResourceRequest:
    return ResourceRequest().with_gpus(*choices)


def held(*grants: tuple[tuple[int, ...], int]) -> NodeUsage:
    """Usage from (devices, thousandths of each) pairs."""
    return NodeUsage.of([Grant(gpus=devices, gpu_millis=millis) for devices, millis in grants])


# (case, request, what is held already, devices granted, thousandths of each)
FITS = [
    ("a quarter goes to a free device", ask(gpu(share=250)), held(), (0,), 250),
    (
        "a share packs beside another share, not on a free device",
        ask(gpu(share=250)),
        held(((1,), 500)),
        (1,),
        250,
    ),
    (
        "best fit: the device left with the least room",
        ask(gpu(share=250)),
        held(((0,), 250), ((1,), 500)),
        (1,),
        250,
    ),
    ("a share fills a device exactly", ask(gpu(share=500)), held(((0,), 500)), (0,), 500),
    (
        "a share skips a device without room",
        ask(gpu(share=600)),
        held(((0,), 500)),
        (1,),
        600,
    ),
    (
        "a whole GPU skips partly used devices",
        ask(gpu(1)),
        held(((0,), 250)),
        (1,),
        1000,
    ),
    (
        "a memory share is sized on the device: 20Gi of a 40Gi A100 is half",
        ask(gpu(model="A100", memory=20 * GiB)),
        held(),
        (0,),
        500,
    ),
    (
        "the same 20Gi on the 80Gi H100 is a quarter",
        ask(gpu(model="H100", memory=20 * GiB)),
        held(),
        (2,),
        250,
    ),
    (
        "a memory share rounds up to a thousandth",
        ask(gpu(model="H100", memory=GiB)),
        held(),
        (2,),
        13,  # 1/80 = 0.0125 -> 0.013
    ),
    (
        "with a fraction too, the larger share wins",
        ask(gpu(model="H100", share=500, memory=20 * GiB)),
        held(),
        (2,),
        500,
    ),
    (
        "a memory share only goes where the memory fits",
        ask(gpu(memory=60 * GiB)),
        held(),
        (2,),
        750,
    ),
    (
        "alternatives: the first that fits now",
        ask(gpu(1, "H100"), gpu(2, "A100")),
        held(),
        (2,),
        1000,
    ),
    (
        "alternatives: the next when the first is busy",
        ask(gpu(1, "H100"), gpu(2, "A100")),
        held(((2,), 1000)),
        (0, 1),
        1000,
    ),
    (
        "alternatives: a share of the fallback model",
        ask(gpu(1, "H100"), gpu(model="A100", share=500)),
        held(((2,), 100), ((0,), 500)),
        (0,),
        500,
    ),
    (
        "alternatives across vendors",
        ask(gpu(1, "H100"), gpu(1, "MI300X", vendor="amd")),
        held(((2,), 1000)),
        (3,),
        1000,
    ),
]


@pytest.mark.parametrize(
    ("request_", "usage", "devices", "millis"),
    [case[1:] for case in FITS],
    ids=[case[0] for case in FITS],
)
def test_fits(
    request_: ResourceRequest, usage: NodeUsage, devices: tuple[int, ...], millis: int
) -> None:
    decision = place(request_, NODE, usage)
    assert isinstance(decision, Fit), decision
    assert (decision.grant.gpus, decision.grant.gpu_millis) == (devices, millis)
    assert decision.grant.gpu_choice in request_.gpu_choices()


def test_the_grant_names_the_alternative_it_is_for() -> None:
    request = ask(gpu(1, "H100"), gpu(2, "A100"))
    decision = place(request, A100_ONLY, NodeUsage())
    assert isinstance(decision, Fit)
    assert decision.grant.gpu_choice == gpu(2, "A100")
    assert decision.grant.gpu_total_millis == 2000


# (case, request, what is held already, fragment of the wait reason)
WAITS = [
    (
        "no room for a share on any matching device",
        ask(gpu(model="A100", share=600)),
        held(((0,), 500), ((1,), 500)),
        "waiting for GPUs: needs 0.6 of one device, the most free on a matching device is 0.5",
    ),
    (
        "a whole GPU waits while every device is shared",
        ask(gpu(1, "A100")),
        held(((0,), 250), ((1,), 250)),
        "waiting for GPUs: needs 1, 0 matching free",
    ),
    (
        "a memory share waits for its memory",
        ask(gpu(model="A100", memory=30 * GiB)),
        held(((0,), 500), ((1,), 500)),
        "needs 30Gi of one device's memory, the most free on a matching device is 0.5",
    ),
    (
        "every alternative's shortfall is named, in order",
        ask(gpu(1, "H100"), gpu(2, "A100")),
        held(((2,), 1000), ((0,), 1000)),
        "waiting for GPUs: H100 ×1: needs 1, 0 matching free; A100 ×2: needs 2, 1 matching free",
    ),
    (
        "an alternative the node lacks is named as never here",
        ask(gpu(1, "B200"), gpu(2, "A100")),
        held(((0,), 1000)),
        "B200 ×1: never on this node (0 matching); A100 ×2: needs 2, 1 matching free",
    ),
]


@pytest.mark.parametrize(
    ("request_", "usage", "fragment"),
    [case[1:] for case in WAITS],
    ids=[case[0] for case in WAITS],
)
def test_waits(request_: ResourceRequest, usage: NodeUsage, fragment: str) -> None:
    decision = place(request_, NODE, usage)
    assert isinstance(decision, Wait), decision
    assert fragment in decision.reason


# (case, request, fragment of the reason it can never run on NODE)
NEVERS = [
    (
        "a share of a model the node lacks",
        ask(gpu(model="B200", share=500)),
        "requests 0.5 nvidia.com/gpu of model 'B200' but node node-a has 0 matching; "
        f"nvidia.com/gpu on the node: 3 ({A100}, {H100})",
    ),
    (
        "more memory than any matching device has",
        ask(gpu(model="A100", memory=50 * GiB)),
        "requests a 50Gi share of one nvidia.com/gpu of model 'A100' but node node-a has no "
        "matching device with 50Gi of memory (the largest has 40Gi)",
    ),
    (
        "no alternative can ever fit: each is listed",
        ask(gpu(1, "B200"), gpu(3, "A100"), gpu(2, "MI300X", vendor="amd")),
        "requests any of B200 ×1, A100 ×3, MI300X ×2 but node node-a can hold none of them "
        "(B200 ×1: 0 matching; A100 ×3: 2 matching; MI300X ×2: 1 matching); "
        "amd.com/gpu on the node: 1 (AMD Instinct MI300X); nvidia.com/gpu on the node: 3",
    ),
]


@pytest.mark.parametrize(
    ("request_", "fragment"), [case[1:] for case in NEVERS], ids=[case[0] for case in NEVERS]
)
def test_never(request_: ResourceRequest, fragment: str) -> None:
    decision = place(request_, NODE, NodeUsage())
    assert isinstance(decision, Never), decision
    assert fragment in decision.reason


def test_a_memory_share_cannot_be_sized_on_a_device_of_unknown_memory() -> None:
    node = NodeCapacity("n", (0,), GiB, (GpuSlot(0, "nvidia", "T4"),))
    decision = place(ask(gpu(memory=GiB)), node, NodeUsage())
    assert isinstance(decision, Never)
    assert "no matching device with 1Gi of memory (memory unknown)" in decision.reason


def test_four_quarters_fill_a_device_and_a_fifth_waits() -> None:
    node = NodeCapacity("n", (0, 1), 8 * GiB, (GpuSlot(0, "nvidia", A100, 40 * GiB),))
    queue = [QueuedWork(f"q{i}", (str(i),), ask(gpu(share=250))) for i in range(5)]
    result = admit(queue, node, [])
    assert list(result.admitted) == ["q0", "q1", "q2", "q3"]
    assert {g.gpus for g in result.admitted.values()} == {(0,)}
    assert (
        "needs 0.25 of one device, the most free on a matching device is 0" in result.waiting["q4"]
    )


def test_shares_pack_so_a_whole_gpu_still_fits() -> None:
    """Two halves share one device instead of spreading, so the 1-GPU step behind them fits."""
    node = A100_ONLY
    queue = [
        QueuedWork("half-1", ("1",), ask(gpu(share=500))),
        QueuedWork("half-2", ("2",), ask(gpu(share=500))),
        QueuedWork("whole", ("3",), ask(gpu(1))),
    ]
    result = admit(queue, node, [])
    assert result.admitted["half-1"].gpus == result.admitted["half-2"].gpus == (0,)
    assert result.admitted["whole"].gpus == (1,)


def test_usage_counts_thousandths_per_device() -> None:
    usage = held(((0,), 250), ((0,), 500), ((1, 2), 1000))
    assert usage.gpus == {0: 750, 1: 1000, 2: 1000}
    copy = usage.copy()
    copy.add(Grant(gpus=(0,), gpu_millis=250))
    assert usage.gpus[0] == 750 and copy.gpus[0] == 1000


def test_a_set_of_devices_means_whole_devices() -> None:
    assert NodeUsage(gpus={1, 2}).gpus == {1: 1000, 2: 1000}  # type: ignore[arg-type]
