"""ClusterRoles that add our kinds to Kubernetes' built-in `view`, `edit` and `admin`.

Our RoleBindings grant those built-in roles (see `mlkube.api.rbac`), so on a cluster the
same binding must reach our custom resources too. Kubernetes aggregates the rules of every
ClusterRole labelled `rbac.authorization.k8s.io/aggregate-to-<role>: "true"` into that role.
Each role of ours names every built-in role it belongs to (reading in all three, writing in
`edit` and `admin`), rather than relying on how the built-in roles aggregate each other.
"""

from __future__ import annotations

from typing import Any

from mlkube.api.meta import API_GROUP
from mlkube.install.crds import crd_kinds
from mlkube.install.operator import labels

AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
_READ = ["get", "list", "watch"]
_WRITE = ["create", "update", "patch", "delete", "deletecollection"]


def aggregated_cluster_roles() -> list[dict[str, Any]]:
    """`mlkube-view` (read every kind of ours, and the status of those that have one)
    aggregated into `view`, `edit` and `admin`; `mlkube-edit` (change the namespaced kinds)
    into `edit` and `admin`."""
    kinds = crd_kinds()
    every = sorted(k.plural for k in kinds)
    namespaced = sorted(k.plural for k in kinds if k.namespaced)
    with_status = sorted(k.plural for k in kinds if "status" in k.model.model_fields)
    view = [
        _rule(every, _READ),
        _rule([f"{p}/status" for p in with_status], _READ),
    ]
    common = {**labels(), "app.kubernetes.io/component": "rbac"}
    return [
        _role("mlkube-view", ("view", "edit", "admin"), view, common),
        _role("mlkube-edit", ("edit", "admin"), [_rule(namespaced, _WRITE)], common),
    ]


def _rule(resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": [API_GROUP], "resources": resources, "verbs": list(verbs)}


def _role(
    name: str, into: tuple[str, ...], rules: list[dict[str, Any]], common: dict[str, str]
) -> dict[str, Any]:
    aggregate = {f"{AGGREGATE}{role}": "true" for role in into}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {**common, **aggregate}},
        "rules": rules,
    }
