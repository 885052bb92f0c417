"""Volumes on a cluster: the scratch claim of a run and the pod that mounts claims, checked
against the upstream schemas of the oldest and newest Kubernetes we support."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from mlkube.api.meta import ObjectMeta
from mlkube.api.volumes import ScratchSource
from mlkube.runtime.base import ClaimMount, PythonTarget, WorkloadSpec
from mlkube.runtime.kubernetes.volumes import (
    claim_volumes,
    scratch_claim,
    scratch_claim_name,
    volume_mounts,
)
from mlkube.runtime.kubernetes.workload_pod import workload_pod
from tests.unit.kube_objects.specs import SETTINGS, UID

VERSIONS = ["1.29", kubernetes_validate.latest_version()]
RUN = ObjectMeta(name="train-1", namespace="team-a", uid=UID)
MOUNTS = (
    ClaimMount("work", "train-1-work", "/mnt/work"),
    ClaimMount("data", "datasets", "/data", read_only=True, sub_path="v1"),
    ClaimMount("data", "datasets", "/labels", read_only=True, sub_path="labels"),
)


def pod(mounts: tuple[ClaimMount, ...] = MOUNTS) -> dict[str, Any]:
    spec = WorkloadSpec(
        "team-a/train-1/5f0c1f7e/fit/1",
        python=PythonTarget("mlkube.executor.step", "run", ("/data/run/invocation.json",)),
        env={"MLKUBE_VOLUME_WORK": "/mnt/work"},
        cwd="/data/run",
        log_path="/data/run/log",
        mounts=mounts,
    )
    return workload_pod(spec, "team-a", SETTINGS)


def test_scratch_claim_is_owned_by_the_run() -> None:
    claim = scratch_claim(RUN, "work", ScratchSource(size="5Gi", storageClassName="fast"))
    assert claim["metadata"]["name"] == "train-1-work"
    assert claim["metadata"]["namespace"] == "team-a"
    (owner,) = claim["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("PipelineRun", "train-1", UID)
    assert claim["metadata"]["labels"]["mlkube.io/pipelinerun"] == "train-1"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "5Gi"}},
        "volumeMode": "Filesystem",
        "storageClassName": "fast",
    }


def test_a_long_scratch_claim_name_is_shortened_the_same_way_every_time() -> None:
    run = "r" * 250
    name = scratch_claim_name(run, "work")
    assert len(name) == 253 and name == scratch_claim_name(run, "work")
    assert name != scratch_claim_name(run, "works")
    assert scratch_claim_name("a.b", "work") == "a.b-work"  # dots are fine in a claim's name


def test_pod_mounts_each_claim_once_and_every_mount() -> None:
    assert claim_volumes(MOUNTS) == [
        {"name": "vol-work", "persistentVolumeClaim": {"claimName": "train-1-work"}},
        {"name": "vol-data", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}},
    ]
    assert volume_mounts(MOUNTS) == [
        {"name": "vol-work", "mountPath": "/mnt/work"},
        {"name": "vol-data", "mountPath": "/data", "readOnly": True, "subPath": "v1"},
        {"name": "vol-data", "mountPath": "/labels", "readOnly": True, "subPath": "labels"},
    ]


def test_a_claim_mounted_read_write_once_is_not_read_only_in_the_pod() -> None:
    mixed = (
        ClaimMount("data", "datasets", "/a", read_only=True),
        ClaimMount("data", "datasets", "/b"),
    )
    assert claim_volumes(mixed) == [
        {"name": "vol-data", "persistentVolumeClaim": {"claimName": "datasets"}}
    ]


def test_workload_pod_keeps_tmp_and_adds_the_claims() -> None:
    spec = pod()["spec"]
    (main,) = spec["containers"]
    assert [m["mountPath"] for m in main["volumeMounts"]] == [
        "/tmp",
        "/mnt/work",
        "/data",
        "/labels",
    ]
    assert [v["name"] for v in spec["volumes"]] == ["tmp", "vol-work", "vol-data"]
    assert {"name": "MLKUBE_VOLUME_WORK", "value": "/mnt/work"} in main["env"]


def test_a_pod_without_mounts_is_unchanged() -> None:
    spec = pod(())["spec"]
    assert spec["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


@pytest.mark.parametrize("version", VERSIONS)
def test_objects_validate_against_upstream_schemas(version: str) -> None:
    claim = scratch_claim(RUN, "work", ScratchSource(size="1Gi"))
    for obj in (claim, pod()):
        kubernetes_validate.validate(obj, version, strict=True)
