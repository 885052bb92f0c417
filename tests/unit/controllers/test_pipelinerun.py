"""The PipelineRun controller over plain data: fake runtime, in-memory store, fake clock."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import Conflict, NotFound
from mlkube.runtime.base import GpuDevice
from mlkube.testing.clock import FakeClock
from mlkube.testing.memory_store import MemoryStore
from tests.unit.controllers.harness import RUNS, Bench, py


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return Bench(tmp_path)


def test_outputs_flow_along_a_chain(bench: Bench) -> None:
    bench.submit(
        [
            py("a", "add", inputs=[{"name": "a", "value": 1}, {"name": "b", "value": 2}]),
            py("b", "add", inputs=[{"name": "a", "fromStep": "a"}, {"name": "b", "value": 10}]),
        ]
    )
    assert bench.phases() == {"a": "Running", "b": "Pending"}
    (first,) = bench.running()
    assert bench.invocation(first)["inputs"] == {"a": {"value": 1}, "b": {"value": 2}}
    bench.complete(first, output=3)
    (second,) = bench.running()
    assert bench.invocation(second)["inputs"]["a"] == {"value": 3}
    bench.complete(second, output=13)
    run = bench.run()
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["conditions"][0]["reason"] == "Succeeded"
    assert bench.step("b")["outputs"] == [{"name": "output", "value": 13}]
    assert "mlkube.io/pipelinerun" in run["metadata"]["finalizers"]


def test_reconcile_is_idempotent(bench: Bench) -> None:
    bench.submit([py("a")])
    rv = bench.run()["metadata"]["resourceVersion"]
    launched = len(bench.runtime.launched)
    bench.manager.queue.add("pipelinerun:default/r1")
    bench.settle()
    assert bench.run()["metadata"]["resourceVersion"] == rv
    assert len(bench.runtime.launched) == launched


def test_steps_wait_for_cpus_in_order_and_are_pinned(tmp_path: Path) -> None:
    bench = Bench(tmp_path, cpus=(0, 1))
    one = {"resources": {"cpu": "1", "memory": "1Gi"}}
    bench.submit([py("a", **one), py("b", **one), py("c", **one)])
    assert bench.phases() == {"a": "Running", "b": "Running", "c": "Waiting"}
    assert "waiting for CPU: needs 1, 0 free" in bench.step("c")["message"]
    a, b = bench.running()
    assert bench.runtime.spec(a).cpus == (0,)
    assert bench.runtime.spec(b).cpus == (1,)
    assert bench.runtime.spec(a).memory_limit_bytes == 2**30
    bench.complete(a)
    (c,) = bench.running("c")
    assert bench.runtime.spec(c).cpus == (0,)
    assert bench.step("c")["placement"]["cpus"] == [0]


def test_waiting_steps_of_an_older_run_go_first(tmp_path: Path) -> None:
    bench = Bench(tmp_path, cpus=(0,))
    one = {"resources": {"cpu": "1"}}
    bench.submit([py("a", **one), py("b", **one)], name="old")
    bench.clock.advance(1)
    bench.submit([py("x", **one)], name="new")
    (a,) = bench.running()
    bench.complete(a)
    assert bench.phases("old")["b"] == "Running"
    assert bench.phases("new")["x"] == "Waiting"


def test_a_step_that_can_never_fit_is_unschedulable_and_downstream_skipped(bench: Bench) -> None:
    bench.submit([py("big", resources={"cpu": "64"}), py("after", dependsOn=["big"])])
    big = bench.step("big")
    assert (big["phase"], big["reason"]) == ("Failed", "Unschedulable")
    assert "requests cpu 64 but node fake-node has 4 CPUs" in big["message"]
    after = bench.step("after")
    assert (after["phase"], after["reason"]) == ("Skipped", "UpstreamFailed")
    assert bench.run()["status"]["phase"] == "Failed"
    assert bench.runtime.launched == []


def test_failure_skips_downstream_with_reason(bench: Bench) -> None:
    bench.submit([py("a"), py("b", dependsOn=["a"]), py("c", dependsOn=["b"]), py("d")])
    a, d = bench.running()
    bench.fail(a, "bad data")
    bench.complete(d)
    assert bench.step("a")["message"] == "RuntimeError: bad data"
    assert bench.step("b")["message"] == "upstream step 'a' failed"
    assert bench.step("c")["message"] == "upstream step 'b' was skipped"
    assert bench.phases()["d"] == "Succeeded"
    status = bench.run()["status"]
    assert status["phase"] == "Failed"
    assert "step a failed (Error: RuntimeError: bad data)" in status["conditions"][0]["message"]


def test_retries_with_exponential_backoff(bench: Bench) -> None:
    bench.submit([py("a", retries={"limit": 2, "backoffSeconds": 10})])
    bench.fail(bench.running()[0])
    step = bench.step("a")
    assert (step["phase"], step["reason"]) == ("Retrying", "Error")
    assert "retry 1 of 2 in 10s" in step["message"]
    bench.advance(9)
    assert bench.running() == []
    bench.advance(1)
    (second,) = bench.running()
    assert second.endswith("/a/2")
    bench.fail(second)
    bench.advance(19)
    assert bench.running() == []
    bench.advance(1)
    bench.fail(bench.running()[0])
    step = bench.step("a")
    assert (step["phase"], step["attempts"]) == ("Failed", 3)


def test_timeout_stops_the_step(bench: Bench) -> None:
    bench.submit([py("slow", timeoutSeconds=5)])
    (wid,) = bench.running()
    bench.advance(4)
    assert bench.runtime.stops == []
    bench.advance(1)
    assert bench.runtime.stops == [(wid, 5.0)]
    step = bench.step("slow")
    assert (step["phase"], step["reason"]) == ("Failed", "DeadlineExceeded")
    assert "timeoutSeconds=5" in step["message"]


def test_out_of_memory_is_reported(bench: Bench) -> None:
    bench.submit([py("hog", resources={"memory": "64Mi"})])
    bench.fail(
        bench.running()[0],
        reason="OOMKilled",
        signal=9,
        exit_code=None,
        message="memory limit 64Mi exceeded",
    )
    step = bench.step("hog")
    assert (step["phase"], step["reason"]) == ("Failed", "OOMKilled")
    assert step["message"] == "memory limit 64Mi exceeded"


def test_delete_stops_running_steps_then_removes_the_run(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    bench.submit([py("a"), py("b")])
    running = bench.running()
    bench.store.delete(RUNS, "default", "r1")
    bench.manager.queue.add("pipelinerun:default/r1")
    bench.settle()
    assert sorted(i for i, _ in bench.runtime.stops) == running
    with pytest.raises(NotFound):
        bench.run()
    assert not bench.data.run_dir("default", "r1").exists()


def test_identical_steps_are_cached_and_opt_out_works(bench: Bench) -> None:
    steps = [py("a", "add", inputs=[{"name": "a", "value": 1}, {"name": "b", "value": 1}])]
    bench.submit(steps, name="first")
    bench.complete(bench.running()[0], output=2)
    bench.submit(steps, name="second")
    step = bench.step("a", run="second")
    assert (step["phase"], step["reason"], step["cached"]) == ("Succeeded", "Cached", True)
    assert step["outputs"] == [{"name": "output", "value": 2}]
    assert bench.run("second")["status"]["phase"] == "Succeeded"
    bench.submit(steps, name="third", cache=False)
    assert bench.phases("third") == {"a": "Running"}
    no_cache_step = [{**steps[0], "cache": False}]
    bench.submit(no_cache_step, name="fourth")
    assert bench.phases("fourth") == {"a": "Running"}


def test_changed_inputs_miss_the_cache(bench: Bench) -> None:
    bench.submit([py("a", "echo", inputs=[{"name": "value", "value": 1}])], name="one")
    bench.complete(bench.running()[0], output=1)
    bench.submit([py("a", "echo", inputs=[{"name": "value", "value": 2}])], name="two")
    assert bench.phases("two") == {"a": "Running"}


def test_restart_resumes_without_rerunning_finished_steps(tmp_path: Path) -> None:
    first = Bench(tmp_path)
    first.submit([py("a"), py("b", dependsOn=["a"]), py("c", dependsOn=["a"])], cache=False)
    first.complete(first.running()[0])
    b, c = first.running()
    # c finished its work and wrote its result just before the platform died.
    Path(first.invocation(c)["resultPath"]).write_text(
        '{"outputs": [{"name": "output", "value": 7}]}'
    )
    # A new process: same store and data, a fresh runtime that runs nothing.
    second = Bench(tmp_path, store=first.store, clock=first.clock)
    second.manager.resync()
    second.settle()
    assert second.step("a")["attempts"] == 1
    assert second.step("c")["phase"] == "Succeeded"
    assert second.step("c")["outputs"] == [{"name": "output", "value": 7}]
    b_status = second.step("b")
    assert (b_status["phase"], b_status["attempts"]) == ("Running", 1)
    assert second.running() == [b]
    second.complete(b)
    assert second.run()["status"]["phase"] == "Succeeded"


def test_gpus_are_granted_by_model(tmp_path: Path) -> None:
    gpus = (
        GpuDevice(0, "nvidia", "NVIDIA T4", 16 << 30),
        GpuDevice(1, "nvidia", "NVIDIA A100-SXM4-80GB", 80 << 30),
        GpuDevice(2, "amd", "AMD Instinct MI300X", 192 << 30),
    )
    bench = Bench(tmp_path, gpus=gpus)
    bench.submit(
        [
            py("a100", resources={"nvidia.com/gpu": 1, "gpuModel": "A100"}),
            py("amd", resources={"amd.com/gpu": 1}),
            py("two", resources={"nvidia.com/gpu": 2}),
        ]
    )
    a100, amd = bench.running()
    assert [g.index for g in bench.runtime.spec(a100).gpus] == [1]
    assert [g.vendor for g in bench.runtime.spec(amd).gpus] == ["amd"]
    assert "waiting for GPUs: needs 2, 1 matching free" in bench.step("two")["message"]
    bench.complete(a100)
    (two,) = bench.running("two")
    assert [g.index for g in bench.runtime.spec(two).gpus] == [0, 1]


def test_missing_pipeline_ref_fails_the_run(bench: Bench) -> None:
    bench.store.create(
        RUNS,
        {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": "orphan", "namespace": "default"},
            "spec": {"pipelineRef": {"name": "nope"}},
        },
    )
    bench.manager.queue.add("pipelinerun:default/orphan")
    bench.settle()
    status = bench.run("orphan")["status"]
    assert status["phase"] == "Failed"
    assert status["conditions"][0]["reason"] == "PipelineNotFound"


def test_a_stored_pipeline_runs_by_reference(bench: Bench) -> None:
    bench.store.create(
        "pipelines.mlkube.io",
        {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "Pipeline",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "params": [{"name": "x", "default": 5}],
                "steps": [py("a", "echo", inputs=[{"name": "value", "param": "x"}])],
            },
        },
    )
    bench.store.create(
        RUNS,
        {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": "byref", "namespace": "default"},
            "spec": {"pipelineRef": {"name": "p"}, "params": [{"name": "x", "value": 9}]},
        },
    )
    bench.manager.queue.add("pipelinerun:default/byref")
    bench.settle()
    (wid,) = bench.running()
    assert bench.invocation(wid)["inputs"] == {"value": {"value": 9}}


def test_namespace_deletion_deletes_its_runs(bench: Bench) -> None:
    bench.submit([py("a")])
    ns = bench.store.get("namespaces", "", "default")
    ns["metadata"]["finalizers"] = ["mlkube.io/namespace"]
    bench.store.update("namespaces", ns)
    bench.store.delete("namespaces", "", "default")
    bench.manager.queue.add("namespace:default")
    bench.settle()
    bench.manager.queue.add("namespace:default")
    bench.settle()
    with pytest.raises(NotFound):
        bench.run()
    with pytest.raises(NotFound):
        bench.store.get("namespaces", "", "default")


def test_the_node_reports_capacity_and_what_is_allocated(tmp_path: Path) -> None:
    bench = Bench(tmp_path, cpus=(0, 1), gpus=(GpuDevice(0, "nvidia", "NVIDIA T4", 16 << 30),))
    gpu_step = {"resources": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 1}}
    bench.submit([py("a", **gpu_step), py("b", resources={"cpu": "2"})])
    bench.advance(1)  # node status trails allocations by up to half a second
    status = bench.store.get("nodes", "", "fake-node")["status"]
    assert status["capacity"] == {"cpu": "2", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert status["allocated"] == {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}
    assert (status["running"], status["waiting"]) == (1, 1)
    assert status["gpus"][0]["allocated"] is True
    bench.complete(bench.running()[0])
    bench.complete(bench.running()[0])
    bench.advance(1)
    status = bench.store.get("nodes", "", "fake-node")["status"]
    assert status["allocated"] == {"cpu": "0", "memory": "0", "nvidia.com/gpu": "0"}


def test_the_node_counts_shared_gpus_by_their_share(tmp_path: Path) -> None:
    bench = Bench(tmp_path, cpus=(0, 1), gpus=(GpuDevice(0, "nvidia", "NVIDIA T4", 16 << 30),))
    quarter = {"resources": {"nvidia.com/gpu": 0.25}}
    bench.submit([py("a", **quarter), py("b", **quarter)])
    bench.advance(1)
    status = bench.store.get("nodes", "", "fake-node")["status"]
    assert status["allocated"]["nvidia.com/gpu"] == "500m"
    assert (status["gpus"][0]["allocated"], status["gpus"][0]["allocatedShare"]) == (True, "0.5")


class ConflictingStore(MemoryStore):
    """A store where someone else writes first, once, when armed (a real race, replayed)."""

    armed = False

    def update_status(self, resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        if self.armed:
            self.armed = False
            raise Conflict("the object has been modified", kind="PipelineRun")
        return super().update_status(resource, obj)


def test_an_exit_survives_a_write_conflict(tmp_path: Path) -> None:
    clock = FakeClock()
    store = ConflictingStore(clock=clock)
    store.create(
        "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    )
    bench = Bench(tmp_path, store=store, clock=clock)
    bench.submit([py("a", retries={"limit": 0})])
    (wid,) = bench.running()
    store.armed = True
    bench.fail(wid, "real failure")  # the first write of this failure conflicts
    step = bench.step("a")
    assert (step["phase"], step["reason"], step["attempts"]) == ("Failed", "Error", 1)
    assert step["message"] == "RuntimeError: real failure"
