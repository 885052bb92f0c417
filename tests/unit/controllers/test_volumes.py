"""Claims on the embedded platform: binding, protection while mounted, quota at create, and
the scratch volumes and waits of a run, on the in-memory store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import Forbidden
from mlkube.api.kinds import PERSISTENT_VOLUME_CLAIM, PIPELINE_RUN, RESOURCE_QUOTA, validate
from mlkube.api.pipelinerun import PipelineRun
from mlkube.api.resourcequota import NamespaceResourceQuota
from mlkube.api.volumes import PROTECTION_FINALIZER
from mlkube.controllers.pipelinerun.volumes import (
    ClusterRunVolumes,
    LocalRunVolumes,
    released,
)
from mlkube.controllers.storage_quota import claim_refusal, storage_quota_check, usage_of
from mlkube.controllers.volumes import VolumeController, claim_folder, claim_users
from mlkube.storage.layout import DataDir
from mlkube.testing.memory_store import MemoryStore

PVC = PERSISTENT_VOLUME_CLAIM.resource
GiB = 2**30


def claim(name: str = "datasets", size: str = "2Gi") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "team"},
        "spec": {"resources": {"requests": {"storage": size}}},
    }


def run_obj(phase: str = "Running", step_phase: str = "Running") -> dict[str, Any]:
    spec = {
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "datasets"}},
            {"name": "work", "scratch": {"size": "1Gi"}},
        ],
        "steps": [
            {
                "name": "fit",
                "command": ["true"],
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "work", "mountPath": "/work", "subPath": "out"},
                ],
            },
            {"name": "idle", "command": ["true"]},
        ],
    }
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": "r1", "namespace": "team", "uid": "0123456789abcdef"},
        "spec": {"pipelineSpec": spec},
        "status": {
            "phase": phase,
            "pipelineSpec": spec,
            "steps": [{"name": "fit", "phase": step_phase}, {"name": "idle", "phase": "Running"}],
        },
    }


@pytest.mark.parametrize(
    ("step_phase", "users"),
    [("Running", ["r1/fit"]), ("Succeeded", []), ("Waiting", [])],
)
def test_only_running_steps_that_mount_a_claim_use_it(step_phase: str, users: list[str]) -> None:
    assert claim_users([run_obj(step_phase=step_phase)], "datasets") == users
    assert claim_users([run_obj()], "other") == []


def test_a_claim_is_bound_to_its_folder_and_protected(tmp_path: Path) -> None:
    store, data = MemoryStore(), DataDir(tmp_path)
    store.create(PVC, claim())
    assert VolumeController(store, data).reconcile("team/datasets") is None
    obj = store.get(PVC, "team", "datasets")
    assert obj["metadata"]["finalizers"] == [PROTECTION_FINALIZER]
    assert obj["spec"]["volumeName"] == f"pvc-{obj['metadata']['uid']}"
    assert obj["status"] == {
        "phase": "Bound",
        "capacity": {"storage": "2Gi"},
        "accessModes": ["ReadWriteOnce"],
    }
    assert claim_folder(data, "team", "datasets").is_dir()
    version = obj["metadata"]["resourceVersion"]
    VolumeController(store, data).reconcile("team/datasets")  # idempotent: no write
    assert store.get(PVC, "team", "datasets")["metadata"]["resourceVersion"] == version


def test_deleting_a_mounted_claim_waits_for_the_step(tmp_path: Path) -> None:
    store, data = MemoryStore(), DataDir(tmp_path)
    controller = VolumeController(store, data)
    store.create(PVC, claim())
    controller.reconcile("team/datasets")
    (claim_folder(data, "team", "datasets") / "x").write_text("kept while mounted")
    running = store.create(PIPELINE_RUN.resource, run_obj())
    store.delete(PVC, "team", "datasets")
    assert controller.reconcile("team/datasets") == pytest.approx(0.5)
    assert (claim_folder(data, "team", "datasets") / "x").exists()
    running["status"]["steps"][0]["phase"] = "Succeeded"
    store.update_status(PIPELINE_RUN.resource, running)
    assert controller.reconcile("team/datasets") is None
    assert store.list(PVC, "team")[0] == []
    assert not claim_folder(data, "team", "datasets").exists()


def quota(**hard: str) -> NamespaceResourceQuota:
    body = {"metadata": {"name": "team-quota", "namespace": "team"}, "spec": {"hard": hard}}
    return NamespaceResourceQuota.model_validate(body)


@pytest.mark.parametrize(
    ("hard", "used", "requested", "message"),
    [
        ({"requests.storage": "2Gi"}, {"requests.storage": GiB}, GiB, None),
        (
            {"requests.storage": "2Gi"},
            {"requests.storage": GiB},
            2 * GiB,
            "exceeded quota: team-quota, requested: requests.storage=2Gi, "
            "used: requests.storage=1Gi, limited: requests.storage=2Gi",
        ),
        (
            {"persistentvolumeclaims": "1"},
            {"persistentvolumeclaims": 1},
            GiB,
            "exceeded quota: team-quota, requested: persistentvolumeclaims=1, "
            "used: persistentvolumeclaims=1, limited: persistentvolumeclaims=1",
        ),
        ({"count/pipelineruns.mlkube.io": "0"}, {}, GiB, None),  # runs do not limit claims
    ],
)
def test_claim_refusal(
    hard: dict[str, str], used: dict[str, int], requested: int, message: str | None
) -> None:
    assert claim_refusal(quota(**hard), used, requested) == message


def test_usage_counts_claims_and_active_scratch_volumes() -> None:
    active = run_obj()
    active["status"]["volumes"] = [{"name": "work", "size": "1Gi", "phase": "Active"}]
    ended = run_obj(phase="Succeeded")
    ended["status"]["volumes"] = [{"name": "work", "size": "1Gi", "phase": "Deleted"}]
    used = usage_of([active, ended], [claim(size="2Gi"), claim("b", size="512Mi")])
    assert used["requests.storage"] == 3 * GiB + 512 * 2**20
    assert used["persistentvolumeclaims"] == 2


def test_a_claim_over_the_storage_quota_is_refused_with_kubernetes_wording() -> None:
    store = MemoryStore()
    store.create(
        RESOURCE_QUOTA.resource,
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "team-quota", "namespace": "team"},
            "spec": {"hard": {"requests.storage": "1Gi"}},
        },
    )
    check = storage_quota_check(store)
    assert (
        check(
            PERSISTENT_VOLUME_CLAIM, validate(PERSISTENT_VOLUME_CLAIM, claim(size="1Gi")), "CREATE"
        )
        == []
    )
    with pytest.raises(Forbidden) as refused:
        check(
            PERSISTENT_VOLUME_CLAIM, validate(PERSISTENT_VOLUME_CLAIM, claim(size="2Gi")), "CREATE"
        )
    assert str(refused.value) == (
        'persistentvolumeclaims "datasets" is forbidden: exceeded quota: team-quota, '
        "requested: requests.storage=2Gi, used: requests.storage=0, "
        "limited: requests.storage=1Gi"
    )


def parsed(obj: dict[str, Any]) -> PipelineRun:
    return PipelineRun.model_validate(obj)


def test_local_scratch_lives_and_dies_with_the_run(tmp_path: Path) -> None:
    store, data = MemoryStore(), DataDir(tmp_path)
    volumes, run = LocalRunVolumes(store, data), parsed(run_obj())
    assert run.status.pipeline_spec is not None
    (scratch,) = volumes.start(run, run.status.pipeline_spec)
    folder = data.run_dir("team", "r1") / "_scratch" / "work"
    assert (scratch.name, scratch.size, scratch.path, scratch.phase) == (
        "work",
        "1Gi",
        str(folder),
        "Active",
    )
    assert folder.is_dir()
    assert released([scratch])[0].phase == "Deleted"
    volumes.release(run)
    volumes.release(run)  # idempotent
    assert not folder.exists()


def test_a_step_waits_for_a_missing_then_unbound_claim(tmp_path: Path) -> None:
    store, data = MemoryStore(), DataDir(tmp_path)
    volumes, run = LocalRunVolumes(store, data), parsed(run_obj())
    spec = run.status.pipeline_spec
    assert spec is not None
    fit = spec.steps[0]
    assert volumes.blocked(run, spec, fit) == (
        "waiting for volume 'data': persistentvolumeclaim \"datasets\" not found"
    )
    store.create(PVC, claim())
    assert volumes.blocked(run, spec, fit) == (
        "waiting for volume 'data': persistentvolumeclaim \"datasets\" is Pending, not Bound"
    )
    VolumeController(store, data).reconcile("team/datasets")
    assert volumes.blocked(run, spec, fit) is None
    assert volumes.blocked(run, spec, spec.steps[1]) is None
    env = volumes.for_step(run, spec, fit).env
    assert env == {
        "MLKUBE_VOLUME_DATA": str(claim_folder(data, "team", "datasets")),
        "MLKUBE_VOLUME_WORK": str(data.run_dir("team", "r1") / "_scratch" / "work" / "out"),
    }


def test_on_a_cluster_scratch_is_a_claim_owned_by_the_run_and_pods_mount_it() -> None:
    store = MemoryStore()
    volumes, run = ClusterRunVolumes(store), parsed(run_obj())
    spec = run.status.pipeline_spec
    assert spec is not None
    (scratch,) = volumes.start(run, spec)
    assert scratch.claim_name == "r1-work"
    created = store.get(PVC, "team", "r1-work")
    assert created["metadata"]["ownerReferences"][0]["name"] == "r1"
    # An existing claim that is not Bound yet does not hold the step back on a cluster.
    assert "not found" in (volumes.blocked(run, spec, spec.steps[0]) or "")
    store.create(PVC, claim())
    assert volumes.blocked(run, spec, spec.steps[0]) is None
    step = volumes.for_step(run, spec, spec.steps[0])
    assert step.env == {"MLKUBE_VOLUME_DATA": "/data", "MLKUBE_VOLUME_WORK": "/work"}
    assert [(m.claim_name, m.mount_path, m.sub_path) for m in step.mounts] == [
        ("datasets", "/data", None),
        ("r1-work", "/work", "out"),
    ]
    volumes.release(run)
    volumes.release(run)
    assert [c["metadata"]["name"] for c in store.list(PVC, "team")[0]] == ["datasets"]
