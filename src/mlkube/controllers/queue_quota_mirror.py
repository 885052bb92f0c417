"""Cluster mode: mirror the ClusterQueues into each namespace's `mlkube-queues` ResourceQuota.

Our admission queues, borrows and preempts before any pod exists; the ResourceQuota that
`runtime.kubernetes.namespaces.queue_resource_quota` builds is a backstop under it, so a pod
created by other means (or by a bug of ours) still cannot take more than the queues could
ever grant. `QueueQuotaMirror` keeps that one object per namespace in line with the queues:

- created in every namespace a ClusterQueue names, updated when the queues change, deleted
  when no queue names the namespace any more;
- only objects named `mlkube-queues` AND labelled as managed by us are ever touched; any
  other ResourceQuota of a namespace is the team's or the cluster admin's;
- a namespace that does not exist yet is skipped and retried soon (the operator does not
  create namespaces; the team's admin does), and every pass is level-triggered: a periodic
  resync also undoes a hand edit of the mirrored quota.

Decide first (`mirror_plan`, pure), act second (`QueueQuotaMirror.reconcile`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from mlkube.api.errors import AlreadyExists, NotFound
from mlkube.api.kinds import CLUSTER_QUEUE, RESOURCE_QUOTA
from mlkube.api.queueing import ClusterQueue
from mlkube.runtime.kubernetes.namespaces import QUEUE_QUOTA_NAME, UNCAPPED, queue_resource_quota
from mlkube.runtime.kubernetes.pods import MANAGED_BY
from mlkube.store.base import ResourceStore

__all__ = ["MirrorAction", "QueueQuotaMirror", "mirror_plan"]

log = logging.getLogger("mlkube.controllers.queue_quota")

MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"
RESYNC_SECONDS = 60.0  # level-triggered backstop: undoes hand edits of the mirrored quota
MISSING_NAMESPACE_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class MirrorAction:
    """One write: `object` is the full body to create or update (for delete, the stored one)."""

    verb: Literal["create", "update", "delete"]
    namespace: str
    object: dict[str, Any]


def mirror_plan(
    desired: Mapping[str, dict[str, Any] | None], existing: Mapping[str, dict[str, Any]]
) -> list[MirrorAction]:
    """The writes that make `existing` (namespace -> our stored quota) match `desired`
    (namespace -> the built quota, None for none), in namespace order. Pure."""
    actions = []
    for namespace in sorted(set(desired) | set(existing)):
        want, have = desired.get(namespace), existing.get(namespace)
        if want is None and have is not None:
            actions.append(MirrorAction("delete", namespace, have))
        elif want is not None and have is None:
            actions.append(MirrorAction("create", namespace, want))
        elif want is not None and have is not None and _differs(want, have):
            actions.append(MirrorAction("update", namespace, _updated(have, want)))
    return actions


def _differs(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    return (want.get("spec") or {}).get("hard") != (have.get("spec") or {}).get("hard") or (
        _uncapped(want) != _uncapped(have)
    )


def _uncapped(obj: Mapping[str, Any]) -> str | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(UNCAPPED)
    return str(value) if value is not None else None


def _updated(have: Mapping[str, Any], want: Mapping[str, Any]) -> dict[str, Any]:
    """The stored object with the built `hard` and uncapped annotation; the rest of its
    metadata (other labels and annotations, resourceVersion for the precondition) kept."""
    meta = dict(have.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != UNCAPPED}
    uncapped = _uncapped(want)
    if uncapped is not None:
        annotations[UNCAPPED] = uncapped
    meta["annotations"] = annotations
    meta["labels"] = {**(meta.get("labels") or {}), **want["metadata"]["labels"]}
    return {**have, "metadata": meta, "spec": {**(have.get("spec") or {}), **want["spec"]}}


class QueueQuotaMirror:
    """Keeps the `mlkube-queues` ResourceQuotas of a cluster in line with its ClusterQueues
    (see the module docstring). `reconcile` ignores its key: every pass covers all queues."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def reconcile(self, _: str = "") -> float | None:
        """One pass; returns when to look again."""
        queues = self._queues()
        existing = self._mirrored()
        named = {ns for queue in queues for ns in queue.spec.namespaces}
        desired = {ns: queue_resource_quota(ns, queues) for ns in named | set(existing)}
        missing = 0
        for action in mirror_plan(desired, existing):
            missing += not self._act(action)
        return MISSING_NAMESPACE_RETRY_SECONDS if missing else RESYNC_SECONDS

    def _queues(self) -> list[ClusterQueue]:
        queues = []
        for obj in self.store.list(CLUSTER_QUEUE.resource)[0]:
            try:
                queues.append(ClusterQueue.model_validate(obj))
            except ValidationError as err:  # one bad queue must not unmirror every other
                log.error("ignoring invalid ClusterQueue %s: %s", obj["metadata"].get("name"), err)
        return queues

    def _mirrored(self) -> dict[str, dict[str, Any]]:
        """Our quotas by namespace: the right name and our label, nothing else."""
        objs = self.store.list(RESOURCE_QUOTA.resource, label_selector=MANAGED_SELECTOR)[0]
        return {
            obj["metadata"]["namespace"]: obj
            for obj in objs
            if obj["metadata"]["name"] == QUEUE_QUOTA_NAME
        }

    def _act(self, action: MirrorAction) -> bool:
        """Do one write; False when the namespace does not exist (yet)."""
        resource = RESOURCE_QUOTA.resource
        try:
            if action.verb == "create":
                self.store.create(resource, action.object)
            elif action.verb == "update":
                self.store.update(resource, action.object)
            else:
                meta = action.object["metadata"]
                self.store.delete(
                    resource,
                    action.namespace,
                    QUEUE_QUOTA_NAME,
                    resource_version=meta.get("resourceVersion"),
                )
        except NotFound:
            if action.verb != "delete":
                log.info("namespace %s not found; its queue quota waits for it", action.namespace)
                return False
        except AlreadyExists:
            # Created by hand without our label: not ours to take over.
            log.warning(
                "a ResourceQuota %s/%s exists that we do not manage",
                action.namespace,
                QUEUE_QUOTA_NAME,
            )
        else:
            log.info(
                "%sd ResourceQuota %s/%s",
                action.verb.rstrip("e"),
                action.namespace,
                QUEUE_QUOTA_NAME,
            )
        return True
