"""Discovery documents are built from the kind table."""

from __future__ import annotations

from mlkube.server.discovery import api_group_list, api_resource_list, groups, version_info


def test_groups() -> None:
    assert groups() == {
        "mlkube.io": ["v1alpha1"],
        "rbac.authorization.k8s.io": ["v1"],
        "scheduling.k8s.io": ["v1"],
    }
    listed = api_group_list()["groups"]
    assert listed[0] == {
        "name": "mlkube.io",
        "versions": [{"groupVersion": "mlkube.io/v1alpha1", "version": "v1alpha1"}],
        "preferredVersion": {"groupVersion": "mlkube.io/v1alpha1", "version": "v1alpha1"},
    }
    assert listed[1]["name"] == "rbac.authorization.k8s.io"


def test_resources_with_subresources() -> None:
    doc = api_resource_list("mlkube.io", "v1alpha1")
    by_name = {r["name"]: r for r in doc["resources"]}
    assert doc["groupVersion"] == "mlkube.io/v1alpha1"
    assert set(by_name) == {
        "pipelines",
        "pipelineruns",
        "pipelineruns/status",
        "pipelineruns/log",
        "resourceflavors",
        "clusterqueues",
        "clusterqueues/status",
        "inferenceservices",
        "inferenceservices/status",
        "trainingjobs",
        "trainingjobs/status",
        "trainingjobs/log",
    }
    runs = by_name["pipelineruns"]
    assert runs["kind"] == "PipelineRun" and runs["singularName"] == "pipelinerun"
    assert runs["namespaced"] is True and "watch" in runs["verbs"]
    assert runs["shortNames"] == ["pr", "plr"]
    assert by_name["pipelineruns/status"]["verbs"] == ["get", "patch", "update"]


def test_core_resources() -> None:
    doc = api_resource_list("", "v1")
    assert doc["groupVersion"] == "v1"
    names = [r["name"] for r in doc["resources"]]
    assert names == [
        "namespaces",
        "namespaces/status",
        "nodes",
        "nodes/status",
        "resourcequotas",
        "resourcequotas/status",
        "persistentvolumeclaims",
        "persistentvolumeclaims/status",
    ]


def test_version_looks_like_kubernetes() -> None:
    info = version_info()
    assert info["major"] == "1" and info["gitVersion"].startswith("v1.")
    assert "mlkube" in info["gitVersion"]
