"""A team namespace → Namespace, a quota backstop from the queues, its quotas and bindings."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.runtime.kubernetes import TeamNamespace, TranslationError, namespace_objects
from mlkube.runtime.kubernetes.namespaces import queue_resource_quota
from tests.unit.kube_objects.specs import binding, namespace, queue, quota


def test_the_namespace_keeps_its_labels_and_enforces_restricted_pods() -> None:
    (ns,) = namespace_objects(TeamNamespace(namespace(team="vision")))
    assert ns == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "team-a",
            "labels": {
                "team": "vision",
                "app.kubernetes.io/managed-by": "mlkube-operator",
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    }


CPU8 = {"name": "cpu", "nominalQuota": "8"}


@pytest.mark.parametrize(
    ("queues", "hard", "uncapped"),
    [
        ([], None, None),
        ([queue("other", ["team-b"], [CPU8])], None, None),
        (
            [
                queue(
                    "q",
                    ["team-a"],
                    [
                        CPU8,
                        {"name": "memory", "nominalQuota": "64Gi"},
                        {"name": "nvidia.com/gpu", "nominalQuota": "4"},
                    ],
                )
            ],
            {"requests.cpu": "8", "requests.memory": "64Gi", "requests.nvidia.com/gpu": "4"},
            None,
        ),
        (
            [
                queue("q1", ["team-a", "team-b"], [CPU8]),
                queue("q2", ["team-a"], [{"name": "cpu", "nominalQuota": "1500m"}]),
            ],
            {"requests.cpu": "9500m"},
            None,
        ),
        (
            [
                queue(
                    "q",
                    ["team-a"],
                    [{"name": "cpu", "nominalQuota": "8", "borrowingLimit": "4"}],
                    cohort="org",
                )
            ],
            {"requests.cpu": "12"},
            None,
        ),
        (
            [queue("q", ["team-a"], [CPU8], cohort="org")],
            {},
            "cpu",
        ),
        (
            [
                queue(
                    "q",
                    ["team-a"],
                    [
                        {"name": "amd.com/gpu", "nominalQuota": "2", "borrowingLimit": "0"},
                        {"name": "memory", "nominalQuota": "1Gi"},
                    ],
                    cohort="org",
                )
            ],
            {"requests.amd.com/gpu": "2"},
            "memory",
        ),
    ],
)
def test_the_queue_backstop_quota(
    queues: list[Any], hard: dict[str, str] | None, uncapped: str | None
) -> None:
    built = queue_resource_quota("team-a", queues)
    if hard is None:
        assert built is None
        return
    assert built is not None
    assert built["metadata"]["name"] == "mlkube-queues"
    assert built["metadata"]["namespace"] == "team-a"
    assert built["spec"]["hard"] == hard
    assert built["metadata"].get("annotations", {}).get("mlkube.io/uncapped") == uncapped


def test_our_quotas_and_bindings_follow_the_namespace_in_order() -> None:
    team = TeamNamespace(
        namespace(),
        queues=[queue("q", ["team-a"], [CPU8])],
        quotas=[quota({"requests.storage": "10Gi", "count/pipelineruns.mlkube.io": "50"})],
        bindings=[
            binding(
                "edit",
                {"kind": "User", "name": "alice"},
                {"kind": "Group", "name": "ml"},
                {"kind": "ServiceAccount", "name": "ci"},
                {"kind": "ServiceAccount", "name": "bot", "namespace": "tools"},
            )
        ],
    )
    objs = namespace_objects(team)
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("Namespace", "team-a"),
        ("ResourceQuota", "mlkube-queues"),
        ("ResourceQuota", "team-quota"),
        ("RoleBinding", "edit-binding"),
    ]
    assert objs[2]["spec"]["hard"] == {
        "requests.storage": "10Gi",
        "count/pipelineruns.mlkube.io": "50",
    }
    role_binding = objs[3]
    assert role_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "edit",
    }
    assert role_binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ml"},
        {"kind": "ServiceAccount", "name": "ci", "namespace": "team-a"},
        {"kind": "ServiceAccount", "name": "bot", "namespace": "tools"},
    ]


@pytest.mark.parametrize("role", ["view", "edit", "admin"])
def test_each_of_our_roles_is_the_built_in_cluster_role_of_that_name(role: str) -> None:
    team = TeamNamespace(namespace(), bindings=[binding(role, {"kind": "User", "name": "bo"})])
    assert namespace_objects(team)[-1]["roleRef"]["name"] == role


def test_objects_of_another_namespace_are_refused_by_field() -> None:
    team = TeamNamespace(namespace(), bindings=[binding("view", namespace_name="team-b")])
    with pytest.raises(TranslationError) as caught:
        namespace_objects(team)
    assert caught.value.field == "metadata.namespace"
    assert "'team-b'" in caught.value.reason
