"""What the server makes of a request body before validating and storing it."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.errors import BadRequest, Invalid
from mlkube.api.kinds import NAMESPACE, PIPELINE, PIPELINE_RUN
from mlkube.server.objects import (
    for_create,
    for_update,
    parse_json_object,
    patch_candidate,
    status_candidate,
    validated,
)

STEPS = {"steps": [{"name": "a", "command": ["true"]}]}


def stored_run(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {
            "name": "r",
            "namespace": "t",
            "uid": "u1",
            "resourceVersion": "7",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"team": "a"},
        },
        "spec": {"pipelineSpec": STEPS},
        "status": {"phase": "Running", **status},
    }


def test_bad_json_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json_object(b"{nope")
    with pytest.raises(BadRequest, match="JSON object"):
        parse_json_object(b"[1, 2]")


def test_create_fills_the_envelope_and_drops_what_users_may_not_set() -> None:
    body = {"metadata": {"name": "r", "uid": "x", "generation": 9}, "spec": {}, "status": {"x": 1}}
    obj = for_create(PIPELINE_RUN, body, "t")
    assert obj["apiVersion"] == "mlkube.io/v1alpha1" and obj["kind"] == "PipelineRun"
    assert obj["metadata"] == {"name": "r", "namespace": "t"}
    assert "status" not in obj
    assert body["metadata"]["uid"] == "x", "the request body is not modified"


def test_create_refuses_a_resource_version_and_a_foreign_namespace() -> None:
    with pytest.raises(BadRequest, match="resourceVersion should not be set"):
        for_create(PIPELINE, {"metadata": {"name": "p", "resourceVersion": "3"}}, "t")
    with pytest.raises(BadRequest, match="does not match the namespace sent on the request"):
        for_create(PIPELINE, {"metadata": {"name": "p", "namespace": "other"}}, "t")


def test_cluster_scoped_objects_lose_any_namespace() -> None:
    obj = for_create(NAMESPACE, {"metadata": {"name": "n", "namespace": "x"}}, "")
    assert obj["metadata"] == {"name": "n"}


def test_update_checks_the_name_and_drops_status() -> None:
    obj = for_update(PIPELINE_RUN, stored_run(), "t", "r")
    assert "status" not in obj and obj["metadata"]["resourceVersion"] == "7"
    with pytest.raises(BadRequest, match=r"name of the object \(r\) does not match .* \(s\)"):
        for_update(PIPELINE_RUN, stored_run(), "t", "s")


def test_status_candidate_keeps_the_stored_spec() -> None:
    body = stored_run(phase="Succeeded")
    body["spec"] = {"pipelineRef": {"name": "ignored"}}
    body["metadata"]["resourceVersion"] = "5"
    candidate = status_candidate(PIPELINE_RUN, stored_run(), body, "t", "r")
    assert candidate["spec"] == {"pipelineSpec": STEPS}
    assert candidate["status"] == {"phase": "Succeeded"}
    assert candidate["metadata"]["resourceVersion"] == "5", "the body's version is the precondition"


def test_patch_of_the_main_resource_ignores_status() -> None:
    patch = {"metadata": {"labels": {"team": None, "tier": "gold"}}, "status": {"phase": "Failed"}}
    candidate = patch_candidate(stored_run(), patch, status_only=False)
    assert candidate["metadata"]["labels"] == {"tier": "gold"}
    assert candidate["status"] == {"phase": "Running"}
    assert candidate["metadata"]["resourceVersion"] == "7"


def test_patch_of_status_ignores_everything_else() -> None:
    patch = {"metadata": {"labels": {"x": "y"}}, "status": {"phase": "Failed"}}
    candidate = patch_candidate(stored_run(reason="r"), patch, status_only=True)
    assert candidate["metadata"]["labels"] == {"team": "a"}
    assert candidate["status"] == {"phase": "Failed", "reason": "r"}


def test_patch_resource_version_is_a_precondition_and_names_are_fixed() -> None:
    candidate = patch_candidate(
        stored_run(), {"metadata": {"resourceVersion": "3"}}, status_only=False
    )
    assert candidate["metadata"]["resourceVersion"] == "3"
    with pytest.raises(BadRequest, match=r"metadata\.name cannot be changed"):
        patch_candidate(stored_run(), {"metadata": {"name": "other"}}, status_only=False)


def test_validated_normalizes_and_keeps_server_metadata_the_model_lacks() -> None:
    obj = stored_run()
    obj["metadata"]["deletionGracePeriodSeconds"] = 0
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    _, stored = validated(PIPELINE_RUN, obj)
    assert stored["metadata"]["deletionGracePeriodSeconds"] == 0
    assert "managedFields" not in stored["metadata"]
    assert stored["spec"]["pipelineSpec"]["steps"][0]["outputs"] == ["output"], "defaults filled"


def test_validated_names_each_bad_field() -> None:
    obj = stored_run()
    obj["spec"]["pipelineSpec"]["steps"][0]["resources"] = {"cpu": "2Gx"}
    obj["spec"]["colour"] = "blue"
    with pytest.raises(Invalid) as caught:
        validated(PIPELINE_RUN, obj)
    fields = {c.field for c in caught.value.causes}
    assert {"spec.colour", "spec.pipelineSpec.steps[0].resources.cpu"} <= fields
