"""Every generated object is valid Kubernetes, for the oldest and newest versions we support."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from mlkube.api.kinds import KINDS, PIPELINE_RUN
from mlkube.api.meta import API_GROUP
from mlkube.install import DEFAULT_IMAGE, install_manifests
from mlkube.install.crds import crd_schema, custom_resource_definitions
from tests.unit.install.structural import structural_errors

# 1.29: the oldest minor we support (CRD validation rules GA; still in vendors' extended
# support). The newest: whatever kubernetes-validate ships, so an upgrade widens the check.
OLDEST = "1.29"
NEWEST = kubernetes_validate.latest_version()
VERSIONS = (OLDEST, NEWEST)
OBJECTS = install_manifests(image=DEFAULT_IMAGE)
CRDS = custom_resource_definitions()


def _id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def test_newest_is_newer_than_oldest() -> None:
    assert tuple(map(int, NEWEST.split("."))) > (1, 29)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("obj", OBJECTS, ids=_id)
def test_validates_against_upstream_schema(obj: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(obj, version, strict=True)


def test_crds_come_first_then_the_namespace() -> None:
    kinds = [o["kind"] for o in OBJECTS]
    assert kinds[: len(CRDS)] == ["CustomResourceDefinition"] * len(CRDS)
    assert kinds[len(CRDS)] == "Namespace"


def test_a_crd_for_each_of_our_kinds_and_none_for_kubernetes_own() -> None:
    ours = {k.resource for k in KINDS if k.group == API_GROUP}
    assert {c["metadata"]["name"] for c in CRDS} == ours
    assert ours == {
        "pipelines.mlkube.io",
        "pipelineruns.mlkube.io",
        "resourceflavors.mlkube.io",
        "clusterqueues.mlkube.io",
        "inferenceservices.mlkube.io",
        "trainingjobs.mlkube.io",
    }


@pytest.mark.parametrize("kind", [k for k in KINDS if k.group == API_GROUP], ids=str)
def test_crd_names_scope_and_subresources_follow_the_kind_table(kind: Any) -> None:
    crd = next(c for c in CRDS if c["metadata"]["name"] == kind.resource)
    spec = crd["spec"]
    assert spec["scope"] == ("Namespaced" if kind.namespaced else "Cluster")
    assert spec["names"]["kind"] == kind.kind
    assert spec["names"]["plural"] == kind.plural
    assert spec["names"]["singular"] == kind.singular
    assert spec["names"].get("shortNames", []) == list(kind.short_names)
    assert spec["names"]["categories"] == ["mlkube"]
    (version,) = spec["versions"]
    assert version["name"] == kind.version
    has_status = "status" in kind.model.model_fields
    assert ("subresources" in version) == has_status
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"


@pytest.mark.parametrize("crd", CRDS, ids=_id)
def test_crd_schema_is_structural(crd: dict[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_errors(schema) == []


@pytest.mark.parametrize("crd", CRDS, ids=_id)
def test_printer_columns_point_at_fields_of_the_schema(crd: dict[str, Any]) -> None:
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"] == ".metadata.creationTimestamp":
            continue
        node = schema
        for part in column["jsonPath"].lstrip(".").split("."):
            node = node["properties"][part]
        expected = {"date": ("string", "date-time")}.get(column["type"], (column["type"], None))
        assert (node["type"], node.get("format")) == expected, column


def test_pipelinerun_shows_its_phase() -> None:
    crd = next(c for c in CRDS if c["spec"]["names"]["kind"] == "PipelineRun")
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert {"name": "Phase", "type": "string", "jsonPath": ".status.phase"} in columns


def test_envelope_is_left_to_kubernetes() -> None:
    schema = crd_schema(PIPELINE_RUN)
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["properties"]["apiVersion"] == {"type": "string"}
    assert schema["required"] == ["spec"]


def test_operator_runs_unprivileged_with_probes() -> None:
    deployment = next(o for o in OBJECTS if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == DEFAULT_IMAGE
    assert container["command"] == ["mlkube", "operator"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}


def test_namespace_and_image_are_parameters() -> None:
    objs = install_manifests(image="registry.example/mlkube:dev", namespace="ml-ops")
    namespaced = [o for o in objs if "namespace" in o["metadata"]]
    assert namespaced and all(o["metadata"]["namespace"] == "ml-ops" for o in namespaced)
    assert any(o["kind"] == "Namespace" and o["metadata"]["name"] == "ml-ops" for o in objs)
    binding = next(o for o in objs if o["kind"] == "ClusterRoleBinding")
    assert binding["subjects"][0]["namespace"] == "ml-ops"
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":dev")


def _rules() -> list[dict[str, Any]]:
    role = next(o for o in OBJECTS if o["kind"] == "ClusterRole")
    return list(role["rules"])


def _allowed(group: str, resource: str, verb: str) -> bool:
    return any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
        for r in _rules()
    )


@pytest.mark.parametrize(
    ("group", "resource", "verb"),
    [
        ("mlkube.io", "pipelineruns", "watch"),
        ("mlkube.io", "pipelineruns/status", "patch"),
        ("mlkube.io", "clusterqueues/status", "update"),
        ("", "pods", "create"),
        ("", "persistentvolumeclaims", "delete"),
        ("", "services", "update"),
        ("", "resourcequotas", "patch"),
        ("", "namespaces", "list"),
        ("", "events", "create"),
        ("batch", "jobs", "create"),
        ("apps", "deployments", "patch"),
        ("autoscaling", "horizontalpodautoscalers", "update"),
        ("rbac.authorization.k8s.io", "rolebindings", "create"),
        ("rbac.authorization.k8s.io", "roles", "create"),
    ],
)
def test_operator_may(group: str, resource: str, verb: str) -> None:
    assert _allowed(group, resource, verb)


def test_operator_may_not_touch_secrets_or_crds() -> None:
    assert not _allowed("", "secrets", "get")
    assert not _allowed("apiextensions.k8s.io", "customresourcedefinitions", "update")


def test_leader_election_leases_only_in_its_own_namespace() -> None:
    assert not _allowed("coordination.k8s.io", "leases", "update")
    role = next(o for o in OBJECTS if o["kind"] == "Role")
    assert role["metadata"]["namespace"] == "mlkube-system"
    assert role["rules"][0]["resources"] == ["leases"]
