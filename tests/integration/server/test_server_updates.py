"""Updates: optimistic concurrency, the status subresource, merge patches, deletes."""

from __future__ import annotations

import copy

import pytest
from tests.integration.server.serverkit import Api, run, step

from mlkube.api.errors import Conflict, Invalid

RUNS = "/apis/mlkube.io/v1alpha1/namespaces/team/pipelineruns"
MERGE = {"Content-Type": "application/merge-patch+json"}


def test_a_stale_put_is_a_conflict(api: Api) -> None:
    first = api.client.create(run("r"))
    mine = copy.deepcopy(first)
    first["metadata"]["labels"] = {"by": "someone-else"}
    api.client.update(first)
    mine["metadata"]["labels"] = {"by": "me"}
    with pytest.raises(Conflict, match="the object has been modified"):
        api.client.update(mine)
    with api.http() as http:
        response = http.put(f"{RUNS}/r", json=mine)
    assert response.status_code == 409 and response.json()["reason"] == "Conflict"
    assert api.client.get("pr", "r", namespace="team")["metadata"]["labels"] == {
        "by": "someone-else"
    }


def test_put_of_the_object_keeps_its_status_and_status_put_keeps_its_spec(api: Api) -> None:
    created = api.client.create(run("r"))
    created["status"] = {"phase": "Running", "steps": [{"name": "only", "phase": "Running"}]}
    running = api.client.update_status(created)
    assert running["status"]["phase"] == "Running"
    assert running["metadata"]["generation"] == 1, "status writes leave the generation alone"
    running["status"]["phase"] = "Failed"
    running["metadata"]["labels"] = {"seen": "yes"}
    updated = api.client.update(running)
    assert updated["status"]["phase"] == "Running", "PUT of the object ignores status"
    assert updated["metadata"]["labels"] == {"seen": "yes"}
    updated["spec"]["cache"] = False
    updated["status"]["phase"] = "Succeeded"
    done = api.client.update_status(updated)
    assert done["status"]["phase"] == "Succeeded" and done["spec"]["cache"] is True


def test_an_invalid_status_is_refused(api: Api) -> None:
    created = api.client.create(run("r"))
    created["status"] = {"phase": "Exploded"}
    with pytest.raises(Invalid) as caught:
        api.client.update_status(created)
    assert caught.value.causes[0].field == "status.phase"


def test_merge_patch_of_labels_and_spec(api: Api) -> None:
    api.client.create(run("r", labels={"a": "1", "b": "2"}))
    patched = api.client.patch("pr", "r", {"metadata": {"labels": {"a": None, "c": "3"}}}, "team")
    assert patched["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert patched["metadata"]["generation"] == 1, "metadata changes keep the generation"
    patched = api.client.patch("pr", "r", {"spec": {"cache": False}}, namespace="team")
    assert patched["spec"]["cache"] is False and patched["metadata"]["generation"] == 2


def test_merge_patch_of_status(api: Api) -> None:
    api.client.create(run("r"))
    ignored = api.client.patch("pr", "r", {"status": {"phase": "Failed"}}, "team")
    assert ignored["status"]["phase"] == "Pending", "the main resource ignores status"
    patched = api.client.patch(
        "pr",
        "r",
        {"status": {"phase": "Running"}, "spec": {"cache": False}},
        "team",
        subresource="status",
    )
    assert patched["status"]["phase"] == "Running" and patched["spec"]["cache"] is True
    with api.http() as http:
        response = http.patch(f"{RUNS}/r/status", json={"status": {"phase": "Succeeded"}})
    assert response.status_code == 200, "application/json is read as a merge patch"
    assert response.json()["status"]["phase"] == "Succeeded"


def test_a_patch_is_validated_before_it_is_stored(api: Api) -> None:
    created = api.client.create(run("r", step("a"), step("b", after=("a",))))
    steps = copy.deepcopy(created["spec"]["pipelineSpec"]["steps"])
    steps[0]["dependsOn"] = ["b"]
    with pytest.raises(Invalid, match="cycle"):
        api.client.patch("pr", "r", {"spec": {"pipelineSpec": {"steps": steps}}}, "team")
    gpu = {"spec": {"pipelineSpec": {"steps": [step("a", resources={"nvidia.com/gpu": 2})]}}}
    with pytest.raises(Invalid, match="no node here has a GPU"):
        api.client.patch("pr", "r", gpu, "team")
    assert api.client.get("pr", "r", "team") == created


def test_a_patch_with_a_stale_version_is_a_conflict(api: Api) -> None:
    created = api.client.create(run("r"))
    api.client.patch("pr", "r", {"metadata": {"labels": {"x": "1"}}}, "team")
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    with pytest.raises(Conflict):
        api.client.patch("pr", "r", {**stale, "spec": {"cache": False}}, "team")


def test_other_patch_types_are_unsupported_media(api: Api) -> None:
    api.client.create(run("r"))
    with api.http() as http:
        for content_type in (
            "application/json-patch+json",
            "application/strategic-merge-patch+json",
        ):
            response = http.patch(
                f"{RUNS}/r", content=b"[]", headers={"Content-Type": content_type}
            )
            assert response.status_code == 415
            body = response.json()
            assert body["kind"] == "Status" and body["reason"] == "UnsupportedMediaType"
            assert "application/merge-patch+json" in body["message"]
        bad = http.patch(f"{RUNS}/r", content=b"[1]", headers=MERGE)
        assert bad.status_code == 400


def test_renaming_by_patch_is_refused(api: Api) -> None:
    api.client.create(run("r"))
    with api.http() as http:
        response = http.patch(f"{RUNS}/r", json={"metadata": {"name": "s"}}, headers=MERGE)
    assert response.status_code == 400


def test_delete_preconditions(api: Api) -> None:
    created = api.client.create(run("r"))
    api.client.patch("pr", "r", {"metadata": {"labels": {"x": "1"}}}, "team")
    with pytest.raises(Conflict):
        api.client.delete(
            "pr", "r", "team", resource_version=created["metadata"]["resourceVersion"]
        )
    with api.http() as http:
        wrong_uid = {"preconditions": {"uid": "not-the-uid"}}
        response = http.request("DELETE", f"{RUNS}/r", json=wrong_uid)
        assert response.status_code == 409 and "Precondition failed" in response.json()["message"]
        dry = http.request("DELETE", f"{RUNS}/r", params={"dryRun": "All"})
        assert dry.status_code == 200
    current = api.client.get("pr", "r", "team")
    gone = api.client.delete(
        "pr", "r", "team", resource_version=current["metadata"]["resourceVersion"]
    )
    assert gone["metadata"]["name"] == "r"
    assert api.client.list("pr", "team") == []
