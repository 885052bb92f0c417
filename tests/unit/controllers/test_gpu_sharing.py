"""Shares of a GPU and GPU fallback lists through the controllers: quota per GPU-model flavor,
the node's grant, the step's environment, and what its status records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlkube.api.resources import GpuChoice, ResourceRequest
from mlkube.controllers.pipelinerun.quota_gate import (
    QueueConfig,
    admitted_request,
    flavor_options,
    gpu_millis_on,
)
from mlkube.runtime.base import GpuDevice
from mlkube.scheduling.node_fit import GpuSlot, NodeCapacity
from mlkube.scheduling.quota import FlavorQuota, QueueQuota, ResourceVector
from tests.unit.controllers.harness import Bench, py
from tests.unit.controllers.test_quotas import flavor, queue, submit

GiB = 2**30
H100 = "NVIDIA H100 80GB HBM3"
A100 = "NVIDIA A100-SXM4-40GB"
FALLBACK: dict[str, Any] = {
    "gpuAlternatives": [{"model": "H100", "count": 1}, {"model": "A100", "count": 2}]
}


def model_flavors(bench: Bench, **models: str) -> None:
    for name, model in models.items():
        bench.store.create(
            "resourceflavors.mlkube.io",
            {
                "apiVersion": "mlkube.io/v1alpha1",
                "kind": "ResourceFlavor",
                "metadata": {"name": name},
                "spec": {"gpuModel": model},
            },
        )


def mixed_bench(tmp_path: Path) -> Bench:
    """One H100 and two A100s; the team's quota: 1 H100 and 2 A100s."""
    gpus = (
        GpuDevice(0, "nvidia", H100, 80 * GiB),
        GpuDevice(1, "nvidia", A100, 40 * GiB),
        GpuDevice(2, "nvidia", A100, 40 * GiB),
    )
    bench = Bench(tmp_path, gpus=gpus)
    model_flavors(bench, h100="H100", a100="A100")
    flavors = [flavor("h100", cpu="4", nvidia_gpu="1"), flavor("a100", cpu="4", nvidia_gpu="2")]
    bench.store.create("clusterqueues.mlkube.io", queue("team", ["default"], flavors))
    return bench


def test_the_first_alternative_quota_allows_is_granted_by_the_node(tmp_path: Path) -> None:
    bench = mixed_bench(tmp_path)
    h100: dict[str, Any] = {"resources": {"nvidia.com/gpu": 1, "gpuModel": "H100"}}
    submit(bench, "default", "busy", [py("hold", **h100)])
    submit(bench, "default", "r", [py("train", resources=FALLBACK)])
    (train,) = bench.running("train")
    assert [g.model for g in bench.runtime.spec(train).gpus] == [A100, A100]
    placement = bench.step("train", "r")["placement"]
    assert (placement["gpus"], placement["gpuMillis"], placement["gpuAlternative"]) == (
        [1, 2],
        2000,
        1,
    )
    assert "MLKUBE_GPU_FRACTION" not in bench.runtime.spec(train).env


def test_the_preferred_alternative_when_it_is_free(tmp_path: Path) -> None:
    bench = mixed_bench(tmp_path)
    submit(bench, "default", "r", [py("train", resources=FALLBACK)])
    (train,) = bench.running("train")
    assert [g.index for g in bench.runtime.spec(train).gpus] == [0]
    assert bench.step("train", "r")["placement"]["gpuAlternative"] == 0


def test_a_waiting_fallback_list_names_each_flavor_short(tmp_path: Path) -> None:
    bench = mixed_bench(tmp_path)
    submit(bench, "default", "r", [py("a", resources=FALLBACK), py("b", resources=FALLBACK)])
    submit(bench, "default", "late", [py("c", resources=FALLBACK)])
    assert bench.phases("late") == {"c": "Waiting"}
    message = bench.step("c", "late")["message"]
    assert "flavor h100 nvidia.com/gpu needs 1, 0 available" in message
    assert "flavor a100 nvidia.com/gpu needs 2, 0 available" in message


def test_quarter_gpus_count_in_thousandths_and_share_one_device(tmp_path: Path) -> None:
    bench = Bench(tmp_path, gpus=(GpuDevice(0, "nvidia", A100, 40 * GiB),))
    bench.store.create(
        "clusterqueues.mlkube.io",
        queue("team", ["default"], [flavor("default", cpu="4", nvidia_gpu="0.5")]),
    )
    quarter: dict[str, Any] = {"resources": {"nvidia.com/gpu": 0.25}}
    submit(bench, "default", "r", [py(f"s{i}", **quarter) for i in range(3)])
    assert bench.phases("r") == {"s0": "Running", "s1": "Running", "s2": "Waiting"}
    assert (
        "nvidia.com/gpu needs 250m, 0 available under the nominal quota"
        in (bench.step("s2", "r")["message"])
    )
    for workload in bench.running():
        spec = bench.runtime.spec(workload)
        assert [g.index for g in spec.gpus] == [0]
        assert spec.env["MLKUBE_GPU_FRACTION"] == "0.25"
        assert "MLKUBE_GPU_MEMORY_BYTES" not in spec.env
    placement = bench.step("s0", "r")["placement"]
    assert (placement["gpus"], placement["gpuMillis"]) == ([0], 250)
    assert "gpuAlternative" not in placement


def test_a_memory_share_is_sized_on_the_device_and_told_to_the_step(tmp_path: Path) -> None:
    bench = Bench(tmp_path, gpus=(GpuDevice(0, "nvidia", A100, 40 * GiB),))
    share: dict[str, Any] = {"resources": {"nvidia.com/gpu": 1, "gpuMemory": "10Gi"}}
    bench.submit([py("a", **share), py("b", **share)])
    for workload in bench.running():
        env = bench.runtime.spec(workload).env
        assert (env["MLKUBE_GPU_FRACTION"], env["MLKUBE_GPU_MEMORY_BYTES"]) == (
            "0.25",
            str(10 * GiB),
        )
    assert bench.step("a")["placement"]["gpuMillis"] == 250


def test_a_fallback_list_no_node_can_hold_is_unschedulable_naming_each(tmp_path: Path) -> None:
    bench = Bench(tmp_path, gpus=(GpuDevice(0, "nvidia", A100, 40 * GiB),))
    bench.submit([py("train", resources=FALLBACK)])
    train = bench.step("train")
    assert (train["phase"], train["reason"]) == ("Failed", "Unschedulable")
    assert "H100 ×1: 0 matching; A100 ×2: 1 matching" in train["message"]  # noqa: RUF001


# -- the quota gate's plain functions ---------------------------------------------------------

NODE = NodeCapacity(
    "n",
    (0, 1),
    8 * GiB,
    (
        GpuSlot(0, "nvidia", H100, 80 * GiB),
        GpuSlot(1, "nvidia", A100, 40 * GiB),
        GpuSlot(2, "nvidia", A100, 40 * GiB),
    ),
)


def config(*flavors: tuple[str, str | None]) -> QueueConfig:
    quota = {
        name: FlavorQuota(ResourceVector({"cpu": 4000, "nvidia.com/gpu": 4000}))
        for name, _ in flavors
    }
    return QueueConfig(
        quotas={"q": QueueQuota("q", quota)},
        queue_of={"team": "q"},
        flavor_order={"q": tuple(name for name, _ in flavors)},
        flavor_model=dict(flavors),
    )


def request(*choices: GpuChoice, cpu: int = 0) -> ResourceRequest:
    return ResourceRequest(cpu_millis=cpu).with_gpus(*choices)


def options(
    cfg: QueueConfig, req: ResourceRequest, node: NodeCapacity | None = NODE
) -> list[tuple[str, dict[str, int]]]:
    return [(o.flavor, dict(o.per_pod)) for o in flavor_options(cfg, "q", req, node=node)]


def test_one_flavor_option_per_alternative_in_the_list_order() -> None:
    cfg = config(("a100", "A100"), ("h100", "H100"), ("any", None))
    req = request(GpuChoice("nvidia", 1, "H100"), GpuChoice("nvidia", 2, "A100"), cpu=1000)
    assert options(cfg, req) == [
        ("h100", {"cpu": 1000, "nvidia.com/gpu": 1000}),
        ("a100", {"cpu": 1000, "nvidia.com/gpu": 2000}),
    ]


def test_an_alternative_the_node_lacks_takes_no_quota() -> None:
    cfg = config(("b200", "B200"), ("a100", "A100"))
    req = request(GpuChoice("nvidia", 1, "B200"), GpuChoice("nvidia", 1, "A100"))
    assert options(cfg, req) == [("a100", {"nvidia.com/gpu": 1000})]
    assert options(cfg, req, node=None) == [
        ("b200", {"nvidia.com/gpu": 1000}),
        ("a100", {"nvidia.com/gpu": 1000}),
    ]


def test_shares_count_their_thousandths() -> None:
    cfg = config(("any", None))
    assert options(cfg, request(GpuChoice("nvidia", 1, None, 250))) == [
        ("any", {"nvidia.com/gpu": 250})
    ]


def test_a_memory_share_is_charged_on_the_smallest_matching_device() -> None:
    share = GpuChoice("nvidia", 1, None, 0, 20 * GiB)
    assert gpu_millis_on(share, NODE) == 500  # the 40Gi A100, so any device granted is covered
    assert gpu_millis_on(share, NODE, "H100") == 250  # a flavor of H100s: the H100's share
    cfg = config(("h100", "H100"), ("a100", "A100"))
    per_flavor = options(cfg, request(GpuChoice("nvidia", 1, None, 0, 20 * GiB)))
    assert per_flavor == [("h100", {"nvidia.com/gpu": 250}), ("a100", {"nvidia.com/gpu": 500})]


def test_what_quota_admitted_is_what_the_node_is_asked_for() -> None:
    cfg = config(("h100", "H100"), ("a100", "A100"))
    req = request(GpuChoice("nvidia", 1, "H100"), GpuChoice("nvidia", 2, "A100"), cpu=500)
    narrowed = admitted_request(cfg, "q", req, "a100", node=NODE)
    assert narrowed.gpu_choices() == (GpuChoice("nvidia", 2, "A100"),)
    assert narrowed.cpu_millis == 500
    # A request without a model takes the flavor's.
    plain = admitted_request(cfg, "q", request(GpuChoice("nvidia", 1)), "h100", node=NODE)
    assert plain.gpu_model == "H100"
