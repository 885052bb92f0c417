"""Cluster mode: each InferenceService becomes a Deployment, a Service, an HPA (and a VPA).

`serving_objects` (runtime.kubernetes.serving) builds the objects; this controller keeps
them applied and reports the Deployment back in the InferenceService's status:

- ONE revision, the latest spec, named `<isvc>-predictor`: the embedded controller's
  revisions, canary traffic splitting and router are not run in cluster mode. A spec with
  `canaryTrafficPercent` rolls out the latest model to every replica and says so in a
  `CanarySupported: False` condition.
- Every object is owned by the InferenceService (a controller ownerReference), so Kubernetes'
  garbage collector deletes them with it. The one object this controller deletes itself is a
  VPA the service no longer asks for.
- The objects carry a hash of the spec we built (`mlkube.io/spec-hash`): an object is
  rewritten only when what we would build changes, never for the fields the API server
  defaults. A Deployment keeps its `spec.replicas` once created: from then on the
  HorizontalPodAutoscaler owns the replica count, and we would fight it otherwise.
- The model: `file:///p` or `/p` is a path inside the pod. `pipelinerun://RUN/[STEP/]OUTPUT`
  is resolved here to the run's output artifact (as the embedded controller does); the
  replica fetches it when it starts (its URI and digest are in the pod's environment). A
  run that is missing or has not succeeded, a missing output or an inline value: `Ready`
  False with reason `ModelNotReady` naming it, nothing written, and a look again soon.
- A VerticalPodAutoscaler when the service asks for one (the `mlkube.io/vpa` annotation,
  see `controllers.serving.cluster_inputs`) AND the VPA CRD is installed (asked of the API
  server every few minutes, `CrdPresence`); the `VerticalPodAutoscaler` condition says
  whether one was made, and why not.
- Status: `url` (the in-cluster Service URL), `replicas`, `readyReplicas` (the Deployment's),
  and `Ready` (True once one replica is ready).

Decide first (`serving_plan`, pure), act second (`ServingClusterController.reconcile`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from mlkube.api.clock import Clock
from mlkube.api.errors import AlreadyExists, Conflict, NotFound
from mlkube.api.kinds import INFERENCE_SERVICE
from mlkube.api.meta import Condition
from mlkube.api.pipelinerun import ArtifactRef
from mlkube.api.serving import InferenceService
from mlkube.controllers.serving.cluster_inputs import (
    ModelChoice,
    ModelMissing,
    locate_model,
    vpa_update_mode,
)
from mlkube.controllers.serving.cluster_status import (
    VPA_CONDITION,
    changed,
    condition,
    ready_condition,
    service_status,
)
from mlkube.controllers.serving.crd_presence import CRD_RESOURCES, CrdPresence
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.serving import Revision, serving_objects
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.store.base import ResourceStore
from mlkube.store.kube_http import ResourceInfo

__all__ = [
    "DEPLOYMENTS",
    "SERVING_RESOURCES",
    "VPAS",
    "VPA_CRD",
    "ObjectWrite",
    "ServingClusterController",
    "ServingPlan",
    "owning_service",
    "serving_plan",
]

log = logging.getLogger("mlkube.controllers.serving_cluster")

DEPLOYMENTS = "deployments.apps"
SERVICES = "services"
HPAS = "horizontalpodautoscalers.autoscaling"
VPAS = "verticalpodautoscalers.autoscaling.k8s.io"
VPA_CRD = VPAS  # a CRD is named `<plural>.<group>`, as the store keys it
# The store keys of the objects we write or read, for a store over a Kubernetes API server.
SERVING_RESOURCES: dict[str, ResourceInfo] = {
    DEPLOYMENTS: ("apps", "v1", "deployments", True),
    SERVICES: ("", "v1", "services", True),
    HPAS: ("autoscaling", "v2", "horizontalpodautoscalers", True),
    VPAS: ("autoscaling.k8s.io", "v1", "verticalpodautoscalers", True),
    **CRD_RESOURCES,
}
_RESOURCE_OF_KIND = {
    "Deployment": DEPLOYMENTS,
    "Service": SERVICES,
    "HorizontalPodAutoscaler": HPAS,
    "VerticalPodAutoscaler": VPAS,
}
SPEC_HASH = "mlkube.io/spec-hash"
RESYNC_SECONDS = 60.0  # level-triggered backstop: undoes hand edits of our objects
MODEL_RETRY_SECONDS = 5.0  # a run still going: look again soon (its events do not wake us)


@dataclass(frozen=True)
class ObjectWrite:
    """One write: `object` is the full body to create, or to update (resourceVersion kept),
    or to delete (its name and namespace are what count)."""

    verb: Literal["create", "update", "delete"]
    resource: str
    object: dict[str, Any]


@dataclass(frozen=True)
class ServingPlan:
    """What to write for one InferenceService: its objects, then its status (None: as is);
    `retry_seconds`: when to look again sooner than the resync (None: no need)."""

    writes: list[ObjectWrite] = field(default_factory=list)
    status: dict[str, Any] | None = None
    retry_seconds: float | None = None


def serving_plan(
    isvc: InferenceService,
    existing: Mapping[tuple[str, str], dict[str, Any]],
    *,
    settings: ClusterSettings,
    now: datetime,
    model: ModelChoice = None,
    vpa_installed: bool = False,
) -> ServingPlan:
    """The writes that apply `isvc`'s objects over `existing` ((resource, name) -> stored
    object) and the status they give it at `now`. `model` is what `locate_model` found for
    its storageUri; `vpa_installed` whether the VPA CRD is. Pure."""
    revision_name = f"{isvc.metadata.name}-predictor"
    if isinstance(model, ModelMissing):
        ready = condition("Ready", False, "ModelNotReady", model.message)
        status = service_status(isvc, None, ready, now=now)
        return ServingPlan([], changed(isvc, status), MODEL_RETRY_SECONDS)
    try:
        revision = Revision(revision_name, *_model_of(isvc, model))
        mode = vpa_update_mode(isvc)
        vpa = mode is not None and vpa_installed
        built = serving_objects(isvc, revision, settings, vpa=vpa, vpa_update_mode=mode or "Off")
    except TranslationError as err:
        ready = condition("Ready", False, "InvalidSpec", str(err))
        return ServingPlan([], changed(isvc, service_status(isvc, None, ready, now=now)))
    writes = [w for obj in built if (w := _write(obj, existing)) is not None]
    writes += _unwanted_vpas(built, existing)
    deployment = existing.get((DEPLOYMENTS, built[0]["metadata"]["name"]))
    status = service_status(
        isvc, deployment, ready_condition(deployment), vpa=_vpa_condition(mode, vpa), now=now
    )
    status["url"] = f"http://{built[1]['metadata']['name']}.{built[1]['metadata']['namespace']}"
    status["url"] += ".svc.cluster.local"
    status["latestCreatedRevision"] = revision_name
    if status["readyReplicas"] >= 1:
        status["latestReadyRevision"] = revision_name
    return ServingPlan(writes, changed(isvc, status))


def _model_of(isvc: InferenceService, model: ArtifactRef | None) -> tuple[str, ArtifactRef | None]:
    """(path inside the pod, artifact) for the Revision: one of them is set."""
    if model is not None:
        return "", model
    return model_path(isvc.spec.predictor.model.storage_uri), None


def model_path(storage_uri: str) -> str:
    """The model's path inside the pod: the local path of a `file://` or plain path URI."""
    if storage_uri.startswith("file://"):
        return storage_uri.removeprefix("file://")
    if storage_uri.startswith("/"):
        return storage_uri
    raise TranslationError(
        "spec.predictor.model.storageUri",
        "a pipelinerun:// model must be resolved to its run's artifact first (locate_model)",
    )


def _vpa_condition(mode: str | None, made: bool) -> Condition | None:
    if mode is None:
        return None
    if made:
        return condition(VPA_CONDITION, True, "Applied", f"a VerticalPodAutoscaler in {mode} mode")
    message = (
        f"no VerticalPodAutoscaler was made: its CRD ({VPA_CRD}) is not installed on this "
        "cluster (looked for again every few minutes)"
    )
    return condition(VPA_CONDITION, False, "CRDNotInstalled", message)


def _unwanted_vpas(
    built: list[dict[str, Any]], existing: Mapping[tuple[str, str], dict[str, Any]]
) -> list[ObjectWrite]:
    """Deletes of the stored VPAs of this service that it no longer asks for."""
    owner_uid = built[0]["metadata"]["ownerReferences"][0]["uid"]
    wanted = {o["metadata"]["name"] for o in built if resource_of(o) == VPAS}
    return [
        ObjectWrite("delete", VPAS, obj)
        for (resource, name), obj in existing.items()
        if resource == VPAS
        and name not in wanted
        and any(r.get("uid") == owner_uid for r in obj["metadata"].get("ownerReferences") or [])
    ]


def resource_of(obj: Mapping[str, Any]) -> str:
    """The store key of one built object."""
    return _RESOURCE_OF_KIND[str(obj["kind"])]


def _write(
    obj: dict[str, Any], existing: Mapping[tuple[str, str], dict[str, Any]]
) -> ObjectWrite | None:
    resource, name = resource_of(obj), obj["metadata"]["name"]
    digest = spec_hash(obj)
    meta = {**obj["metadata"], "annotations": {SPEC_HASH: digest}}
    have = existing.get((resource, name))
    if have is None:
        return ObjectWrite("create", resource, {**obj, "metadata": meta})
    if ((have["metadata"].get("annotations") or {}).get(SPEC_HASH)) == digest:
        return None
    spec = dict(obj["spec"])
    if resource == DEPLOYMENTS and "replicas" in have.get("spec", {}):
        spec["replicas"] = have["spec"]["replicas"]  # the HPA's, once it exists
    annotations = {**(have["metadata"].get("annotations") or {}), SPEC_HASH: digest}
    have_meta = {**have["metadata"], "labels": meta["labels"], "annotations": annotations}
    have_meta["ownerReferences"] = meta["ownerReferences"]
    return ObjectWrite("update", resource, {**have, "metadata": have_meta, "spec": spec})


def spec_hash(obj: Mapping[str, Any]) -> str:
    """A short digest of what we built (spec and labels): equal means nothing to write."""
    text = json.dumps([obj["spec"], obj["metadata"]["labels"]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def owning_service(obj: Mapping[str, Any]) -> str | None:
    """`namespace/name` of the InferenceService that controls `obj`, if one does."""
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == INFERENCE_SERVICE.kind and ref.get("controller"):
            return f"{meta.get('namespace')}/{ref.get('name')}"
    return None


class ServingClusterController:
    """Applies each InferenceService's Deployment, Service, HPA (and VPA) and reports their
    state back (see the module docstring). `store` must serve `SERVING_RESOURCES`."""

    def __init__(self, store: ResourceStore, *, settings: ClusterSettings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.vpa_crd = CrdPresence(store, VPA_CRD, version="v1", clock=clock)

    def reconcile(self, key: str) -> float | None:
        """One InferenceService (`namespace/name`); a deleted one needs nothing (the garbage
        collector deletes what it owned). Returns when to look again."""
        namespace, _, name = key.partition("/")
        try:
            obj = self.store.get(INFERENCE_SERVICE.resource, namespace, name)
        except NotFound:
            return None
        try:
            isvc = InferenceService.model_validate(obj)
        except ValidationError as err:  # the API server validates; an old object may not
            log.error("ignoring invalid InferenceService %s: %s", key, err)
            return None
        plan = self._plan(isvc, namespace)
        for write in plan.writes:
            self._act(write)
        if plan.status is not None:
            try:
                self.store.update_status(INFERENCE_SERVICE.resource, {**obj, "status": plan.status})
            except Conflict:
                return 0.0  # changed meanwhile: its event queues us again; look now anyway
        return plan.retry_seconds or RESYNC_SECONDS

    def _plan(self, isvc: InferenceService, namespace: str) -> ServingPlan:
        """Load what the plan needs (the run a model comes from, the VPA CRD, our objects)."""
        vpa_installed = self.vpa_crd.installed()
        return serving_plan(
            isvc,
            self._existing(namespace, vpas=vpa_installed),
            settings=self.settings,
            now=self.clock.now(),
            model=locate_model(self.store, namespace, isvc.spec.predictor.model.storage_uri),
            vpa_installed=vpa_installed,
        )

    def _existing(self, namespace: str, *, vpas: bool) -> dict[tuple[str, str], dict[str, Any]]:
        selector = "app.kubernetes.io/component=model-server"
        out = {}
        # Without the CRD the API server has no VPA resource to list (a 404).
        for resource in (DEPLOYMENTS, SERVICES, HPAS, *((VPAS,) if vpas else ())):
            for obj in self.store.list(resource, namespace, label_selector=selector)[0]:
                out[(resource, obj["metadata"]["name"])] = obj
        return out

    def _act(self, write: ObjectWrite) -> None:
        meta = write.object["metadata"]
        where = f"{write.resource} {meta['namespace']}/{meta['name']}"
        try:
            if write.verb == "create":
                self.store.create(write.resource, write.object)
            elif write.verb == "update":
                self.store.update(write.resource, write.object)
            else:
                self.store.delete(write.resource, meta["namespace"], meta["name"])
        except AlreadyExists:
            # Not labelled as ours (or created a moment ago): never taken over silently.
            log.warning("a %s exists that we did not create", where)
        except NotFound:
            log.info("%s is already gone", where)
        else:
            log.info(
                "%s %s",
                {"create": "created", "update": "updated"}.get(write.verb, "deleted"),
                where,
            )
