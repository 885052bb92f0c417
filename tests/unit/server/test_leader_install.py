"""What `mlkube install --kubernetes` gives the operator for leader election."""

from __future__ import annotations

from typing import Any

from mlkube.install import install_manifests
from mlkube.install.operator import DEFAULT_IMAGE, NAME, REPLICAS
from mlkube.server.leader import DEFAULT_LEASE_NAME

OBJECTS = install_manifests(image=DEFAULT_IMAGE, namespace="ml-ops")


def _one(kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def test_two_replicas_each_know_their_pod_name() -> None:
    deployment = _one("Deployment", NAME)
    assert deployment["spec"]["replicas"] == REPLICAS == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container["env"]
        if "valueFrom" in e
    }
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    assert container["command"] == ["mlkube", "operator"]  # leader election is on by default


def test_leases_may_be_read_created_and_updated_in_the_operator_namespace_only() -> None:
    role = _one("Role", f"{NAME}-leader-election")
    assert role["metadata"]["namespace"] == "ml-ops"
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update"],
        }
    ]
    binding = _one("RoleBinding", f"{NAME}-leader-election")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": "ml-ops"}]
    assert DEFAULT_LEASE_NAME == NAME  # the Lease is named after the operator
