"""KubernetesRuntime against the fake cluster: real pods, run by the fake kubelet as local
processes, seen through the official client only."""

from __future__ import annotations

import time
from pathlib import Path

from kubernetes import client

from mlkube.runtime.base import GpuDevice, PythonTarget, WorkloadSpec
from mlkube.runtime.kubernetes.runtime import KubernetesRuntime
from mlkube.runtime.kubernetes.workload_pod import WORKLOAD_LABEL, pod_name
from tests.integration.operator.conftest import A100, Exits
from tests.integration.platform.conftest import wait_for


def command(tmp_path: Path, workload_id: str, *words: str, **fields: object) -> WorkloadSpec:
    return WorkloadSpec(
        workload_id,
        command=words,
        env={"GREETING": "hello"},
        cwd=str(tmp_path),
        log_path=str(tmp_path / f"{workload_id.replace('/', '_')}.log"),
        **fields,  # type: ignore[arg-type]
    )


def our_pods(api: client.ApiClient) -> list[client.V1Pod]:
    pods = client.CoreV1Api(api).list_pod_for_all_namespaces(label_selector=WORKLOAD_LABEL)
    return list(pods.items)


def settle() -> None:
    """Long enough for a second, wrong delivery of an exit to show up."""
    time.sleep(0.5)


def test_a_command_runs_in_a_pod_and_its_exit_arrives_once(
    runtime: KubernetesRuntime, exits: Exits, api: client.ApiClient, tmp_path: Path
) -> None:
    spec = command(
        tmp_path, "default/r/u/ok/1", "sh", "-c", "echo $GREETING from $MLKUBE_WORKLOAD_ID"
    )
    assert runtime.launch(spec) == 0
    assert runtime.launch(spec) == 0  # idempotent: still one pod
    assert runtime.running() == {spec.id}
    wait_for(lambda: exits.of(spec.id), what="the exit")
    settle()
    [done] = exits.of(spec.id)
    assert (done.reason, done.exit_code, done.message) == ("Completed", 0, "exit code 0")
    assert runtime.running() == set()
    assert Path(spec.log_path).read_text() == "hello from default/r/u/ok/1\n"
    assert [p.metadata.name for p in our_pods(api)] == [pod_name(spec.id)]
    runtime.forget(spec.id)
    wait_for(lambda: not our_pods(api), what="the finished pod to be deleted")
    assert runtime.usage(spec.id) is None


def test_a_failing_python_target_gives_error_with_its_exit_code(
    runtime: KubernetesRuntime, exits: Exits, tmp_path: Path
) -> None:
    spec = WorkloadSpec(
        "default/r/u/boom/1",
        python=PythonTarget("mlkube.testing.steps", "fail", ("no such column",)),
        env={},
        cwd=str(tmp_path),
        log_path=str(tmp_path / "boom.log"),
    )
    runtime.start(spec)
    wait_for(lambda: exits.of(spec.id), what="the exit")
    settle()
    [failed] = exits.of(spec.id)
    assert (failed.reason, failed.exit_code) == ("Error", 1)
    assert "RuntimeError: no such column" in Path(spec.log_path).read_text()


def test_stop_deletes_the_pod_and_reports_killed(
    runtime: KubernetesRuntime, exits: Exits, api: client.ApiClient, tmp_path: Path
) -> None:
    spec = command(tmp_path, "default/r/u/nap/1", "sleep", "60")
    runtime.start(spec)
    wait_for(
        lambda: [p for p in our_pods(api) if p.status.phase == "Running"], what="the pod to run"
    )
    runtime.stop(spec.id, grace_seconds=1)
    wait_for(lambda: exits.of(spec.id), timeout=15, what="the exit")
    settle()
    [killed] = exits.of(spec.id)
    assert killed.reason == "Killed"
    assert killed.message.startswith("stopped")
    assert our_pods(api) == []
    runtime.stop(spec.id, grace_seconds=1)  # a finished id: nothing happens
    settle()
    assert len(exits.of(spec.id)) == 1


def test_a_stop_before_the_pod_exists_creates_nothing(
    runtime: KubernetesRuntime, exits: Exits, api: client.ApiClient, tmp_path: Path
) -> None:
    specs = [command(tmp_path, f"default/r/u/s{i}/1", "sleep", "60") for i in range(5)]
    for spec in specs:
        runtime.start(spec)
        runtime.stop(spec.id, grace_seconds=1)
    wait_for(lambda: len(exits) == len(specs), timeout=15, what="every exit")
    settle()
    assert sorted(e.id for e in exits) == sorted(s.id for s in specs)
    assert {e.reason for e in exits} == {"Killed"}
    wait_for(lambda: not our_pods(api), timeout=15, what="no pods left")


def test_a_pod_the_cluster_refuses_is_a_launch_failure(
    runtime: KubernetesRuntime, exits: Exits, tmp_path: Path
) -> None:
    spec = command(tmp_path, "no-such-namespace/r/u/s/1", "true")
    runtime.start(spec)
    wait_for(lambda: exits.of(spec.id), what="the exit")
    [failed] = exits.of(spec.id)
    assert failed.reason == "LaunchFailed"
    assert failed.message.startswith("cannot create pod no-such-namespace/")


def test_gpus_become_a_device_count_on_the_node_of_that_model(
    runtime: KubernetesRuntime, exits: Exits, api: client.ApiClient, tmp_path: Path
) -> None:
    devices = runtime.node().gpus[:2]
    spec = command(tmp_path, "default/r/u/gpu/1", "true", cpus=(0,), gpus=devices)
    runtime.start(spec)
    wait_for(lambda: exits.of(spec.id), what="the exit")
    [pod] = our_pods(api)
    assert pod.spec.node_name == "gpu-1"
    assert pod.spec.node_selector == {"nvidia.com/gpu.product": A100}
    assert pod.spec.containers[0].resources.limits == {"cpu": "1", "nvidia.com/gpu": "2"}


def test_node_is_the_sum_of_the_clusters_nodes(runtime: KubernetesRuntime) -> None:
    info = runtime.node()
    assert info.cpus == tuple(range(6))
    assert info.memory_bytes == 24 << 30
    assert info.gpus == (GpuDevice(0, "nvidia", A100, 0), GpuDevice(1, "nvidia", A100, 0))


def test_a_restarted_runtime_adopts_a_running_pod_instead_of_starting_another(
    api: client.ApiClient, tmp_path: Path
) -> None:
    marker = tmp_path / "runs"
    spec = command(tmp_path, "default/r/u/long/1", "sh", "-c", f"echo x >> {marker}; sleep 2")
    first = KubernetesRuntime(api)
    first.start(spec)
    wait_for(lambda: marker.exists(), what="the pod to run")
    first.close()  # an operator restart must not kill the work
    [pod] = our_pods(api)
    assert pod.status.phase == "Running"
    exits = Exits()
    second = KubernetesRuntime(api)
    second.set_exit_handler(exits.append)
    try:
        second.start(spec)
        wait_for(lambda: exits.of(spec.id), timeout=15, what="the adopted pod's exit")
        assert exits.of(spec.id)[0].reason == "Completed"
        [same] = our_pods(api)
        assert same.metadata.uid == pod.metadata.uid
        assert marker.read_text() == "x\n"  # ran once
    finally:
        second.close()
