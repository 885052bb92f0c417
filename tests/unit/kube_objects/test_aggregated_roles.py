"""`mlkube install --kubernetes` adds our kinds to the built-in view, edit and admin roles."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.kinds import KINDS
from mlkube.api.meta import API_GROUP
from mlkube.install import DEFAULT_IMAGE, install_manifests
from mlkube.install.aggregation import aggregated_cluster_roles

ROLES = {r["metadata"]["name"]: r for r in aggregated_cluster_roles()}
OURS = [k for k in KINDS if k.group == API_GROUP]


def _allows(role: str, resource: str, verb: str) -> bool:
    return any(
        API_GROUP in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in ROLES[role]["rules"]
    )


def _aggregated_into(role: dict[str, Any]) -> set[str]:
    prefix = "rbac.authorization.k8s.io/aggregate-to-"
    labels = role["metadata"]["labels"]
    return {
        k.removeprefix(prefix) for k, v in labels.items() if k.startswith(prefix) and v == "true"
    }


def test_installed_after_the_operator_objects() -> None:
    objs = install_manifests(image=DEFAULT_IMAGE)
    assert objs[-2:] == aggregated_cluster_roles()
    # The operator's own ClusterRole stays the first one (tests find it so).
    first = next(o for o in objs if o["kind"] == "ClusterRole")
    assert first["metadata"]["name"] == "mlkube-operator"


def test_reading_reaches_view_edit_and_admin_and_writing_edit_and_admin() -> None:
    assert _aggregated_into(ROLES["mlkube-view"]) == {"view", "edit", "admin"}
    assert _aggregated_into(ROLES["mlkube-edit"]) == {"edit", "admin"}


@pytest.mark.parametrize("kind", OURS, ids=lambda k: k.plural)
def test_view_reads_every_kind_of_ours(kind: Any) -> None:
    for verb in ("get", "list", "watch"):
        assert _allows("mlkube-view", kind.plural, verb)
    assert not _allows("mlkube-view", kind.plural, "create")
    has_status = "status" in kind.model.model_fields
    assert _allows("mlkube-view", f"{kind.plural}/status", "get") == has_status


@pytest.mark.parametrize("kind", OURS, ids=lambda k: k.plural)
def test_edit_changes_only_the_namespaced_kinds(kind: Any) -> None:
    for verb in ("create", "update", "patch", "delete"):
        assert _allows("mlkube-edit", kind.plural, verb) == kind.namespaced
    assert not _allows("mlkube-edit", f"{kind.plural}/status", "update")
