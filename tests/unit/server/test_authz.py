"""The pure role rules, as a table."""

from __future__ import annotations

import pytest

from mlkube.api.kinds import CLUSTER_ROLE_BINDING, NAMESPACE, NODE, PIPELINE_RUN, ROLE_BINDING, Kind
from mlkube.api.rbac import ClusterRoleBinding, RoleBinding
from mlkube.server.authz import Grant, decide, forbidden, grants_for
from mlkube.server.routing import ResourcePath

A = "team-a"


def path(kind: Kind, namespace: str | None = A, name: str | None = None) -> ResourcePath:
    return ResourcePath(kind, namespace if kind.namespaced else "", name)


@pytest.mark.parametrize(
    ("grants", "verb", "target", "allowed"),
    [
        ([Grant("view", A)], "get", path(PIPELINE_RUN, name="r"), True),
        ([Grant("view", A)], "watch", path(PIPELINE_RUN), True),
        ([Grant("view", A)], "delete", path(PIPELINE_RUN, name="r"), False),
        ([Grant("view", A)], "get", path(PIPELINE_RUN, "team-b", "r"), False),
        ([Grant("edit", A)], "create", path(PIPELINE_RUN), True),
        ([Grant("edit", A)], "list", path(PIPELINE_RUN, None), False),  # all namespaces
        ([Grant("edit", None)], "list", path(PIPELINE_RUN, None), True),  # cluster-wide edit
        ([Grant("edit", A)], "create", path(ROLE_BINDING), False),
        ([Grant("admin", A)], "create", path(ROLE_BINDING), True),
        ([Grant("admin", A)], "get", path(NAMESPACE, name=A), True),
        ([Grant("admin", A)], "delete", path(NAMESPACE, name=A), False),
        ([Grant("admin", A)], "create", path(CLUSTER_ROLE_BINDING), False),
        ([Grant("cluster-admin", A)], "delete", path(ROLE_BINDING, name="x"), True),
        ([Grant("cluster-admin", A)], "list", path(NAMESPACE), False),
        ([Grant("cluster-admin", None)], "delete", path(NAMESPACE, name=A), True),
        ([], "list", path(NODE), True),
        ([], "update", path(NODE, name="n"), False),
        ([], "get", path(PIPELINE_RUN, name="r"), False),
    ],
)
def test_role_rules(grants: list[Grant], verb: str, target: ResourcePath, allowed: bool) -> None:
    assert decide("u", verb, target, grants) is allowed


def test_grants_come_from_matching_subjects() -> None:
    local = RoleBinding.model_validate(
        {
            "metadata": {"name": "b", "namespace": A},
            "roleRef": {"name": "edit"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "ServiceAccount", "name": "ci"},
            ],
        }
    )
    cluster = ClusterRoleBinding.model_validate(
        {
            "metadata": {"name": "c"},
            "roleRef": {"name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}],
        }
    )
    assert grants_for("alice", [local], [cluster]) == [Grant("view", None), Grant("edit", A)]
    assert grants_for("system:serviceaccount:team-a:ci", [local], []) == [Grant("edit", A)]
    assert grants_for("mallory", [local], [cluster]) == []


def test_forbidden_reads_like_kubernetes() -> None:
    err = forbidden("bob", "list", path(PIPELINE_RUN, "team-b"))
    assert err.code == 403
    assert str(err) == (
        'pipelineruns.mlkube.io is forbidden: User "bob" cannot list resource "pipelineruns" '
        'in API group "mlkube.io" in the namespace "team-b"'
    )
