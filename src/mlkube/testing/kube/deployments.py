"""The fake cluster's Deployment controller (apps/v1), level-triggered.

It keeps `spec.replicas` pods of the current template, owned DIRECTLY by the Deployment (no
ReplicaSet in between: `kubectl rollout` history and ReplicaSet objects are not produced),
labelled `pod-template-hash`. A template change replaces every old pod at once (like the
`Recreate` strategy, whatever `strategy` says); pods that end (Succeeded/Failed) are
replaced. `status.replicas/updatedReplicas/readyReplicas/availableReplicas` and the
`Available` condition follow the pods (`minReadySeconds` is ignored: ready is available).
Scaling through the `/scale` subresource writes `spec.replicas`, which this then follows.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlkube.api.errors import NotFound
from mlkube.store.objects import format_time
from mlkube.testing.kube.owners import (
    PodOwnerController,
    is_deleting,
    is_ready,
    owner_reference,
    phase,
)
from mlkube.testing.kube.resources import DEPLOYMENT, POD

HASH_LABEL = "pod-template-hash"


class DeploymentController(PodOwnerController):
    """Reconciles every Deployment in `store`; `create_pod` stores a pod as the API would."""

    resource = DEPLOYMENT

    def _reconcile(self, deployment: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        spec = deployment["spec"]
        wanted = int(spec.get("replicas", 1))
        template_hash = template_hash_of(spec["template"])
        live = [p for p in pods if not is_deleting(p)]
        current = [
            p for p in live if _hash(p) == template_hash and phase(p) not in ("Succeeded", "Failed")
        ]
        stale = [p for p in live if p not in current]
        # Scale down the pods least far along first: not yet ready, then the newest.
        current.sort(key=lambda p: (not is_ready(p), p["metadata"].get("creationTimestamp", "")))
        self._delete(stale + current[wanted:])
        current = current[:wanted]
        for _ in range(wanted - len(current)):
            current.append(self._create_pod(pod_for(deployment, template_hash)))
        self._write(deployment, current)

    def _delete(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            try:
                self._store.delete(
                    POD.resource, pod["metadata"]["namespace"], pod["metadata"]["name"]
                )
            except NotFound:
                continue

    def _write(self, deployment: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        ready = sum(1 for p in pods if is_ready(p))
        wanted = int(deployment["spec"].get("replicas", 1))
        status: dict[str, Any] = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        if wanted - ready > 0:
            status["unavailableReplicas"] = wanted - ready
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        available = "True" if ready >= wanted else "False"
        reason = "MinimumReplicasAvailable" if available == "True" else "MinimumReplicasUnavailable"
        status["conditions"] = [_condition(deployment, "Available", available, reason)]
        candidate = copy.deepcopy(deployment)
        candidate["status"] = status
        self._store.update_status(DEPLOYMENT.resource, candidate)


def template_hash_of(template: Mapping[str, Any]) -> str:
    """A short stable hash of a pod template (what `pod-template-hash` holds)."""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def pod_for(deployment: Mapping[str, Any], template_hash: str) -> dict[str, Any]:
    """A new pod of `deployment`'s current template."""
    meta, template = deployment["metadata"], copy.deepcopy(deployment["spec"]["template"])
    labels = {**(template.get("metadata", {}).get("labels") or {}), HASH_LABEL: template_hash}
    pod_meta: dict[str, Any] = {
        "generateName": f"{meta['name']}-{template_hash}-",
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(deployment)],
    }
    if template.get("metadata", {}).get("annotations"):
        pod_meta["annotations"] = dict(template["metadata"]["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template["spec"]}


def _hash(pod: Mapping[str, Any]) -> str | None:
    labels: Mapping[str, str] = (pod.get("metadata") or {}).get("labels") or {}
    return labels.get(HASH_LABEL)


def _condition(deployment: Mapping[str, Any], kind: str, value: str, reason: str) -> dict[str, Any]:
    """The condition, keeping its times when it has not changed (so the write is a no-op)."""
    for old in (deployment.get("status") or {}).get("conditions") or []:
        if old.get("type") == kind and old.get("status") == value and old.get("reason") == reason:
            return dict(old)
    now = format_time(datetime.now(UTC))
    message = (
        "Deployment has minimum availability."
        if value == "True"
        else "Deployment does not have minimum availability."
    )
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }
