"""Volumes in the API: the PersistentVolumeClaim kind, pipeline volumes and mounts, the names
a step sees, and the `get pvc` columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlkube.api.columns import columns_for
from mlkube.api.errors import Invalid
from mlkube.api.kinds import PERSISTENT_VOLUME_CLAIM, PIPELINE, PIPELINE_RUN, lookup, validate
from mlkube.api.volumes import volume_env_name, volume_placeholders


def claim(**spec: Any) -> dict[str, Any]:
    body = {"resources": {"requests": {"storage": "2Gi"}}, **spec}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "datasets", "namespace": "team-a"},
        "spec": body,
    }


def pipeline(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, Any]:
    steps = [{"name": "prep", "command": ["true"], "volumeMounts": mounts}]
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "p"},
        "spec": {"steps": steps, "volumes": volumes},
    }


def causes(kind: Any, obj: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        validate(kind, obj)
    return {c.field: c.message for c in caught.value.causes}


def test_pvc_is_a_core_kind_found_by_its_short_name() -> None:
    assert lookup("pvc") is PERSISTENT_VOLUME_CLAIM
    assert PERSISTENT_VOLUME_CLAIM.resource == "persistentvolumeclaims"
    assert PERSISTENT_VOLUME_CLAIM.api_version == "v1"


def test_a_claim_defaults_to_read_write_once_filesystem() -> None:
    stored = validate(PERSISTENT_VOLUME_CLAIM, claim(storageClassName="fast")).to_dict()
    assert stored["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert stored["spec"]["volumeMode"] == "Filesystem"
    assert stored["spec"]["storageClassName"] == "fast"
    assert stored["status"]["phase"] == "Pending"


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"resources": {"requests": {"storage": "2Gx"}}}, "spec.resources.requests.storage", "Gx"),
        ({"resources": {"requests": {"storage": "0"}}}, "spec.resources.requests.storage", "zero"),
        ({"resources": {"requests": {}}}, "spec.resources.requests.storage", "Required"),
        ({"volumeMode": "Block"}, "spec.volumeMode", "Filesystem"),
        ({"accessModes": ["ReadWriteSometimes"]}, "spec.accessModes[0]", "ReadWriteOnce"),
    ],
)
def test_a_bad_claim_names_the_field(spec: dict[str, Any], field: str, words: str) -> None:
    found = causes(PERSISTENT_VOLUME_CLAIM, claim(**spec))
    assert field in found, found
    assert words in found[field]


SCRATCH = {"name": "work", "scratch": {"size": "1Gi"}}
MOUNT = {"name": "work", "mountPath": "/mnt/work"}


def test_a_pipeline_with_volumes_and_mounts_is_valid() -> None:
    data = {"name": "data", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}}
    mounts = [MOUNT, {"name": "data", "mountPath": "/data", "subPath": "v1", "readOnly": True}]
    model = validate(PIPELINE, pipeline([SCRATCH, data], mounts)).to_dict()
    assert model["spec"]["volumes"][1]["persistentVolumeClaim"] == {
        "claimName": "datasets",
        "readOnly": True,
    }
    assert model["spec"]["steps"][0]["volumeMounts"][1]["subPath"] == "v1"


@pytest.mark.parametrize(
    ("volumes", "mounts", "field", "words"),
    [
        ([SCRATCH], [{"name": "other", "mountPath": "/x"}], "spec.steps[0].volumeMounts[0].name",
         "no volume named 'other'"),
        ([SCRATCH, SCRATCH], [], "spec.volumes[1].name", "duplicate volume 'work'"),
        ([{"name": "work", "scratch": {"size": "2Gx"}}], [], "spec.volumes[0].scratch.size",
         "quantity '2Gx' must match"),
        ([{"name": "work", "scratch": {}}], [], "spec.volumes[0].scratch.size", "Required"),
        ([SCRATCH], [{"name": "work", "mountPath": "mnt/work"}],
         "spec.steps[0].volumeMounts[0].mountPath", "absolute"),
        ([SCRATCH], [{"name": "work", "mountPath": "/tmp"}],
         "spec.steps[0].volumeMounts[0].mountPath", "reserved"),
        ([SCRATCH], [MOUNT, MOUNT], "spec.steps[0].volumeMounts[1].mountPath", "twice"),
        ([SCRATCH], [{**MOUNT, "subPath": "../up"}], "spec.steps[0].volumeMounts[0].subPath",
         "relative"),
        ([{"name": "work"}], [], "spec.volumes[0]", "exactly one of persistentVolumeClaim"),
        ([{"name": "Work_1", "scratch": {"size": "1Gi"}}], [], "spec.volumes[0].name", "match"),
    ],
)  # fmt: skip
def test_bad_volumes_name_the_field(
    volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], field: str, words: str
) -> None:
    found = causes(PIPELINE, pipeline(volumes, mounts))
    assert field in found, found
    assert words in found[field]


def test_an_inline_pipeline_of_a_run_is_checked_too() -> None:
    body = pipeline([], [MOUNT])
    run = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": "r"},
        "spec": {"pipelineSpec": body["spec"]},
    }
    found = causes(PIPELINE_RUN, run)
    assert "no volume named 'work'" in found["spec.pipelineSpec.steps[0].volumeMounts[0].name"]


@pytest.mark.parametrize(
    ("volume", "variable"),
    [
        ("work", "MLKUBE_VOLUME_WORK"),
        ("raw-data", "MLKUBE_VOLUME_RAW_DATA"),
        ("v2", "MLKUBE_VOLUME_V2"),
    ],
)
def test_env_names(volume: str, variable: str) -> None:
    assert volume_env_name(volume) == variable


def test_placeholders_come_from_the_volume_variables_only() -> None:
    env = {"MLKUBE_VOLUME_RAW_DATA": "/mnt/raw", "HOME": "/home/x"}
    assert volume_placeholders(env) == {
        "{{volumes.raw_data}}": "/mnt/raw",
        "{{volumes.raw-data}}": "/mnt/raw",
    }


NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_get_pvc_columns_are_kubectls() -> None:
    headers, row = columns_for("PersistentVolumeClaim")
    assert headers == [
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS MODES",
        "STORAGECLASS",
        "AGE",
    ]
    bound = claim(storageClassName="fast", volumeName="pvc-123")
    bound["metadata"]["creationTimestamp"] = "2024-05-01T11:55:00Z"
    bound["status"] = {
        "phase": "Bound",
        "capacity": {"storage": "2Gi"},
        "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
    }
    assert row(bound, NOW) == ["datasets", "Bound", "pvc-123", "2Gi", "RWO,ROX", "fast", "5m"]
    pending = claim()
    pending["metadata"]["creationTimestamp"] = "2024-05-01T11:59:58Z"
    assert row(pending, NOW) == ["datasets", "Pending", "", "", "", "", "2s"]
