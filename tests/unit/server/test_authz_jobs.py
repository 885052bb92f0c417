"""Role rules for TrainingJobs and ResourceQuotas, as a table (Kubernetes' view/edit/admin)."""

from __future__ import annotations

import pytest

from mlkube.api.kinds import RESOURCE_QUOTA, TRAINING_JOB, Kind
from mlkube.server.authz import Grant, decide
from mlkube.server.routing import ResourcePath, parse_resource_path, subresources, verb_for

A = "team-a"
GV = "/apis/mlkube.io/v1alpha1"


def path(kind: Kind, namespace: str | None = A, name: str | None = None) -> ResourcePath:
    return ResourcePath(kind, namespace, name)


@pytest.mark.parametrize(
    ("role", "verb", "target", "allowed"),
    [
        ("view", "get", path(TRAINING_JOB, name="j"), True),
        ("view", "list", path(TRAINING_JOB), True),
        ("view", "watch", path(TRAINING_JOB), True),
        ("view", "get", ResourcePath(TRAINING_JOB, A, "j", "log"), True),
        ("view", "create", path(TRAINING_JOB), False),
        ("view", "delete", path(TRAINING_JOB, name="j"), False),
        ("view", "get", path(TRAINING_JOB, "team-b", "j"), False),
        ("edit", "create", path(TRAINING_JOB), True),
        ("edit", "delete", path(TRAINING_JOB, name="j"), True),
        ("edit", "patch", path(TRAINING_JOB, name="j"), True),
        ("admin", "deletecollection", path(TRAINING_JOB), True),
        ("view", "get", path(RESOURCE_QUOTA, name="q"), True),
        ("view", "list", path(RESOURCE_QUOTA), True),
        ("edit", "watch", path(RESOURCE_QUOTA), True),
        ("admin", "get", path(RESOURCE_QUOTA, name="q"), True),
        ("view", "get", path(RESOURCE_QUOTA, "team-b", "q"), False),
        # Setting a team's quota stays with the cluster admin.
        ("view", "update", path(RESOURCE_QUOTA, name="q"), False),
        ("edit", "create", path(RESOURCE_QUOTA), False),
        ("admin", "patch", path(RESOURCE_QUOTA, name="q"), False),
        ("admin", "delete", path(RESOURCE_QUOTA, name="q"), False),
    ],
)
def test_namespace_roles(role: str, verb: str, target: ResourcePath, allowed: bool) -> None:
    assert decide("u", verb, target, [Grant(role, A)]) is allowed


def test_a_training_job_serves_its_workers_logs_read_only() -> None:
    assert set(subresources(TRAINING_JOB)) == {"status", "log"}
    target = parse_resource_path(f"{GV}/namespaces/{A}/trainingjobs/j/log")
    assert target == ResourcePath(TRAINING_JOB, A, "j", "log")
    assert verb_for(target, "GET") == "get"
    assert verb_for(target, "PUT") is None
    assert verb_for(target, "DELETE") is None
