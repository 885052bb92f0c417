"""`serving_plan`: an InferenceService's Deployment, Service and HPA writes and its status,
as a pure function of the service, the stored objects and the time."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from mlkube.api.serving import InferenceService
from mlkube.controllers.serving_cluster import (
    DEPLOYMENTS,
    HPAS,
    SERVICES,
    SPEC_HASH,
    ServingPlan,
    owning_service,
    serving_plan,
)
from mlkube.runtime.kubernetes.settings import ClusterSettings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 5, 1, 12, 5, tzinfo=UTC)
SETTINGS = ClusterSettings()
UID = "0b6c3b3e-8f1e-4d55-9a53-3f1f0e9b7a11"
NAME = "iris-predictor"


def service(uri: str = "file:///models/iris.joblib", **predictor: Any) -> InferenceService:
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": uri}
    return InferenceService.model_validate(
        {
            "metadata": {"name": "iris", "namespace": "team-a", "uid": UID, "generation": 1},
            "spec": {"predictor": {"model": model, **predictor}},
        }
    )


def stored(plan: ServingPlan, *, replicas: int = 1, ready: int = 0) -> dict[tuple[str, str], Any]:
    """The plan's creates as the API server would keep them: a resourceVersion, a status."""
    out = {}
    for write in plan.writes:
        obj = copy.deepcopy(write.object)
        obj["metadata"]["resourceVersion"] = "7"
        if write.resource == DEPLOYMENTS:
            obj["status"] = {"replicas": replicas, "readyReplicas": ready}
        out[(write.resource, obj["metadata"]["name"])] = obj
    return out


def with_status(isvc: InferenceService, status: dict[str, Any] | None) -> InferenceService:
    body = isvc.model_dump(by_alias=True, mode="json")
    return InferenceService.model_validate({**body, "status": status or body["status"]})


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_a_new_service_creates_its_three_objects_owned_by_it() -> None:
    plan = serving_plan(service(maxReplicas=3), {}, settings=SETTINGS, now=NOW)
    assert [(w.verb, w.resource, w.object["metadata"]["name"]) for w in plan.writes] == [
        ("create", DEPLOYMENTS, NAME),
        ("create", SERVICES, "iris"),
        ("create", HPAS, NAME),
    ]
    for write in plan.writes:
        meta = write.object["metadata"]
        assert meta["ownerReferences"][0]["uid"] == UID
        assert SPEC_HASH in meta["annotations"]
    command = plan.writes[0].object["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--model") + 1] == "/models/iris.joblib"
    assert plan.writes[2].object["spec"]["maxReplicas"] == 3
    assert plan.status is not None
    assert plan.status["url"] == "http://iris.team-a.svc.cluster.local"
    assert ready_condition(plan.status)["reason"] == "Creating"


@pytest.mark.parametrize(
    ("ready", "wanted", "status", "reason"),
    [
        (0, 1, "False", "NoReadyReplicas"),
        (1, 1, "True", "ReplicasReady"),
        (1, 3, "True", "ReplicasReady"),
    ],
)
def test_ready_follows_the_deployments_ready_replicas(
    ready: int, wanted: int, status: str, reason: str
) -> None:
    isvc = service()
    existing = stored(
        serving_plan(isvc, {}, settings=SETTINGS, now=NOW), replicas=wanted, ready=ready
    )
    plan = serving_plan(isvc, existing, settings=SETTINGS, now=NOW)
    assert plan.writes == []
    assert plan.status is not None
    assert (plan.status["readyReplicas"], plan.status["replicas"]) == (ready, wanted)
    assert (ready_condition(plan.status)["status"], ready_condition(plan.status)["reason"]) == (
        status,
        reason,
    )
    assert ("latestReadyRevision" in plan.status) == (ready >= 1)


def test_a_second_pass_over_its_own_result_writes_nothing() -> None:
    isvc = service()
    first = serving_plan(isvc, {}, settings=SETTINGS, now=NOW)
    existing = stored(first, ready=1)
    second = serving_plan(isvc, existing, settings=SETTINGS, now=NOW)
    again = serving_plan(with_status(isvc, second.status), existing, settings=SETTINGS, now=LATER)
    assert again == ServingPlan([], None)


def test_a_spec_change_updates_in_place_and_leaves_the_replica_count_to_the_hpa() -> None:
    existing = stored(serving_plan(service(), {}, settings=SETTINGS, now=NOW), replicas=4)
    existing[(DEPLOYMENTS, NAME)]["spec"]["replicas"] = 4  # as the HPA set it
    changed = service(minReplicas=2, maxReplicas=6, resources={"cpu": "2"})
    plan = serving_plan(changed, existing, settings=SETTINGS, now=NOW)
    writes = {w.resource: w for w in plan.writes}
    assert {w.verb for w in plan.writes} == {"update"}
    assert set(writes) == {DEPLOYMENTS, HPAS}  # the Service's selector and port are unchanged
    deployment = writes[DEPLOYMENTS].object
    assert deployment["spec"]["replicas"] == 4
    assert deployment["metadata"]["resourceVersion"] == "7"
    hpa = writes[HPAS].object["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)


def test_canary_traffic_is_reported_as_unsupported_and_the_latest_is_rolled_out() -> None:
    plan = serving_plan(service(canaryTrafficPercent=10), {}, settings=SETTINGS, now=NOW)
    assert len(plan.writes) == 3
    assert plan.status is not None
    canary = next(c for c in plan.status["conditions"] if c["type"] == "CanarySupported")
    assert canary["status"] == "False"
    assert "canaryTrafficPercent 10" in canary["message"]


def test_a_run_output_not_located_first_is_refused_and_nothing_is_written() -> None:
    # The controller locates it (`locate_model`); see test_serving_cluster_inputs.py.
    plan = serving_plan(service("pipelinerun://train-1/model"), {}, settings=SETTINGS, now=NOW)
    assert plan.writes == []
    assert plan.status is not None
    ready = ready_condition(plan.status)
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"].startswith("spec.predictor.model.storageUri: ")


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    isvc = service()
    first = serving_plan(isvc, {}, settings=SETTINGS, now=NOW)
    existing = stored(first, ready=0)
    later = serving_plan(with_status(isvc, first.status), existing, settings=SETTINGS, now=LATER)
    assert later.status is not None
    assert ready_condition(later.status)["lastTransitionTime"] == "2026-05-01T12:00:00Z"


@pytest.mark.parametrize(
    ("refs", "owner"),
    [
        ([{"kind": "InferenceService", "name": "iris", "controller": True}], "team-a/iris"),
        ([{"kind": "InferenceService", "name": "iris"}], None),
        ([{"kind": "ReplicaSet", "name": "x", "controller": True}], None),
        ([], None),
    ],
)
def test_owning_service(refs: list[dict[str, Any]], owner: str | None) -> None:
    obj = {"metadata": {"namespace": "team-a", "name": NAME, "ownerReferences": refs}}
    assert owning_service(obj) == owner
