"""The KubernetesRuntime's pure parts: the pod a workload becomes, what a pod's end means,
and the cluster summed into one node."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from mlkube.runtime.base import GpuDevice, PythonTarget, WorkloadExit, WorkloadSpec
from mlkube.runtime.kubernetes import ClusterSettings
from mlkube.runtime.kubernetes.cluster_node import cluster_node
from mlkube.runtime.kubernetes.pod_exits import pod_exit
from mlkube.runtime.kubernetes.workload_pod import (
    WORKLOAD_ANNOTATION,
    WORKLOAD_LABEL,
    pod_name,
    workload_id_of,
    workload_pod,
)

SETTINGS = ClusterSettings(image="registry.example/mlkube:1")
A100 = "NVIDIA-A100-SXM4-80GB"


def spec(workload_id: str = "team-a/train/5f0c1f7e/fit/1", **fields: Any) -> WorkloadSpec:
    fields.setdefault("python", PythonTarget("mlkube.executor.step", "run", ("/d/inv.json",)))
    return WorkloadSpec(workload_id, env={"A": "1"}, cwd="/d", log_path="/d/log", **fields)


def test_a_python_target_runs_the_entry_point_with_its_resources() -> None:
    gpus = (GpuDevice(0, "nvidia", A100, 80 << 30), GpuDevice(1, "nvidia", A100, 80 << 30))
    pod = workload_pod(spec(cpus=(0, 1), memory_limit_bytes=4 << 30, gpus=gpus), "team-a", SETTINGS)
    main = pod["spec"]["containers"][0]
    assert main["command"] == [
        "python",
        "-m",
        "mlkube.runtime.local.entry",
        "mlkube.executor.step",
        "run",
        "/d/inv.json",
    ]
    assert main["workingDir"] == "/d"
    assert main["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "2"},
    }
    env = {e["name"]: e["value"] for e in main["env"]}
    assert env["A"] == "1" and env["MLKUBE_WORKLOAD_ID"] == "team-a/train/5f0c1f7e/fit/1"
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": A100}
    assert pod["spec"]["restartPolicy"] == "Never"
    meta = pod["metadata"]
    assert meta["name"] == "team-a-train-5f0c1f7e-fit-1" == meta["labels"][WORKLOAD_LABEL]
    assert meta["namespace"] == "team-a"
    assert workload_id_of(pod) == "team-a/train/5f0c1f7e/fit/1"
    assert meta["annotations"] == {WORKLOAD_ANNOTATION: "team-a/train/5f0c1f7e/fit/1"}


def test_a_command_without_requests_gets_the_default_requests_and_no_limits() -> None:
    pod = workload_pod(spec(python=None, command=("sh", "-c", "exit 3")), "ns", SETTINGS)
    main = pod["spec"]["containers"][0]
    assert main["command"] == ["sh", "-c", "exit 3"]
    assert main["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}}
    assert "nodeSelector" not in pod["spec"]


def test_a_gpu_share_asks_for_one_shared_gpu_and_keeps_its_fraction() -> None:
    shared = WorkloadSpec(
        "ns/r/u/s/1",
        command=("true",),
        env={"MLKUBE_GPU_FRACTION": "0.25"},
        cwd="/",
        log_path="/log",
        gpus=(GpuDevice(3, "nvidia", A100, 80 << 30),),
    )
    main = workload_pod(shared, "ns", SETTINGS)["spec"]["containers"][0]
    assert main["resources"]["limits"] == {"nvidia.com/gpu.shared": "1"}
    assert {e["name"]: e["value"] for e in main["env"]}["MLKUBE_GPU_FRACTION"] == "0.25"


def test_long_ids_become_valid_names_that_still_differ() -> None:
    long_run = "nightly-retraining-of-the-recommendation-model-for-the-europe-region.v2"
    first, second = pod_name(f"ns/{long_run}/u/s/1"), pod_name(f"ns/{long_run}/u/s/2")
    assert len(first) <= 63 and first != second
    assert workload_id_of({"metadata": {}}) is None


@pytest.mark.parametrize("version", ["1.29", kubernetes_validate.latest_version()])
def test_the_pods_validate_against_upstream_schemas(version: str) -> None:
    gpus = (GpuDevice(0, "nvidia", A100, 0),)
    for workload in (spec(cpus=(0,), gpus=gpus), spec(python=None, command=("true",))):
        kubernetes_validate.validate(workload_pod(workload, "ns", SETTINGS), version, strict=True)


def test_mixed_gpu_vendors_cannot_be_expressed() -> None:
    gpus = (GpuDevice(0, "nvidia", "x", 0), GpuDevice(1, "amd", "y", 0))
    with pytest.raises(ValueError, match="gpus: one workload cannot mix vendors"):
        workload_pod(spec(gpus=gpus), "ns", SETTINGS)


def _pod(phase: str, state: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    container = [{"name": "workload", "state": state}] if state else []
    return {
        "metadata": {"name": "p"},
        "status": {"phase": phase, "containerStatuses": container, **status},
    }


def _terminated(code: int, reason: str, message: str = "") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason, "message": message}}


EXITS: list[tuple[str, dict[str, Any], bool, bool, tuple[Any, ...] | None]] = [
    # (case, pod, deleted, stopped, (reason, exit code, message) or None while it runs)
    ("running", _pod("Running", {"running": {}}), False, False, None),
    ("pending", _pod("Pending"), False, False, None),
    (
        "completed",
        _pod("Succeeded", _terminated(0, "Completed")),
        False,
        False,
        ("Completed", 0, "exit code 0"),
    ),
    ("error", _pod("Failed", _terminated(3, "Error")), False, False, ("Error", 3, "exit code 3")),
    (
        "oom",
        _pod("Failed", _terminated(137, "OOMKilled")),
        False,
        False,
        ("OOMKilled", 137, "memory limit exceeded (container OOMKilled)"),
    ),
    (
        "stopped and gone",
        _pod("Running", {"running": {}}),
        True,
        True,
        ("Killed", None, "stopped (pod deleted)"),
    ),
    (
        "stopped, exit seen",
        _pod("Failed", _terminated(143, "Error")),
        False,
        True,
        ("Killed", 143, "stopped (exit code 143)"),
    ),
    (
        "never ran",
        _pod("Failed", _terminated(128, "StartError", "no such file")),
        False,
        False,
        ("LaunchFailed", None, "the pod's container did not start: no such file"),
    ),
    (
        "evicted",
        _pod("Failed", reason="Evicted", message="low on memory"),
        False,
        False,
        ("Killed", None, "Evicted: low on memory"),
    ),
    (
        "deleted by someone",
        _pod("Running", {"running": {}}),
        True,
        False,
        ("Killed", None, "the pod was deleted by someone else"),
    ),
]


@pytest.mark.parametrize(
    ("pod", "deleted", "stopped", "expected"), [c[1:] for c in EXITS], ids=[c[0] for c in EXITS]
)
def test_what_a_pods_end_means(
    pod: dict[str, Any], deleted: bool, stopped: bool, expected: tuple[Any, ...] | None
) -> None:
    found = pod_exit("w", pod, deleted=deleted, stopped=stopped, finished_at=5.0)
    if expected is None:
        assert found is None
        return
    reason, code, message = expected
    assert found == WorkloadExit("w", code, None, reason, message, 5.0)


def _node(
    name: str, allocatable: dict[str, str], *, ready: str = "True", **extra: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": extra.pop("labels", {})},
        "spec": extra,
        "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": ready}]},
    }


def test_the_cluster_is_the_sum_of_its_schedulable_ready_nodes() -> None:
    gpu_labels = {"nvidia.com/gpu.product": A100, "nvidia.com/gpu.memory": "81920"}
    nodes = [
        _node("gpu", {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}, labels=gpu_labels),
        _node("cpu", {"cpu": "3500m", "memory": "8Gi", "amd.com/gpu": "1"}),
        _node("cordoned", {"cpu": "64", "memory": "1Ti"}, unschedulable=True),
        _node("broken", {"cpu": "64", "memory": "1Ti"}, ready="False"),
        _node("garbage", {"cpu": "lots", "memory": "1Gi"}),
    ]
    info = cluster_node(nodes)
    assert info.name == "cluster"
    assert info.cpus == tuple(range(11))  # 8 + 3 whole cores (3500m keeps 3)
    assert info.memory_bytes == 41 << 30
    assert info.gpus == (
        GpuDevice(0, "nvidia", A100, 80 << 30),
        GpuDevice(1, "nvidia", A100, 80 << 30),
        GpuDevice(2, "amd", "", 0),
    )
