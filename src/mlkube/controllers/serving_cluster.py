"""Cluster mode: each InferenceService becomes a Deployment, a Service and an HPA.

`serving_objects` (runtime.kubernetes.serving) builds the objects; this controller keeps
them applied and reports the Deployment back in the InferenceService's status:

- ONE revision, the latest spec, named `<isvc>-predictor`: the embedded controller's
  revisions, canary traffic splitting and router are not run in cluster mode. A spec with
  `canaryTrafficPercent` rolls out the latest model to every replica and says so in a
  `CanarySupported: False` condition.
- Every object is owned by the InferenceService (a controller ownerReference), so Kubernetes'
  garbage collector deletes them with it; this controller never deletes anything.
- The objects carry a hash of the spec we built (`mlkube.io/spec-hash`): an object is
  rewritten only when what we would build changes, never for the fields the API server
  defaults. A Deployment keeps its `spec.replicas` once created: from then on the
  HorizontalPodAutoscaler owns the replica count, and we would fight it otherwise.
- The model is read from `storageUri` as a path inside the pod (`file:///p` or `/p`); the
  builder does not fetch models yet, so a `pipelinerun://` output cannot be served here and
  the Ready condition says so.
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
from mlkube.api.meta import Condition, set_condition
from mlkube.api.serving import InferenceService, InferenceServiceStatus
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.serving import Revision, serving_objects
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.store.base import ResourceStore
from mlkube.store.kube_http import ResourceInfo

__all__ = [
    "DEPLOYMENTS",
    "SERVING_RESOURCES",
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
# The store keys of the objects we write, for a store over a Kubernetes API server.
SERVING_RESOURCES: dict[str, ResourceInfo] = {
    DEPLOYMENTS: ("apps", "v1", "deployments", True),
    SERVICES: ("", "v1", "services", True),
    HPAS: ("autoscaling", "v2", "horizontalpodautoscalers", True),
}
_RESOURCE_OF_KIND = {"Deployment": DEPLOYMENTS, "Service": SERVICES}
SPEC_HASH = "mlkube.io/spec-hash"
RESYNC_SECONDS = 60.0  # level-triggered backstop: undoes hand edits of our objects


@dataclass(frozen=True)
class ObjectWrite:
    """One write: `object` is the full body to create, or to update (resourceVersion kept)."""

    verb: Literal["create", "update"]
    resource: str
    object: dict[str, Any]


@dataclass(frozen=True)
class ServingPlan:
    """What to write for one InferenceService: its objects, then its status (None: as is)."""

    writes: list[ObjectWrite] = field(default_factory=list)
    status: dict[str, Any] | None = None


def serving_plan(
    isvc: InferenceService,
    existing: Mapping[tuple[str, str], dict[str, Any]],
    *,
    settings: ClusterSettings,
    now: datetime,
) -> ServingPlan:
    """The writes that apply `isvc`'s objects over `existing` ((resource, name) -> stored
    object) and the status they give it at `now`. Pure."""
    revision_name = f"{isvc.metadata.name}-predictor"
    try:
        path = model_path(isvc.spec.predictor.model.storage_uri)
        built = serving_objects(isvc, Revision(revision_name, path), settings)
    except TranslationError as err:
        ready = Condition(type="Ready", status="False", reason="InvalidSpec", message=str(err))
        return ServingPlan([], _changed(isvc, _status(isvc, None, ready, now=now)))
    writes = [w for obj in built if (w := _write(obj, existing)) is not None]
    deployment = existing.get((DEPLOYMENTS, built[0]["metadata"]["name"]))
    status = _status(isvc, deployment, _ready(deployment), now=now)
    status["url"] = f"http://{built[1]['metadata']['name']}.{built[1]['metadata']['namespace']}"
    status["url"] += ".svc.cluster.local"
    status["latestCreatedRevision"] = revision_name
    if status["readyReplicas"] >= 1:
        status["latestReadyRevision"] = revision_name
    return ServingPlan(writes, _changed(isvc, status))


def model_path(storage_uri: str) -> str:
    """The model's path inside the pod: the local path of a `file://` or plain path URI."""
    if storage_uri.startswith("file://"):
        return storage_uri.removeprefix("file://")
    if storage_uri.startswith("/"):
        return storage_uri
    raise TranslationError(
        "spec.predictor.model.storageUri",
        "cluster mode serves a model from a path inside the pod (file:///PATH or /PATH); "
        "fetching a pipelinerun:// output into the pod is not built yet",
    )


def resource_of(obj: Mapping[str, Any]) -> str:
    """The store key of one built object."""
    return _RESOURCE_OF_KIND.get(str(obj["kind"]), HPAS)


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


def _ready(deployment: Mapping[str, Any] | None) -> Condition:
    if deployment is None:
        return Condition(
            type="Ready", status="False", reason="Creating", message="creating the Deployment"
        )
    status = deployment.get("status") or {}
    ready, wanted = int(status.get("readyReplicas") or 0), int(status.get("replicas") or 0)
    if ready >= 1:
        message = f"{ready} of {wanted} replicas ready"
        return Condition(type="Ready", status="True", reason="ReplicasReady", message=message)
    message = f"0 of {wanted} replicas ready: waiting for the model server's readiness probe"
    return Condition(type="Ready", status="False", reason="NoReadyReplicas", message=message)


def _status(
    isvc: InferenceService,
    deployment: Mapping[str, Any] | None,
    ready: Condition,
    *,
    now: datetime,
) -> dict[str, Any]:
    conditions = set_condition(
        list(isvc.status.conditions), ready.model_copy(update={"last_transition_time": now})
    )
    canary = isvc.spec.predictor.canary_traffic_percent
    if canary is not None:
        message = (
            f"canaryTrafficPercent {canary} is ignored in cluster mode: "
            "the latest spec serves all traffic"
        )
        unsupported = Condition(
            type="CanarySupported", status="False", reason="NotInCluster", message=message
        )
        conditions = set_condition(
            conditions, unsupported.model_copy(update={"last_transition_time": now})
        )
    else:
        conditions = [c for c in conditions if c.type != "CanarySupported"]
    dstatus = (deployment or {}).get("status") or {}
    status = InferenceServiceStatus.model_validate(
        {
            "observedGeneration": isvc.metadata.generation,
            "replicas": int(dstatus.get("replicas") or 0),
            "readyReplicas": int(dstatus.get("readyReplicas") or 0),
        }
    ).model_copy(update={"conditions": conditions})
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def _changed(isvc: InferenceService, status: dict[str, Any]) -> dict[str, Any] | None:
    have = isvc.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return None if have == status else status


def owning_service(obj: Mapping[str, Any]) -> str | None:
    """`namespace/name` of the InferenceService that controls `obj`, if one does."""
    meta = obj.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == INFERENCE_SERVICE.kind and ref.get("controller"):
            return f"{meta.get('namespace')}/{ref.get('name')}"
    return None


class ServingClusterController:
    """Applies each InferenceService's Deployment, Service and HPA and reports their
    state back (see the module docstring). `store` must serve `SERVING_RESOURCES`."""

    def __init__(self, store: ResourceStore, *, settings: ClusterSettings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

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
        plan = serving_plan(
            isvc, self._existing(namespace), settings=self.settings, now=self.clock.now()
        )
        for write in plan.writes:
            self._act(write)
        if plan.status is not None:
            try:
                self.store.update_status(INFERENCE_SERVICE.resource, {**obj, "status": plan.status})
            except Conflict:
                return 0.0  # changed meanwhile: its event queues us again; look now anyway
        return RESYNC_SECONDS

    def _existing(self, namespace: str) -> dict[tuple[str, str], dict[str, Any]]:
        selector = "app.kubernetes.io/component=model-server"
        out = {}
        for resource in (DEPLOYMENTS, SERVICES, HPAS):
            for obj in self.store.list(resource, namespace, label_selector=selector)[0]:
                out[(resource, obj["metadata"]["name"])] = obj
        return out

    def _act(self, write: ObjectWrite) -> None:
        meta = write.object["metadata"]
        try:
            if write.verb == "create":
                self.store.create(write.resource, write.object)
            else:
                self.store.update(write.resource, write.object)
        except AlreadyExists:
            # Not labelled as ours (or created a moment ago): never taken over silently.
            log.warning(
                "a %s %s/%s exists that we did not create",
                write.resource,
                meta["namespace"],
                meta["name"],
            )
        else:
            log.info(
                "%sd %s %s/%s",
                write.verb.rstrip("e"),
                write.resource,
                meta["namespace"],
                meta["name"],
            )
