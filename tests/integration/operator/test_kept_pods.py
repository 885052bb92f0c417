"""KubernetesRuntime.forget on the fake cluster: a finished pod whose workload names an owner
is kept (for its log) until the garbage collector deletes it with that owner; a pod without
one is deleted as before (test_kubernetes_runtime.py); relaunching a kept pod's id replaces it."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from mlkube.runtime.base import WorkloadOwner, WorkloadSpec
from mlkube.runtime.kubernetes.runtime import KubernetesRuntime
from mlkube.runtime.kubernetes.workload_pod import pod_name
from tests.integration.operator.conftest import Exits
from tests.integration.operator.test_kubernetes_runtime import our_pods
from tests.integration.platform.conftest import wait_for


def owned(tmp_path: Path, workload_id: str, script: str, owner: WorkloadOwner) -> WorkloadSpec:
    return WorkloadSpec(
        workload_id,
        command=("sh", "-c", script),
        env={},
        cwd=str(tmp_path),
        log_path=str(tmp_path / "log"),
        labels={"mlkube.io/step": "fit"},
        owner=owner,
    )


def config_map_owner(api: client.ApiClient, name: str) -> WorkloadOwner:
    """Any object of the cluster can own a pod; a ConfigMap stands in for a PipelineRun."""
    made = client.CoreV1Api(api).create_namespaced_config_map(
        "default", {"metadata": {"name": name}}
    )
    return WorkloadOwner("v1", "ConfigMap", name, made.metadata.uid)


def test_an_owned_pod_is_kept_after_forget_and_goes_with_its_owner(
    runtime: KubernetesRuntime, exits: Exits, api: client.ApiClient, tmp_path: Path
) -> None:
    owner = config_map_owner(api, "r")
    spec = owned(tmp_path, "default/r/u/fit/1", "echo kept", owner)
    runtime.launch(spec)
    wait_for(lambda: exits.of(spec.id), what="the exit")
    runtime.forget(spec.id)
    assert runtime.running() == set()
    # forget queued nothing for this pod: a later request runs after it, the pod still there.
    runtime.launch(owned(tmp_path, "default/r/u/other/1", "true", owner))
    wait_for(lambda: exits.of("default/r/u/other/1"), what="the second exit")
    [kept] = [p for p in our_pods(api) if p.metadata.name == pod_name(spec.id)]
    assert kept.status.phase == "Succeeded"
    assert kept.metadata.labels["mlkube.io/step"] == "fit"
    log = client.CoreV1Api(api).read_namespaced_pod_log(kept.metadata.name, "default")
    assert log == "kept\n"
    client.CoreV1Api(api).delete_namespaced_config_map("r", "default")
    wait_for(lambda: not our_pods(api), what="the garbage collector to delete the pods")


def test_relaunching_the_id_of_a_kept_pod_replaces_it(
    runtime: KubernetesRuntime, exits: Exits, api: client.ApiClient, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    spec = owned(tmp_path, "default/r/u/fit/1", f"echo x >> {runs}", config_map_owner(api, "r"))
    runtime.launch(spec)
    wait_for(lambda: exits.of(spec.id), what="the first exit")
    [first] = our_pods(api)
    runtime.forget(spec.id)
    # As a restarted operator does for a step recorded Running whose result was never written.
    runtime.launch(spec)
    wait_for(lambda: len(exits.of(spec.id)) == 2, what="the second exit")
    assert [e.reason for e in exits.of(spec.id)] == ["Completed", "Completed"]
    assert runs.read_text() == "x\nx\n"
    [second] = our_pods(api)
    assert second.metadata.name == first.metadata.name
    assert second.metadata.uid != first.metadata.uid
