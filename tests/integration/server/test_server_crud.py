"""Create, read, list, update and delete through the real server and `Client`."""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.server.serverkit import Api, namespace, pipeline, run, step

from mlkube.api.errors import BadRequest, Forbidden, NotFound
from mlkube.api.namespace import Namespace

RUNS = "/apis/mlkube.io/v1alpha1/namespaces/team/pipelineruns"


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["metadata"]["name"] for i in items]


def test_namespaces_get_the_cleanup_finalizer_and_terminate(api: Api) -> None:
    created = api.client.create(namespace("ml"))
    assert created["metadata"]["finalizers"] == ["mlkube.io/namespace"]
    assert created["status"] == {"phase": "Active"}
    assert names(api.client.list("ns")) == ["default", "ml", "team"]
    deleted = api.client.delete("namespaces", "ml")
    assert deleted["metadata"]["deletionTimestamp"], "held by its finalizer until emptied"
    assert api.client.get("namespace", "ml")["metadata"]["deletionTimestamp"]


def test_live_namespaces_keep_their_finalizer(api: Api) -> None:
    created = api.client.create(namespace("ml"))
    created["metadata"]["finalizers"] = []
    assert api.client.update(created)["metadata"]["finalizers"] == ["mlkube.io/namespace"]
    patched = api.client.patch("ns", "ml", {"metadata": {"finalizers": None}})
    assert patched["metadata"]["finalizers"] == ["mlkube.io/namespace"]


def test_no_new_content_in_a_terminating_namespace(api: Api) -> None:
    api.client.create(namespace("ml"))
    api.client.delete("namespaces", "ml")
    with pytest.raises(Forbidden) as caught:
        api.client.create(run("r", namespace="ml"))
    assert "unable to create new content in namespace ml because it is being terminated" in str(
        caught.value
    )
    with api.http() as http:
        response = http.post(RUNS.replace("team", "ml"), json=run("r", namespace="ml"))
    assert response.status_code == 403
    body = response.json()
    assert body["kind"] == "Status" and body["reason"] == "Forbidden"
    assert body["details"]["causes"][0]["reason"] == "NamespaceTerminating"


def test_content_in_a_missing_namespace_is_not_found(api: Api) -> None:
    with api.http() as http:
        response = http.post(RUNS.replace("team", "nope"), json=run("r", namespace="nope"))
    assert response.status_code == 404
    assert response.json()["message"] == 'namespaces "nope" not found'


def test_pipeline_lifecycle(api: Api) -> None:
    created = api.client.create(pipeline("p", step("a"), step("b", after=("a",))))
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert created["spec"]["steps"][0]["outputs"] == ["output"], "stored normalized"
    assert api.client.get("pipeline", "p", namespace="team") == created
    created["spec"]["steps"][1]["command"] = ["echo", "changed"]
    updated = api.client.update(created)
    assert updated["metadata"]["generation"] == 2
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    api.client.delete("pl", "p", namespace="team")
    with pytest.raises(NotFound, match=r'pipelines\.mlkube\.io "p" not found'):
        api.client.get("pipelines", "p", namespace="team")


def test_create_ignores_a_user_written_status(api: Api) -> None:
    body = run("r")
    body["status"] = {"phase": "Succeeded"}
    created = api.client.create(body)
    assert created["status"]["phase"] == "Pending"


def test_generate_name(api: Api) -> None:
    body = run("")
    body["metadata"] = {"generateName": "train-", "namespace": "team"}
    created = api.client.create(body)
    assert created["metadata"]["name"].startswith("train-")


def test_lists_in_one_or_all_namespaces(api: Api) -> None:
    api.client.create(run("a"))
    api.client.create(run("b", namespace="default"))
    assert names(api.client.list("pipelineruns", "team")) == ["a"]
    listed = api.client.list("pipelineruns", None)
    assert names(listed) == ["b", "a"], "sorted by namespace, then name"
    assert int(listed.resource_version) >= 4
    with api.http() as http:
        body = http.get("/apis/mlkube.io/v1alpha1/pipelineruns").json()
    assert body["kind"] == "PipelineRunList" and body["apiVersion"] == "mlkube.io/v1alpha1"


def test_label_and_field_selectors(api: Api) -> None:
    api.client.create(run("gold", labels={"tier": "gold"}))
    api.client.create(run("silver", labels={"tier": "silver"}))
    api.client.create(run("plain"))
    assert names(api.client.list("pr", "team", label_selector="tier=gold")) == ["gold"]
    assert names(api.client.list("pr", "team", label_selector="tier!=gold")) == ["plain", "silver"]
    assert names(api.client.list("pr", "team", label_selector="tier in (gold,silver)")) == [
        "gold",
        "silver",
    ]
    with pytest.raises(BadRequest, match="unable to parse"):
        api.client.list("pr", "team", label_selector="tier in gold")
    with api.http() as http:
        body = http.get(RUNS, params={"fieldSelector": "metadata.name=plain"}).json()
    assert names(body["items"]) == ["plain"]


def test_delete_collection_by_label(api: Api) -> None:
    api.client.create(run("a", labels={"batch": "1"}))
    api.client.create(run("b", labels={"batch": "1"}))
    api.client.create(run("c"))
    with api.http() as http:
        response = http.delete(RUNS, params={"labelSelector": "batch=1"})
    assert response.status_code == 200
    assert names(response.json()["items"]) == ["a", "b"]
    assert names(api.client.list("pr", "team")) == ["c"]


def test_apply_creates_then_configures_and_keeps_system_metadata(api: Api) -> None:
    first, verb = api.client.apply(namespace("ml"))
    assert verb == "created"
    again, verb = api.client.apply(namespace("ml"))
    assert verb == "unchanged" and again == first
    labelled = namespace("ml")
    labelled["metadata"]["labels"] = {"team": "ml"}
    result, verb = api.client.apply(labelled)
    assert verb == "configured"
    assert result["metadata"]["finalizers"] == ["mlkube.io/namespace"], "not dropped by apply"


def test_dry_run_stores_nothing(api: Api) -> None:
    with api.http() as http:
        response = http.post(RUNS, params={"dryRun": "All"}, json=run("r"))
    assert response.status_code == 201
    assert response.json()["metadata"]["name"] == "r"
    assert api.client.list("pr", "team") == []


def test_sdk_models_can_be_sent(api: Api) -> None:
    created = api.client.create(Namespace.model_validate({"metadata": {"name": "from-model"}}))
    assert created["metadata"]["name"] == "from-model"
