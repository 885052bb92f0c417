"""The webhook's AdmissionReview handling: the embedded API's checks, answered as a review."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.errors import BadRequest, Cause
from mlkube.api.kinds import Kind
from mlkube.api.meta import Model
from mlkube.controllers.admission import capacity_check, queue_checks
from mlkube.controllers.storage_quota import storage_quota_check
from mlkube.scheduling.node_fit import NodeCapacity
from mlkube.server.admission_webhook import review_response
from mlkube.server.context import ApiContext
from mlkube.testing.memory_store import MemoryStore

NODE = NodeCapacity("node-1", (0, 1, 2, 3), 8 * 2**30, ())
UID = "705ab4f5-6393-11e8-b7cc-42010a800002"


def run(*cpus: str, name: str = "train-1", **spec: Any) -> dict[str, Any]:
    steps = [
        {"name": f"s{i}", "command": ["true"], "resources": {"cpu": cpu}}
        for i, cpu in enumerate(cpus)
    ]
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": "team-a", "uid": "u-1", "generation": 1},
        "spec": {"pipelineSpec": {"steps": steps}, **spec},
    }


def review(
    obj: Any,
    *,
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    kind: str = "PipelineRun",
    group: str = "mlkube.io",
    sub: str | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": UID,
        "kind": {"group": group, "version": "v1alpha1", "kind": kind},
        "resource": {"group": group, "version": "v1alpha1", "resource": "pipelineruns"},
        "name": "train-1",
        "namespace": "team-a",
        "operation": operation,
        "userInfo": {"username": "alice"},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
    }
    if sub:
        request["subResource"] = sub
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def ctx(store: MemoryStore) -> ApiContext:
    return ApiContext(store, admission=[capacity_check(NODE), queue_checks(store, dict)])


def response(answer: dict[str, Any]) -> dict[str, Any]:
    assert (answer["apiVersion"], answer["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    assert answer["response"]["uid"] == UID
    return dict(answer["response"])


def test_a_run_that_fits_is_allowed(ctx: ApiContext) -> None:
    assert response(review_response(review(run("2", "4")), ctx)) == {"uid": UID, "allowed": True}


def test_steps_beyond_the_node_are_denied_with_every_cause(ctx: ApiContext) -> None:
    answer = response(review_response(review(run("1", "64", "5")), ctx))
    assert answer["allowed"] is False
    status = answer["status"]
    assert (status["code"], status["reason"], status["status"]) == (422, "Invalid", "Failure")
    assert status["message"] == (
        'PipelineRun "train-1" is invalid: '
        "spec.pipelineSpec.steps[1].resources: step 's1' requests cpu 64 but node node-1 has "
        "4 CPUs; "
        "spec.pipelineSpec.steps[2].resources: step 's2' requests cpu 5 but node node-1 has 4 CPUs"
    )
    assert [c["field"] for c in status["details"]["causes"]] == [
        "spec.pipelineSpec.steps[1].resources",
        "spec.pipelineSpec.steps[2].resources",
    ]
    assert {c["reason"] for c in status["details"]["causes"]} == {"Unschedulable"}
    assert status["details"]["kind"] == "PipelineRun"
    assert status["details"]["group"] == "mlkube.io"


def test_an_object_our_models_refuse_is_denied_naming_the_field(ctx: ApiContext) -> None:
    bad = run("1")
    bad["spec"]["pipelineSpec"]["steps"][0]["resources"]["cpu"] = "lots"
    bad["spec"]["bogus"] = True
    status = response(review_response(review(bad), ctx))["status"]
    assert status["code"] == 422
    fields = [c["field"] for c in status["details"]["causes"]]
    assert "spec.bogus" in fields
    assert "spec.pipelineSpec.steps[0].resources.cpu" in fields
    assert status["message"].startswith('PipelineRun "train-1" is invalid: ')


def test_a_missing_priority_class_is_denied(ctx: ApiContext) -> None:
    status = response(review_response(review(run("1", priorityClassName="vip")), ctx))["status"]
    assert status["message"] == (
        'PipelineRun "train-1" is invalid: spec.priorityClassName: no PriorityClass named "vip"'
    )


def test_an_update_that_changes_the_spec_is_judged(ctx: ApiContext) -> None:
    old, new = run("1"), run("64")
    answer = response(review_response(review(new, operation="UPDATE", old=old), ctx))
    assert answer["allowed"] is False
    assert answer["status"]["details"]["causes"][0]["field"] == (
        "spec.pipelineSpec.steps[0].resources"
    )
    fits = response(review_response(review(run("2"), operation="UPDATE", old=old), ctx))
    assert fits["allowed"] is True


def test_an_update_that_leaves_the_spec_alone_is_allowed(ctx: ApiContext) -> None:
    """Finalizers and labels written on a run admitted when the cluster was bigger."""
    old = run("64")
    new = run("64")
    new["metadata"]["finalizers"] = ["mlkube.io/cleanup"]
    assert response(review_response(review(new, operation="UPDATE", old=old), ctx))["allowed"]


@pytest.mark.parametrize(
    ("operation", "group", "sub"),
    [
        ("DELETE", "mlkube.io", None),
        ("CONNECT", "mlkube.io", None),
        ("UPDATE", "mlkube.io", "status"),
        ("CREATE", "batch", None),
    ],
)
def test_what_is_not_a_write_of_our_kinds_is_allowed(
    ctx: ApiContext, operation: str, group: str, sub: str | None
) -> None:
    obj = run("64")
    answer = review_response(review(obj, operation=operation, group=group, sub=sub, old=obj), ctx)
    assert response(answer)["allowed"] is True


def test_a_quota_refusal_keeps_its_403(store: MemoryStore) -> None:
    store.create(
        "resourcequotas",
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "runs", "namespace": "team-a"},
            "spec": {"hard": {"count/pipelineruns.mlkube.io": "0"}},
        },
    )
    ctx = ApiContext(store, admission=[storage_quota_check(store)])
    status = response(review_response(review(run("1")), ctx))["status"]
    assert (status["code"], status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        'pipelineruns.mlkube.io "train-1" is forbidden: exceeded quota: runs, requested: '
        "count/pipelineruns.mlkube.io=1, used: count/pipelineruns.mlkube.io=0, limited: "
        "count/pipelineruns.mlkube.io=0"
    )


def test_a_check_that_breaks_denies_with_500_and_the_server_goes_on(store: MemoryStore) -> None:
    def broken(kind: Kind, obj: Model, operation: str) -> list[Cause]:
        raise KeyError("flavor")

    ctx = ApiContext(store, admission=[broken])
    status = response(review_response(review(run("1")), ctx))["status"]
    assert (status["code"], status["reason"]) == (500, "InternalError")
    assert status["message"] == "admission check failed: KeyError: 'flavor'"


def test_a_missing_object_is_denied_naming_it(ctx: ApiContext) -> None:
    status = response(review_response(review(None), ctx))["status"]
    assert (status["code"], status["message"]) == (
        400,
        "request.object: Required value: the object to admit",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the body must be a JSON object (an AdmissionReview)"),
        ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}, "v1"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "request.uid"),
    ],
)
def test_what_is_not_a_v1_review_is_a_bad_request(ctx: ApiContext, body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        review_response(body, ctx)
