"""Team quotas in the controller: ClusterQueues gate what starts, borrow, reclaim, preempt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlkube.runtime.base import GpuDevice
from tests.unit.controllers.harness import Bench, py

CPU1 = {"resources": {"cpu": "1"}}


def queue(
    name: str, namespaces: list[str], flavors: list[dict[str, Any]], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {"namespaces": namespaces, "resourceGroups": [{"flavors": flavors}], **spec},
    }


def flavor(name: str, **nominal: str) -> dict[str, Any]:
    names = {"nvidia_gpu": "nvidia.com/gpu"}
    resources = [{"name": names.get(k, k), "nominalQuota": v} for k, v in nominal.items()]
    return {"name": name, "resources": resources}


def namespace(bench: Bench, name: str) -> None:
    bench.store.create(
        "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )


def submit(bench: Bench, ns: str, name: str, steps: list[dict[str, Any]], **spec: Any) -> None:
    bench.store.create(
        "pipelineruns.mlkube.io",
        {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"pipelineSpec": {"steps": steps}, "cache": False, **spec},
        },
    )
    bench.clock.advance(1)
    bench.settle()


def test_a_team_runs_within_its_quota(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.store.create(
        "clusterqueues.mlkube.io", queue("team", ["default"], [flavor("default", cpu="2")])
    )
    submit(bench, "default", "r", [py("a", **CPU1), py("b", **CPU1), py("c", **CPU1)])
    assert bench.phases("r") == {"a": "Running", "b": "Running", "c": "Waiting"}
    message = bench.step("c", "r")["message"]
    assert message.startswith("quota: position 1 in queue team")
    assert "flavor default cpu needs 1, 0 available under the nominal quota (short by 1)" in message
    bench.complete(bench.running()[0])
    assert bench.phases("r")["c"] == "Running"


def test_borrowing_then_reclaim_preempts_the_borrower(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    for ns in ("a", "b"):
        namespace(bench, ns)
    bench.store.create(
        "clusterqueues.mlkube.io", queue("qa", ["a"], [flavor("default", cpu="1")], cohort="c")
    )
    bench.store.create(
        "clusterqueues.mlkube.io", queue("qb", ["b"], [flavor("default", cpu="3")], cohort="c")
    )
    submit(bench, "a", "greedy", [py(f"s{i}", **CPU1) for i in range(3)])
    assert bench.phases("greedy", namespace="a") == {
        "s0": "Running",
        "s1": "Running",
        "s2": "Running",
    }
    submit(bench, "b", "owner", [py("x", **CPU1), py("y", **CPU1)])
    owner = bench.phases("owner", namespace="b")
    assert owner == {"x": "Running", "y": "Running"}
    # The cohort has 4 CPUs: b takes back one of the two a borrowed, the youngest.
    assert bench.phases("greedy", namespace="a") == {
        "s0": "Running",
        "s1": "Running",
        "s2": "Waiting",
    }
    greedy = bench.step("s2", "greedy", namespace="a")
    assert greedy["reason"] == "Preempted"
    assert "cohort c capacity (short by 1)" in greedy["message"]  # what it waits for now
    assert any(grace == 5.0 for _, grace in bench.runtime.stops)  # SIGTERM with a grace period
    assert bench.step("s2", "greedy", namespace="a")["attempts"] == 0  # preemption is not a failure
    assert bench.manager.runs.queue.preempting == {}  # forgotten once the victim exited


def test_higher_priority_preempts_lower_within_a_queue(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.store.create(
        "priorityclasses.scheduling.k8s.io",
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "urgent"},
            "value": 1000,
        },
    )
    bench.store.create(
        "clusterqueues.mlkube.io", queue("team", ["default"], [flavor("default", cpu="1")])
    )
    submit(bench, "default", "batch", [py("slow", **CPU1)])
    assert bench.phases("batch") == {"slow": "Running"}
    submit(bench, "default", "hotfix", [py("fast", **CPU1)], priorityClassName="urgent")
    assert bench.phases("hotfix") == {"fast": "Running"}
    slow = bench.step("slow", "batch")
    assert (slow["phase"], slow["reason"]) == ("Waiting", "Preempted")
    assert slow["message"].startswith("quota: position 1 in queue team")
    assert bench.run("hotfix")["status"]["priority"] == 1000


def test_an_unknown_priority_class_fails_the_run(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    submit(bench, "default", "r", [py("a")], priorityClassName="nope")
    status = bench.run("r")["status"]
    assert status["phase"] == "Failed"
    assert status["conditions"][0]["reason"] == "PriorityClassNotFound"


def test_gpu_flavors_fall_back_and_pick_the_model(tmp_path: Path) -> None:
    gpus = (
        GpuDevice(0, "nvidia", "NVIDIA H100 80GB HBM3", 80 << 30),
        GpuDevice(1, "nvidia", "NVIDIA A100-SXM4-40GB", 40 << 30),
        GpuDevice(2, "nvidia", "NVIDIA A100-SXM4-40GB", 40 << 30),
    )
    bench = Bench(tmp_path, gpus=gpus)
    for name, model in (("h100", "H100"), ("a100", "A100")):
        bench.store.create(
            "resourceflavors.mlkube.io",
            {
                "apiVersion": "mlkube.io/v1alpha1",
                "kind": "ResourceFlavor",
                "metadata": {"name": name},
                "spec": {"gpuModel": model},
            },
        )
    bench.store.create(
        "clusterqueues.mlkube.io",
        queue(
            "team",
            ["default"],
            [
                flavor("h100", cpu="4", nvidia_gpu="1"),
                flavor("a100", cpu="4", nvidia_gpu="2"),
            ],
        ),
    )
    one_gpu = {"resources": {"nvidia.com/gpu": 1}}
    submit(bench, "default", "r", [py("first", **one_gpu), py("second", **one_gpu)])
    first, second = bench.running()
    assert [g.index for g in bench.runtime.spec(first).gpus] == [0]
    assert [g.model for g in bench.runtime.spec(second).gpus] == ["NVIDIA A100-SXM4-40GB"]


def test_a_step_no_flavor_can_hold_is_unschedulable(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.store.create(
        "clusterqueues.mlkube.io", queue("team", ["default"], [flavor("default", cpu="2")])
    )
    submit(bench, "default", "r", [py("gpu", resources={"amd.com/gpu": 1})])
    gpu = bench.step("gpu", "r")
    assert (gpu["phase"], gpu["reason"]) == ("Failed", "Unschedulable")
    assert "ClusterQueue team has no flavor" in gpu["message"]


def test_the_unschedulable_reason_names_every_alternative(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.store.create(
        "clusterqueues.mlkube.io", queue("team", ["default"], [flavor("default", cpu="2")])
    )
    alternatives = [{"model": "H100", "count": 1}, {"model": "A100", "count": 2}]
    submit(bench, "default", "r", [py("gpu", resources={"gpuAlternatives": alternatives})])
    gpu = bench.step("gpu", "r")
    assert (gpu["phase"], gpu["reason"]) == ("Failed", "Unschedulable")
    assert "no flavor that covers this step's requests of model 'H100' or 'A100'" in gpu["message"]


def test_unqueued_namespaces_are_not_limited(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    namespace(bench, "free")
    bench.store.create(
        "clusterqueues.mlkube.io", queue("team", ["default"], [flavor("default", cpu="1")])
    )
    submit(bench, "free", "r", [py("a", **CPU1), py("b", **CPU1), py("c", **CPU1)])
    assert set(bench.phases("r", namespace="free").values()) == {"Running"}


def test_queue_status_shows_usage_and_pending(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.store.create(
        "clusterqueues.mlkube.io", queue("team", ["default"], [flavor("default", cpu="2")])
    )
    submit(bench, "default", "r", [py("a", **CPU1), py("b", **CPU1), py("c", **CPU1)])
    bench.advance(1)  # queue status trails allocations by up to half a second
    status = bench.store.get("clusterqueues.mlkube.io", "", "team")["status"]
    assert (status["admittedWorkloads"], status["pendingWorkloads"]) == (2, 1)
    assert status["flavorsUsage"] == [
        {"name": "default", "resources": {"cpu": "2"}, "borrowed": {}}
    ]


def test_raising_a_quota_starts_what_waited(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.store.create(
        "clusterqueues.mlkube.io", queue("team", ["default"], [flavor("default", cpu="1")])
    )
    submit(bench, "default", "r", [py("a", **CPU1), py("b", **CPU1)])
    assert bench.phases("r") == {"a": "Running", "b": "Waiting"}
    raised = bench.store.get("clusterqueues.mlkube.io", "", "team")
    raised["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "2"
    bench.store.update("clusterqueues.mlkube.io", raised)
    bench.settle()
    assert bench.phases("r") == {"a": "Running", "b": "Running"}
