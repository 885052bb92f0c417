"""Which writes the fake kube-apiserver sends to a webhook, and how it words a refusal."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.errors import BadRequest, Forbidden, Invalid
from mlkube.testing.kube.resources import by_resource
from mlkube.testing.kube.webhooks import denial, rule_matches

RUNS = by_resource("pipelineruns.mlkube.io")
QUEUES = by_resource("clusterqueues.mlkube.io")
PODS = by_resource("pods")


def rule(**fields: Any) -> dict[str, Any]:
    base = {
        "apiGroups": ["mlkube.io"],
        "apiVersions": ["v1alpha1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["pipelineruns"],
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "served", "operation", "sub", "matches"),
    [
        ({}, RUNS, "CREATE", None, True),
        ({}, RUNS, "UPDATE", None, True),
        ({}, RUNS, "DELETE", None, False),
        ({"operations": ["*"]}, RUNS, "DELETE", None, True),
        ({}, RUNS, "UPDATE", "status", False),
        ({"resources": ["pipelineruns/status"]}, RUNS, "UPDATE", "status", True),
        ({"resources": ["pipelineruns/status"]}, RUNS, "UPDATE", None, False),
        ({"resources": ["*"]}, QUEUES, "CREATE", None, True),
        ({"resources": ["*"]}, RUNS, "UPDATE", "status", False),
        ({"resources": ["*/*"]}, RUNS, "UPDATE", "status", True),
        ({"resources": ["*/*"]}, RUNS, "CREATE", None, True),
        ({"resources": ["*/status"]}, QUEUES, "UPDATE", "status", True),
        ({"resources": ["pipelineruns/*"]}, RUNS, "UPDATE", "status", True),
        ({}, QUEUES, "CREATE", None, False),
        ({"resources": ["pods"]}, PODS, "CREATE", None, False),
        (
            {"apiGroups": ["*"], "resources": ["pods"], "apiVersions": ["*"]},
            PODS,
            "CREATE",
            None,
            True,
        ),
        ({"apiVersions": ["v1"]}, RUNS, "CREATE", None, False),
        ({"scope": "Namespaced"}, RUNS, "CREATE", None, True),
        ({"scope": "Cluster"}, RUNS, "CREATE", None, False),
        ({"scope": "Cluster", "resources": ["*"]}, QUEUES, "CREATE", None, True),
    ],
)
def test_rules_match_as_upstream(
    fields: dict[str, Any], served: Any, operation: str, sub: str | None, matches: bool
) -> None:
    assert rule_matches(rule(**fields), served, operation, sub) is matches


def test_a_denial_keeps_the_webhooks_code_details_and_causes() -> None:
    status = {
        "code": 422,
        "reason": "Invalid",
        "message": 'PipelineRun "r" is invalid: spec: no',
        "details": {
            "kind": "PipelineRun",
            "name": "r",
            "causes": [{"field": "spec", "message": "no"}],
        },
    }
    err = denial("validate.mlkube.io", status)
    assert isinstance(err, Invalid)
    assert err.message == (
        'admission webhook "validate.mlkube.io" denied the request: '
        'PipelineRun "r" is invalid: spec: no'
    )
    assert (err.kind, err.name, [c.field for c in err.causes]) == ("PipelineRun", "r", ["spec"])
    assert isinstance(denial("w.example.com", {"code": 403, "message": "quota"}), Forbidden)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (None, 'admission webhook "w.example.com" denied the request without explanation'),
        (
            {"code": 200, "reason": "NoWay"},
            'admission webhook "w.example.com" denied the request: NoWay',
        ),
    ],
)
def test_a_denial_without_a_message_or_a_failure_code_is_still_a_400(
    status: Any, message: str
) -> None:
    err = denial("w.example.com", status)
    assert isinstance(err, BadRequest)
    assert (err.code, err.message) == (400, message)
