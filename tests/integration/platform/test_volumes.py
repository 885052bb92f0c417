"""Volumes on the real embedded platform: claims bound to folders, scratch volumes that die
with their run, steps that wait for their claims, and storage quota on claims."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlkube.api.errors import Forbidden, NotFound
from mlkube.sdk.client import Client
from mlkube.server.embedded import EmbeddedPlatform
from tests.integration.platform.conftest import (
    UpProcess,
    run_body,
    step_of,
    wait_finished,
    wait_for,
)


def claim(name: str, size: str = "1Gi") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def shell(name: str, script: str, *mounts: str, **extra: Any) -> dict[str, Any]:
    volume_mounts = [{"name": m, "mountPath": f"/mnt/{m}"} for m in mounts]
    return {"name": name, "command": ["sh", "-c", script], "volumeMounts": volume_mounts, **extra}


SCRATCH = {"name": "work", "scratch": {"size": "64Mi"}}


def with_volumes(
    name: str, steps: list[dict[str, Any]], *volumes: dict[str, Any]
) -> dict[str, Any]:
    body = run_body(name, steps, cache=False)
    body["spec"]["pipelineSpec"]["volumes"] = list(volumes)
    return body


def data_volume(claim_name: str = "datasets") -> dict[str, Any]:
    return {"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}


def bound(client: Client, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = client.get("persistentvolumeclaims", name)
        return obj if (obj.get("status") or {}).get("phase") == "Bound" else None

    found: dict[str, Any] = wait_for(check, what=f"claim {name} to be Bound")
    return found


def gone(client: Client, name: str) -> bool:
    try:
        client.get("persistentvolumeclaims", name)
    except NotFound:
        return True
    return False


def test_a_claim_is_bound_to_a_folder(client: Client, platform: EmbeddedPlatform) -> None:
    client.create(claim("datasets", "2Gi"))
    obj = bound(client, "datasets")
    assert obj["status"]["capacity"] == {"storage": "2Gi"}
    assert obj["status"]["accessModes"] == ["ReadWriteOnce"]
    assert obj["spec"]["volumeName"] == f"pvc-{obj['metadata']['uid']}"
    assert "kubernetes.io/pvc-protection" in obj["metadata"]["finalizers"]
    assert (platform.data.root / "volumes" / "default" / "datasets").is_dir()


def scratch_folder(platform: EmbeddedPlatform, run: str) -> Path:
    return platform.data.run_dir("default", run) / "_scratch" / "work"


def test_steps_share_a_scratch_volume_that_is_gone_when_the_run_succeeds(
    client: Client, platform: EmbeddedPlatform
) -> None:
    steps = [
        shell("write", 'echo 7 > "$MLKUBE_VOLUME_WORK/n"', "work"),
        shell("read", "cat {{volumes.work}}/n > $MLKUBE_OUTPUTS_DIR/output", "work",
              dependsOn=["write"]),
    ]  # fmt: skip
    client.create(with_volumes("shared", steps, SCRATCH))
    run = wait_finished(client, "shared")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert step_of(run, "read")["outputs"] == [{"name": "output", "value": 7}]
    (volume,) = run["status"]["volumes"]
    assert (volume["name"], volume["size"], volume["phase"]) == ("work", "64Mi", "Deleted")
    assert volume["path"] == str(scratch_folder(platform, "shared"))
    assert not scratch_folder(platform, "shared").exists()


def test_the_scratch_volume_is_gone_after_a_failed_run(
    client: Client, platform: EmbeddedPlatform
) -> None:
    steps = [shell("fail", 'touch "$MLKUBE_VOLUME_WORK/partial"; exit 3', "work")]
    client.create(with_volumes("broken", steps, SCRATCH))
    run = wait_finished(client, "broken")
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["volumes"][0]["phase"] == "Deleted"
    assert not scratch_folder(platform, "broken").exists()


def test_a_claims_data_outlives_runs(client: Client) -> None:
    client.create(claim("datasets"))
    bound(client, "datasets")
    write = [shell("write", "echo 42 > {{volumes.data}}/answer", "data")]
    client.create(with_volumes("first", write, data_volume()))
    assert wait_finished(client, "first")["status"]["phase"] == "Succeeded"
    read = [shell("read", 'cat "$MLKUBE_VOLUME_DATA/answer" > $MLKUBE_OUTPUTS_DIR/output', "data")]
    client.create(with_volumes("second", read, data_volume()))
    run = wait_finished(client, "second")
    assert step_of(run, "read")["outputs"] == [{"name": "output", "value": 42}]
    assert run["status"]["volumes"] == []


def test_deleting_a_mounted_claim_waits_until_the_step_ends(
    client: Client, platform: EmbeddedPlatform
) -> None:
    client.create(claim("datasets"))
    bound(client, "datasets")
    folder = platform.data.root / "volumes" / "default" / "datasets"
    script = (
        'touch "$MLKUBE_VOLUME_DATA/started"; '
        'while [ ! -e "$MLKUBE_VOLUME_DATA/go" ]; do sleep 0.05; done'
    )
    client.create(with_volumes("holder", [shell("hold", script, "data")], data_volume()))
    wait_for(lambda: (folder / "started").exists(), what="the step to start")
    client.delete("persistentvolumeclaims", "datasets")
    terminating = client.get("persistentvolumeclaims", "datasets")
    assert terminating["metadata"].get("deletionTimestamp")
    assert folder.is_dir()
    (folder / "go").touch()
    assert wait_finished(client, "holder")["status"]["phase"] == "Succeeded"
    wait_for(lambda: gone(client, "datasets"), what="the claim to go")
    assert not folder.exists()


def test_a_step_waits_for_a_missing_claim_then_runs(client: Client) -> None:
    steps = [shell("read", "echo 1 > $MLKUBE_OUTPUTS_DIR/output", "data")]
    client.create(with_volumes("patient", steps, data_volume("later")))

    def waiting() -> dict[str, Any] | None:
        steps = (client.get("pipelineruns", "patient").get("status") or {}).get("steps") or []
        return next((s for s in steps if s.get("reason") == "VolumeNotReady"), None)

    step = wait_for(waiting, what="the step to wait for its claim")
    assert step["phase"] == "Pending"
    assert step["message"] == (
        "waiting for volume 'data': persistentvolumeclaim \"later\" not found"
    )
    client.create(claim("later"))
    run = wait_finished(client, "patient")
    assert run["status"]["phase"] == "Succeeded"
    assert step_of(run, "read")["outputs"] == [{"name": "output", "value": 1}]


def test_storage_quota_refuses_a_claim_over_requests_storage(client: Client) -> None:
    client.create(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "team-quota", "namespace": "default"},
            "spec": {"hard": {"requests.storage": "1Gi", "persistentvolumeclaims": "5"}},
        }
    )
    client.create(claim("small", "512Mi"))
    with pytest.raises(Forbidden) as refused:
        client.create(claim("big", "1Gi"))
    assert str(refused.value) == (
        'persistentvolumeclaims "big" is forbidden: exceeded quota: team-quota, '
        "requested: requests.storage=1Gi, used: requests.storage=512Mi, "
        "limited: requests.storage=1Gi"
    )
    assert gone(client, "big")

    def counted() -> bool:
        used = (client.get("resourcequotas", "team-quota").get("status") or {}).get("used") or {}
        return used == {"requests.storage": "512Mi", "persistentvolumeclaims": "1"}

    wait_for(counted, what="the quota to count the claim")


def test_get_pvc_prints_kubectls_columns(up: UpProcess, tmp_path: Path) -> None:
    manifest = tmp_path / "claim.yaml"
    manifest.write_text(yaml.safe_dump(claim("datasets", "3Gi")))
    assert up.cli("apply", "-f", str(manifest)).returncode == 0
    with up.client() as client:
        uid = bound(client, "datasets")["metadata"]["uid"]
    header, row = up.cli("get", "pvc").stdout.splitlines()
    assert header.split() == [
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS",
        "MODES",
        "STORAGECLASS",
        "AGE",
    ]
    assert row.split()[:5] == ["datasets", "Bound", f"pvc-{uid}", "3Gi", "RWO"]
