"""A workload's labels and owner on its pod: found by the labels, deleted with the owner."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from mlkube.api.workload_labels import step_labels
from mlkube.runtime.base import WorkloadOwner, WorkloadSpec
from mlkube.runtime.kubernetes import ClusterSettings
from mlkube.runtime.kubernetes.workload_pod import WORKLOAD_LABEL, workload_pod

SETTINGS = ClusterSettings(image="registry.example/mlkube:1")
RUN_UID = "5f0c1f7e-0000-4000-8000-000000000001"
OWNER = WorkloadOwner("mlkube.io/v1alpha1", "PipelineRun", "train", RUN_UID)
LONG_RUN = "nightly-retraining-of-the-recommendation-model-for-the-europe-region.v2"


def spec(workload_id: str = "team-a/train/5f0c1f7e/fit/2", **fields: Any) -> WorkloadSpec:
    return WorkloadSpec(
        workload_id, command=("true",), env={}, cwd="/d", log_path="/d/log", **fields
    )


def test_the_pod_carries_the_spec_labels_and_its_owner_without_blocking_deletion() -> None:
    pod = workload_pod(spec(labels=step_labels("train", "fit", 2), owner=OWNER), "team-a", SETTINGS)
    meta = pod["metadata"]
    ours = {k: v for k, v in meta["labels"].items() if k.startswith("mlkube.io/")}
    assert ours == {
        "mlkube.io/pipelinerun": "train",
        "mlkube.io/step": "fit",
        "mlkube.io/attempt": "2",
        WORKLOAD_LABEL: "team-a-train-5f0c1f7e-fit-2",
    }
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "PipelineRun",
            "name": "train",
            "uid": RUN_UID,
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]


def test_a_pod_without_owner_has_no_owner_references() -> None:
    assert "ownerReferences" not in workload_pod(spec(), "team-a", SETTINGS)["metadata"]


def test_the_runtimes_own_workload_label_wins_over_the_specs() -> None:
    pod = workload_pod(spec(labels={WORKLOAD_LABEL: "other"}), "team-a", SETTINGS)
    assert pod["metadata"]["labels"][WORKLOAD_LABEL] == "team-a-train-5f0c1f7e-fit-2"


def test_a_long_run_name_still_gives_a_valid_label_value() -> None:
    value = step_labels(LONG_RUN, "fit", 1)["mlkube.io/pipelinerun"]
    assert (
        len(value) <= 63 and value != step_labels(LONG_RUN + "x", "fit", 1)["mlkube.io/pipelinerun"]
    )
    spec(labels=step_labels(LONG_RUN, "fit", 1))  # accepted: every value is a label value


@pytest.mark.parametrize("version", ["1.29", kubernetes_validate.latest_version()])
def test_owned_labelled_pods_validate_against_upstream_schemas(version: str) -> None:
    owned = spec(
        f"ns/{LONG_RUN}/5f0c1f7e/fit/1", labels=step_labels(LONG_RUN, "fit", 1), owner=OWNER
    )
    kubernetes_validate.validate(workload_pod(owned, "ns", SETTINGS), version, strict=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"labels": {"mlkube.io/step": "not a value"}}, r"labels\[mlkube.io/step\]: invalid value"),
        ({"labels": {"bad key!": "x"}}, r"labels\[bad key!\]: invalid key"),
    ],
)
def test_invalid_labels_are_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**fields)


@pytest.mark.parametrize("empty", ["api_version", "kind", "name", "uid"])
def test_an_owner_needs_every_field(empty: str) -> None:
    fields = {"api_version": "v1", "kind": "ConfigMap", "name": "n", "uid": "u", empty: ""}
    with pytest.raises(ValueError, match=f"WorkloadOwner: {empty}: must not be empty"):
        WorkloadOwner(**fields)


def test_the_labels_of_a_spec_cannot_change_after_it_is_made() -> None:
    given = {"mlkube.io/step": "fit"}
    made = spec(labels=given)
    given["mlkube.io/step"] = "other"
    assert dict(made.labels) == {"mlkube.io/step": "fit"}
