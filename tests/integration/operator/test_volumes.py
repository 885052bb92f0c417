"""Volumes on the operator against the fake cluster: a run's scratch volume is a claim owned
by the run, its steps' pods mount it, and it is deleted when the run ends."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from mlkube.runtime.kubernetes.workload_pod import WORKLOAD_LABEL
from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster
from tests.integration.operator.test_operator import (
    GROUP,
    TEAM,
    VERSION,
    create_team,
    finished,
    shell,
    steps_of,
)
from tests.integration.platform.conftest import wait_for

MOUNT = [{"name": "work", "mountPath": "/mnt/work"}]


def create_run_with_scratch(api: client.ApiClient, name: str, steps: list[dict[str, Any]]) -> None:
    spec = {"steps": steps, "volumes": [{"name": "work", "scratch": {"size": "64Mi"}}]}
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PipelineRun",
        "metadata": {"name": name},
        "spec": {"pipelineSpec": spec, "cache": False},
    }
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, TEAM, "pipelineruns", body
    )


def claim_or_none(core: client.CoreV1Api, name: str) -> Any:
    claims = core.list_namespaced_persistent_volume_claim(TEAM).items
    return next((c for c in claims if c.metadata.name == name), None)


def test_a_scratch_claim_is_mounted_by_the_steps_and_deleted_with_the_run(
    operator: OperatorPlatform, kube: FakeKubeCluster, api: client.ApiClient
) -> None:
    create_team(api)
    assert kube.kubelet is not None
    folder = kube.kubelet.volumes.folder(TEAM, "shared-work")
    hold = 'while [ ! -e "$MLKUBE_VOLUME_WORK/go" ]; do sleep 0.05; done'
    steps = [
        shell("write", 'echo 5 > "$MLKUBE_VOLUME_WORK/n"', volumeMounts=MOUNT),
        shell("read", f"{hold}; cat {{{{volumes.work}}}}/n > $MLKUBE_OUTPUTS_DIR/output",
              volumeMounts=MOUNT, dependsOn=["write"]),
    ]  # fmt: skip
    create_run_with_scratch(api, "shared", steps)
    core = client.CoreV1Api(api)
    wait_for(lambda: (folder / "n").exists(), what="the first step to write to the volume")

    claim = wait_for(lambda: claim_or_none(core, "shared-work"), what="the scratch claim")
    (owner,) = claim.metadata.owner_references
    assert (owner.kind, owner.name) == ("PipelineRun", "shared")
    assert claim.spec.resources.requests == {"storage": "64Mi"}
    assert claim.status.phase == "Bound"

    def reading_pod() -> Any:
        pods = core.list_namespaced_pod(TEAM, label_selector=WORKLOAD_LABEL).items
        return next((p for p in pods if "-read-" in p.metadata.name), None)

    pod = wait_for(reading_pod, what="the second step's pod")
    claims = {
        v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim
    }
    assert claims == {"shared-work"}
    mounts = {m.mount_path for m in pod.spec.containers[0].volume_mounts}
    assert "/mnt/work" in mounts
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["MLKUBE_VOLUME_WORK"] == "/mnt/work"  # the fake kubelet gives it the folder

    (folder / "go").touch()
    run = finished(api, "shared")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert steps_of(run)["read"]["outputs"] == [{"name": "output", "value": 5}]
    assert run["status"]["volumes"] == [
        {"name": "work", "size": "64Mi", "claimName": "shared-work", "phase": "Deleted"}
    ]
    wait_for(lambda: claim_or_none(core, "shared-work") is None, what="the claim to be deleted")
    wait_for(lambda: not folder.exists(), what="the claim's folder to be removed")
