"""Cluster mode's inputs besides the spec: a `pipelinerun://` model located as its run's
artifact, the VPA the `mlkube.io/vpa` annotation asks for, and the cached look for the VPA CRD;
then what `serving_plan` makes of them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from mlkube.api.kinds import PIPELINE_RUN
from mlkube.api.pipelinerun import ArtifactRef
from mlkube.api.serving import InferenceService
from mlkube.controllers.serving.cluster_inputs import ModelMissing, locate_model
from mlkube.controllers.serving.crd_presence import CRDS, CrdPresence
from mlkube.controllers.serving_cluster import (
    DEPLOYMENTS,
    VPA_CRD,
    VPAS,
    ServingPlan,
    serving_plan,
)
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.testing.clock import FakeClock
from mlkube.testing.memory_store import MemoryStore

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
UID = "0b6c3b3e-8f1e-4d55-9a53-3f1f0e9b7a11"
TEAM = "team-a"
DIGEST = "sha256:" + "ab" * 32
ARTIFACT = {"uri": "file:///data/artifacts/sha256/ab/ab", "digest": DIGEST, "size": 10}
S3_ARTIFACT = {**ARTIFACT, "uri": "s3://models/team/sha256/ab/ab"}


def service(
    uri: str = "file:///models/iris.joblib", *, annotations: dict[str, str] | None = None
) -> InferenceService:
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": uri}
    meta = {"name": "iris", "namespace": TEAM, "uid": UID, "annotations": annotations or {}}
    return InferenceService.model_validate(
        {"metadata": meta, "spec": {"predictor": {"model": model}}}
    )


def container(plan: ServingPlan) -> dict[str, Any]:
    (deployment,) = [w.object for w in plan.writes if w.resource == DEPLOYMENTS]
    main: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return main


def env(plan: ServingPlan) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(plan)["env"]}


def condition(plan: ServingPlan, type_: str) -> dict[str, Any] | None:
    assert plan.status is not None
    return next((c for c in plan.status["conditions"] if c["type"] == type_), None)


def stored(plan: ServingPlan) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for write in plan.writes:
        obj = copy.deepcopy(write.object)
        obj["metadata"]["resourceVersion"] = "3"
        out[(write.resource, obj["metadata"]["name"])] = obj
    return out


# -- the model: a run's artifact, fetched by the replica -------------------------------------


def put_run(
    store: MemoryStore,
    *,
    phase: str = "Succeeded",
    step_phase: str = "Succeeded",
    output: dict[str, Any] | None = None,
) -> None:
    value = output if output is not None else {"name": "model", "artifact": ARTIFACT}
    spec = {"pipelineSpec": {"steps": [{"name": "fit", "command": ["true"]}]}}
    meta = {"name": "train-1", "namespace": TEAM}
    created = store.create(PIPELINE_RUN.resource, {"metadata": meta, "spec": spec})
    status = {
        "phase": phase,
        "outputs": [value],
        "steps": [{"name": "fit", "phase": step_phase, "outputs": [value]}],
    }
    store.update_status(PIPELINE_RUN.resource, {**created, "status": status})


@pytest.mark.parametrize("uri", ["pipelinerun://train-1/model", "pipelinerun://train-1/fit/model"])
def test_a_run_output_is_located_as_its_artifact(uri: str) -> None:
    store = MemoryStore()
    put_run(store)
    assert locate_model(store, TEAM, uri) == ArtifactRef.model_validate(ARTIFACT)


@pytest.mark.parametrize(
    ("uri", "run", "says"),
    [
        ("pipelinerun://nope/model", {}, "pipelinerun team-a/nope not found"),
        ("pipelinerun://train-1/model", {"phase": "Running"}, "has not succeeded (phase Running)"),
        ("pipelinerun://train-1/fit/model", {"step_phase": "Failed"}, "step 'fit'"),
        ("pipelinerun://train-1/weights", {}, "has no output 'weights' (model)"),
        ("pipelinerun://train-1/other/model", {}, "has no step 'other'"),
        (
            "pipelinerun://train-1/model",
            {"output": {"name": "model", "value": 0.97}},
            "output 'model' of pipelinerun train-1 is an inline value, not a model artifact",
        ),
    ],
)
def test_a_model_that_cannot_be_located_says_why(uri: str, run: dict[str, Any], says: str) -> None:
    store = MemoryStore()
    put_run(store, **run)
    missing = locate_model(store, TEAM, uri)
    assert isinstance(missing, ModelMissing)
    assert says in missing.message


def test_a_path_needs_no_lookup() -> None:
    assert locate_model(MemoryStore(), TEAM, "file:///models/iris.joblib") is None


def test_the_replica_is_told_the_artifact_to_fetch_instead_of_a_path() -> None:
    artifact = ArtifactRef.model_validate(ARTIFACT)
    isvc = service("pipelinerun://train-1/model")
    plan = serving_plan(isvc, {}, settings=ClusterSettings(), now=NOW, model=artifact)
    assert "--model" not in container(plan)["command"]
    assert env(plan)["MLKUBE_MODEL_ARTIFACT_URI"] == ARTIFACT["uri"]
    assert env(plan)["MLKUBE_MODEL_ARTIFACT_DIGEST"] == DIGEST
    assert "MLKUBE_ARTIFACT_STORE" not in env(plan)
    assert env(plan)["MLKUBE_MODEL_URI"] == "pipelinerun://train-1/model"


def test_an_object_store_artifact_comes_with_the_store_and_its_credentials() -> None:
    settings = ClusterSettings(artifact_store="s3://models/team/", artifact_credentials_secret="s3")
    artifact = ArtifactRef.model_validate(S3_ARTIFACT)
    plan = serving_plan(
        service("pipelinerun://train-1/model"), {}, settings=settings, now=NOW, model=artifact
    )
    assert env(plan)["MLKUBE_ARTIFACT_STORE"] == "s3://models/team"
    assert env(plan)["MLKUBE_MODEL_ARTIFACT_URI"] == S3_ARTIFACT["uri"]
    assert container(plan)["envFrom"] == [{"secretRef": {"name": "s3"}}]


def test_an_object_store_artifact_without_a_store_setting_is_refused() -> None:
    artifact = ArtifactRef.model_validate(S3_ARTIFACT)
    isvc = service("pipelinerun://train-1/model")
    plan = serving_plan(isvc, {}, settings=ClusterSettings(), now=NOW, model=artifact)
    assert plan.writes == []
    ready = condition(plan, "Ready")
    assert ready is not None and ready["reason"] == "InvalidSpec"
    assert ready["message"].startswith("spec.predictor.model.storageUri: ")
    assert "artifactStore" in ready["message"]


def test_a_missing_model_writes_nothing_and_is_looked_at_again_soon() -> None:
    missing = ModelMissing("pipelinerun train-1 has not succeeded (phase Running)")
    isvc = service("pipelinerun://train-1/model")
    plan = serving_plan(isvc, {}, settings=ClusterSettings(), now=NOW, model=missing)
    assert plan.writes == []
    assert plan.retry_seconds is not None and plan.retry_seconds < 60
    ready = condition(plan, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "ModelNotReady")
    assert ready["message"] == missing.message


# -- the VerticalPodAutoscaler ---------------------------------------------------------------


def plan_for(
    annotations: dict[str, str] | None,
    *,
    installed: bool = True,
    existing: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> ServingPlan:
    return serving_plan(
        service(annotations=annotations),
        existing or {},
        settings=ClusterSettings(),
        now=NOW,
        vpa_installed=installed,
    )


def test_a_vpa_is_made_when_asked_and_its_crd_is_installed() -> None:
    plan = plan_for({"mlkube.io/vpa": "Off"})
    (vpa,) = [w for w in plan.writes if w.resource == VPAS]
    assert vpa.verb == "create"
    assert vpa.object["spec"]["updatePolicy"] == {"updateMode": "Off"}
    assert vpa.object["metadata"]["ownerReferences"][0]["uid"] == UID
    made = condition(plan, "VerticalPodAutoscaler")
    assert made is not None and (made["status"], made["reason"]) == ("True", "Applied")


def test_without_the_crd_no_vpa_and_a_condition_says_why() -> None:
    plan = plan_for({"mlkube.io/vpa": "Off"}, installed=False)
    assert [w.resource for w in plan.writes if w.resource == VPAS] == []
    assert len(plan.writes) == 3  # the Deployment, Service and HPA are made all the same
    why = condition(plan, "VerticalPodAutoscaler")
    assert why is not None and (why["status"], why["reason"]) == ("False", "CRDNotInstalled")
    assert VPA_CRD in why["message"]


def test_no_annotation_no_vpa_and_no_condition() -> None:
    plan = plan_for(None)
    assert [w.resource for w in plan.writes if w.resource == VPAS] == []
    assert condition(plan, "VerticalPodAutoscaler") is None


def test_a_new_mode_updates_the_vpa_and_dropping_the_annotation_deletes_it() -> None:
    existing = stored(plan_for({"mlkube.io/vpa": "Off"}))
    changed = plan_for({"mlkube.io/vpa": "Initial"}, existing=existing)
    assert [(w.verb, w.resource) for w in changed.writes] == [("update", VPAS)]
    assert changed.writes[0].object["spec"]["updatePolicy"] == {"updateMode": "Initial"}
    assert changed.writes[0].object["metadata"]["resourceVersion"] == "3"
    dropped = plan_for(None, existing=existing)
    assert [(w.verb, w.resource, w.object["metadata"]["name"]) for w in dropped.writes] == [
        ("delete", VPAS, "iris-predictor")
    ]


def test_another_services_vpa_is_never_deleted() -> None:
    existing = stored(plan_for({"mlkube.io/vpa": "Off"}))
    vpa = existing[(VPAS, "iris-predictor")]
    vpa["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    existing = {(VPAS, "other-predictor"): vpa}
    assert [w for w in plan_for(None, existing=existing).writes if w.resource == VPAS] == []


@pytest.mark.parametrize("value", ["Auto", "Recreate", "true", ""])
def test_an_evicting_or_unknown_mode_is_refused_naming_the_annotation(value: str) -> None:
    plan = plan_for({"mlkube.io/vpa": value})
    assert plan.writes == []
    ready = condition(plan, "Ready")
    assert ready is not None and ready["reason"] == "InvalidSpec"
    assert ready["message"].startswith(
        "metadata.annotations[mlkube.io/vpa]: must be Off or Initial"
    )


# -- the VPA CRD, looked for now and then --------------------------------------------------


def vpa_crd(*, served: bool = True, established: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": VPA_CRD},
        "spec": {"versions": [{"name": "v1", "served": served, "storage": True}]},
        "status": {
            "conditions": [{"type": "Established", "status": "True" if established else "False"}]
        },
    }


class CountingStore(MemoryStore):
    """Counts the reads of CRDs, to see the cache at work."""

    crd_reads = 0

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        if resource == CRDS:
            self.crd_reads += 1
        return super().get(resource, namespace, name)


def test_the_crd_is_looked_for_once_per_recheck_period() -> None:
    clock, store = FakeClock(), CountingStore()
    presence = CrdPresence(store, VPA_CRD, version="v1", clock=clock, recheck_seconds=300)
    assert [presence.installed() for _ in range(5)] == [False] * 5
    assert store.crd_reads == 1
    created = store.create(CRDS, vpa_crd())
    store.update_status(CRDS, {**created, "status": vpa_crd()["status"]})
    clock.advance(299)
    assert presence.installed() is False  # the cached answer, until the recheck is due
    clock.advance(1)
    assert presence.installed() is True
    assert store.crd_reads == 2


@pytest.mark.parametrize(
    ("served", "established", "installed"),
    [(True, True, True), (False, True, False), (True, False, False)],
)
def test_the_crd_counts_once_established_and_serving_the_version(
    served: bool, established: bool, installed: bool
) -> None:
    store = MemoryStore()
    crd = vpa_crd(served=served, established=established)
    created = store.create(CRDS, crd)
    store.update_status(CRDS, {**created, "status": crd["status"]})
    presence = CrdPresence(store, VPA_CRD, version="v1", clock=FakeClock())
    assert presence.installed() is installed
