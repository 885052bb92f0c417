"""The official `kubernetes` Python client against `mlkube up`, configured from the
kubeconfig that `mlkube up` writes: CRUD, status, watch and `Status` errors."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.integration.platform.conftest import UpProcess

GROUP, VERSION = "mlkube.io", "v1alpha1"
RBAC = "rbac.authorization.k8s.io"
SMP = "application/strategic-merge-patch+json"


@pytest.fixture
def api(up: UpProcess) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(up.home / "config")) as api_client:
        yield api_client


def pipeline(name: str, description: str = "first") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"description": description, "steps": [{"name": "say", "command": ["true"]}]},
    }


def status_of(err: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.body)
    assert body["kind"] == "Status" and body["code"] == err.status
    return body


def test_load_kube_config_reads_what_up_wrote(up: UpProcess) -> None:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(up.home / "config"), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        names = [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]
    assert "default" in names


def test_namespaces(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a"))
    created = core.create_namespace(body)
    assert created.metadata.name == "team-a" and created.metadata.uid
    assert core.read_namespace("team-a").metadata.uid == created.metadata.uid
    assert "team-a" in [n.metadata.name for n in core.list_namespace().items]
    core.delete_namespace("team-a")
    with pytest.raises(ApiException) as missing:
        core.read_namespace("nope")
    assert missing.value.status == 404
    assert status_of(missing.value)["reason"] == "NotFound"


def test_custom_objects_crud(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    args = (GROUP, VERSION, "default", "pipelines")
    created = custom.create_namespaced_custom_object(*args, pipeline("hello"))
    assert created["metadata"]["generation"] == 1
    assert custom.get_namespaced_custom_object(*args, "hello")["spec"]["description"] == "first"
    listed = custom.list_namespaced_custom_object(*args)
    assert listed["kind"] == "PipelineList"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["hello"]
    patched = custom.patch_namespaced_custom_object(
        *args, "hello", {"metadata": {"labels": {"team": "a"}}, "spec": {"description": "2nd"}}
    )
    assert patched["metadata"]["labels"] == {"team": "a"}
    assert patched["spec"]["description"] == "2nd"
    custom.delete_namespaced_custom_object(*args, "hello")
    with pytest.raises(ApiException) as gone:
        custom.get_namespaced_custom_object(*args, "hello")
    assert gone.value.status == 404


def test_pipelinerun_and_its_status(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    args = (GROUP, VERSION, "default", "pipelineruns")
    run = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PipelineRun",
        "metadata": {"name": "run-1"},
        "spec": {"pipelineSpec": pipeline("x")["spec"]},
    }
    custom.create_namespaced_custom_object(*args, run)
    status = custom.get_namespaced_custom_object_status(*args, "run-1")
    assert status["metadata"]["name"] == "run-1" and status["kind"] == "PipelineRun"
    listed = custom.list_namespaced_custom_object(*args)["items"]
    assert [i["metadata"]["name"] for i in listed] == ["run-1"]
    custom.delete_namespaced_custom_object(*args, "run-1")


def test_watch_sees_added_and_modified(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    args = (GROUP, VERSION, "default", "pipelines")
    custom.create_namespaced_custom_object(*args, pipeline("watched"))
    seen: list[str] = []
    stream = watch.Watch()
    for event in stream.stream(custom.list_namespaced_custom_object, *args, timeout_seconds=20):
        seen.append(event["type"])
        if event["type"] == "ADDED":
            custom.patch_namespaced_custom_object(
                *args, "watched", {"metadata": {"labels": {"seen": "yes"}}}
            )
        if event["type"] == "MODIFIED":
            assert event["object"]["metadata"]["labels"] == {"seen": "yes"}
            stream.stop()
    assert seen == ["ADDED", "MODIFIED"]


def test_role_binding(api: client.ApiClient) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="alice-edit"),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="edit"
        ),
        subjects=[
            client.RbacV1Subject(kind="User", name="alice", api_group="rbac.authorization.k8s.io")
        ],
    )
    created = rbac.create_namespaced_role_binding("default", binding)
    assert created.metadata.name == "alice-edit"
    assert created.subjects[0].name == "alice"


def test_errors_are_status_bodies(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    args = (GROUP, VERSION, "default", "pipelines")
    created = custom.create_namespaced_custom_object(*args, pipeline("p"))
    stale = created["metadata"]["resourceVersion"]
    custom.patch_namespaced_custom_object(*args, "p", {"spec": {"description": "newer"}})

    with pytest.raises(ApiException) as exists:
        custom.create_namespaced_custom_object(*args, pipeline("p"))
    assert exists.value.status == 409
    assert status_of(exists.value)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as conflict:
        custom.patch_namespaced_custom_object(
            *args, "p", {"metadata": {"resourceVersion": stale}, "spec": {"description": "x"}}
        )
    assert conflict.value.status == 409
    assert status_of(conflict.value)["reason"] == "Conflict"

    with pytest.raises(ApiException) as invalid:
        custom.create_namespaced_custom_object(*args, {**pipeline("bad"), "spec": {"steps": []}})
    assert invalid.value.status == 422
    body = status_of(invalid.value)
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"] and body["details"]["causes"][0]["field"].startswith("spec")

    with pytest.raises(ApiException) as missing:
        custom.get_namespaced_custom_object(*args, "nope")
    assert missing.value.status == 404
    assert status_of(missing.value)["details"]["name"] == "nope"


def test_strategic_merge_patch_is_a_merge_patch_for_builtin_kinds(up: UpProcess) -> None:
    written = yaml.safe_load((up.home / "config").read_text())
    server = written["clusters"][0]["cluster"]["server"]
    token = written["users"][0]["user"]["token"]
    smp = {"Authorization": f"Bearer {token}", "Content-Type": SMP}
    ca = base64.b64decode(written["clusters"][0]["cluster"]["certificate-authority-data"])
    trust = ssl.create_default_context(cadata=ca.decode())
    with httpx.Client(base_url=server, headers=smp, verify=trust) as http:
        ok = http.patch("/api/v1/namespaces/default", json={"metadata": {"labels": {"a": "1"}}})
        assert ok.status_code == 200 and ok.json()["metadata"]["labels"] == {"a": "1"}
        directive = {"metadata": {"$setElementOrder/finalizers": []}}
        refused = http.patch("/api/v1/namespaces/default", json=directive)
        assert refused.status_code == 400 and "$setElementOrder" in refused.json()["message"]
        custom = http.patch(f"/apis/{GROUP}/{VERSION}/namespaces/default/pipelines/x", json={})
        assert custom.status_code == 415
