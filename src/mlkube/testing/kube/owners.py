"""Owner references: how the fake controllers mark and find what they created (pure)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mlkube.api.errors import ApiError
from mlkube.store.base import ResourceStore
from mlkube.testing.kube.resources import POD, Served

log = logging.getLogger(__name__)
CreatePod = Callable[[dict[str, Any]], dict[str, Any]]


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The controller reference a dependent of `owner` carries."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the object's controlling owner, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def by_controller(objects: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Objects grouped by their controlling owner's uid (those without one are left out)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        uid = controller_uid(obj)
        if uid is not None:
            grouped.setdefault(uid, []).append(obj)
    return grouped


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class PodOwnerController:
    """A controller of objects that own pods (Jobs, Deployments): one pass reconciles every
    object of `resource` that is not being deleted, with the pods it controls. An API error on
    one object is logged and retried on the next pass."""

    resource: Served

    def __init__(self, store: ResourceStore, *, create_pod: CreatePod) -> None:
        self._store = store
        self._create_pod = create_pod  # stores a pod as the API would

    def reconcile(self) -> None:
        owners, _ = self._store.list(self.resource.resource)
        pods = by_controller(self._store.list(POD.resource)[0])
        for owner in owners:
            if is_deleting(owner):
                continue
            try:
                self._reconcile(owner, pods.get(owner["metadata"]["uid"], []))
            except ApiError as err:
                log.debug("%s %s: %s", self.resource.kind, owner["metadata"]["name"], err)

    def _reconcile(self, owner: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        raise NotImplementedError
