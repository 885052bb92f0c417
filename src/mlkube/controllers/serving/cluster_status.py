"""The status the operator writes on an InferenceService: replica counts from its Deployment
and the conditions (`Ready`, `CanarySupported`, `VerticalPodAutoscaler`). Pure.

A condition keeps its `lastTransitionTime` while its status holds (`set_condition`); a
condition that no longer applies is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mlkube.api.meta import Condition, set_condition
from mlkube.api.serving import InferenceService, InferenceServiceStatus

__all__ = ["VPA_CONDITION", "changed", "condition", "ready_condition", "service_status"]

VPA_CONDITION = "VerticalPodAutoscaler"


def condition(type_: str, status: bool, reason: str, message: str) -> Condition:
    """A condition with `status` as Kubernetes spells it."""
    return Condition(
        type=type_, status="True" if status else "False", reason=reason, message=message
    )


def ready_condition(deployment: Mapping[str, Any] | None) -> Condition:
    """`Ready` from the Deployment: True once one replica is ready."""
    if deployment is None:
        return condition("Ready", False, "Creating", "creating the Deployment")
    status = deployment.get("status") or {}
    ready, wanted = int(status.get("readyReplicas") or 0), int(status.get("replicas") or 0)
    if ready >= 1:
        return condition("Ready", True, "ReplicasReady", f"{ready} of {wanted} replicas ready")
    message = f"0 of {wanted} replicas ready: waiting for the model server's readiness probe"
    return condition("Ready", False, "NoReadyReplicas", message)


def service_status(
    isvc: InferenceService,
    deployment: Mapping[str, Any] | None,
    ready: Condition,
    *,
    vpa: Condition | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The status as the API stores it: `ready`, the canary and `vpa` conditions (None: the
    service asks for no VPA), and the Deployment's replica counts."""
    conditions = _put(list(isvc.status.conditions), ready, now)
    canary = isvc.spec.predictor.canary_traffic_percent
    unsupported = None
    if canary is not None:
        message = (
            f"canaryTrafficPercent {canary} is ignored in cluster mode: "
            "the latest spec serves all traffic"
        )
        unsupported = condition("CanarySupported", False, "NotInCluster", message)
    conditions = _put_or_drop(conditions, "CanarySupported", unsupported, now)
    conditions = _put_or_drop(conditions, VPA_CONDITION, vpa, now)
    dstatus = (deployment or {}).get("status") or {}
    status = InferenceServiceStatus.model_validate(
        {
            "observedGeneration": isvc.metadata.generation,
            "replicas": int(dstatus.get("replicas") or 0),
            "readyReplicas": int(dstatus.get("readyReplicas") or 0),
        }
    ).model_copy(update={"conditions": conditions})
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def changed(isvc: InferenceService, status: dict[str, Any]) -> dict[str, Any] | None:
    """`status`, or None when the service already has it."""
    have = isvc.status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return None if have == status else status


def _put(conditions: list[Condition], new: Condition, now: datetime) -> list[Condition]:
    return set_condition(conditions, new.model_copy(update={"last_transition_time": now}))


def _put_or_drop(
    conditions: list[Condition], type_: str, new: Condition | None, now: datetime
) -> list[Condition]:
    if new is None:
        return [c for c in conditions if c.type != type_]
    return _put(conditions, new, now)
