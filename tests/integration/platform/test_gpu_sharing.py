"""Shared GPUs and GPU fallback lists on the real embedded platform (SQLite, local runtime,
HTTP on loopback), with a fake device list: what runs together, and what each step sees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import Invalid
from mlkube.api.meta import parse_time
from mlkube.runtime.base import GpuDevice
from mlkube.runtime.local import LocalRuntime
from mlkube.sdk.client import Client
from mlkube.server.embedded import EmbeddedPlatform
from tests.integration.platform.conftest import run_body, step_of, wait_finished, wait_for

STEPS = str(Path(__file__).with_name("gpu_steps.py"))
A100 = "NVIDIA A100-SXM4-40GB"


def gpu_step(name: str, function: str, resources: dict[str, Any], **inputs: str) -> dict[str, Any]:
    return {
        "name": name,
        "python": {"module": STEPS, "function": function},
        "inputs": [{"name": k, "value": v} for k, v in inputs.items()],
        "resources": resources,
        "cache": False,
    }


def platform_with(tmp_path: Path, gpus: list[GpuDevice]) -> Iterator[Client]:
    plat = EmbeddedPlatform(tmp_path / "data", port=0, runtime=LocalRuntime(gpus=gpus))
    plat.start()
    try:
        with Client(plat.url, plat.admin_token(), ca_data=plat.ca_pem) as client:
            yield client
    finally:
        plat.stop()


@pytest.fixture
def one_a100(tmp_path: Path) -> Iterator[Client]:
    yield from platform_with(tmp_path, [GpuDevice(0, "nvidia", A100, 40 << 30, "GPU-a100-0")])


@pytest.fixture
def two_a100s(tmp_path: Path) -> Iterator[Client]:
    gpus = [GpuDevice(i, "nvidia", A100, 40 << 30, f"GPU-a100-{i}") for i in range(2)]
    yield from platform_with(tmp_path, gpus)


def test_two_halves_share_one_device_and_a_third_waits(one_a100: Client, tmp_path: Path) -> None:
    client = one_a100
    markers, release = tmp_path / "markers", tmp_path / "release"
    markers.mkdir()
    half = {"nvidia.com/gpu": 0.5}
    steps = [
        gpu_step(n, "hold", half, markers=str(markers), step=n, release=str(release))
        for n in ("a", "b", "c")
    ]
    client.create(run_body("halves", steps))
    # a and b hold their halves until released, so both markers mean both run at once.
    wait_for(lambda: {p.name for p in markers.iterdir()} == {"a", "b"}, what="a and b to run")
    run = client.get("pipelineruns", "halves")
    waiting = step_of(run, "c")
    assert waiting["phase"] == "Waiting"
    assert waiting["message"] == (
        "waiting for GPUs: needs 0.5 of one device, the most free on a matching device is 0"
    )
    for name in ("a", "b"):
        placement = step_of(run, name)["placement"]
        assert (placement["gpus"], placement["gpuMillis"]) == ([0], 500)
    release.touch()
    run = wait_finished(client, "halves")
    assert run["status"]["phase"] == "Succeeded"
    for name in ("a", "b", "c"):
        seen = step_of(run, name)["outputs"][0]["value"]
        assert seen == {
            "CUDA_VISIBLE_DEVICES": "GPU-a100-0",
            "MLKUBE_GPU_FRACTION": "0.5",
            "MLKUBE_GPU_MEMORY_BYTES": None,
        }
    # c started only after a or b had finished.
    finished = min(parse_time(step_of(run, n)["finishTime"]) for n in ("a", "b"))
    assert parse_time(step_of(run, "c")["startTime"]) >= finished


def test_h100_else_two_a100s_gets_the_two_a100s(two_a100s: Client) -> None:
    client = two_a100s
    fallback = {"gpuAlternatives": [{"model": "H100", "count": 1}, {"model": "A100", "count": 2}]}
    client.create(run_body("fallback", [gpu_step("train", "gpu_env", fallback)]))
    run = wait_finished(client, "fallback")
    train = step_of(run, "train")
    assert train["phase"] == "Succeeded", train
    assert train["outputs"][0]["value"] == {
        "CUDA_VISIBLE_DEVICES": "GPU-a100-0,GPU-a100-1",
        "MLKUBE_GPU_FRACTION": None,
        "MLKUBE_GPU_MEMORY_BYTES": None,
    }
    assert train["placement"]["gpuAlternative"] == 1
    assert (train["placement"]["gpus"], train["placement"]["gpuMillis"]) == ([0, 1], 2000)


def test_a_memory_share_is_told_to_the_step(one_a100: Client) -> None:
    share = {"nvidia.com/gpu": 1, "gpuMemory": "10Gi"}
    one_a100.create(run_body("memory", [gpu_step("infer", "gpu_env", share)]))
    infer = step_of(wait_finished(one_a100, "memory"), "infer")
    assert infer["outputs"][0]["value"] == {
        "CUDA_VISIBLE_DEVICES": "GPU-a100-0",
        "MLKUBE_GPU_FRACTION": "0.25",
        "MLKUBE_GPU_MEMORY_BYTES": str(10 << 30),
    }


def test_a_fallback_list_the_node_cannot_hold_is_refused_naming_each(one_a100: Client) -> None:
    fallback = {"gpuAlternatives": [{"model": "H100", "count": 1}, {"model": "A100", "count": 2}]}
    with pytest.raises(Invalid) as info:
        one_a100.create(run_body("never", [gpu_step("train", "gpu_env", fallback)]))
    (cause,) = info.value.causes
    assert cause.field == "spec.pipelineSpec.steps[0].resources"
    assert "can hold none of them (H100 ×1: 0 matching; A100 ×2: 1 matching)" in cause.message  # noqa: RUF001
