"""An InferenceService's status from the controller's view of it (pure)."""

from __future__ import annotations

from datetime import datetime

from mlkube.api.meta import Condition, set_condition
from mlkube.api.pipelinerun import StepUsage
from mlkube.api.serving import InferenceService, InferenceServiceStatus, RevisionStatus
from mlkube.controllers.serving.replicas import RevisionState, ServiceState

__all__ = ["build_status", "readiness"]


def build_status(
    service: ServiceState, isvc: InferenceService, *, base_url: str | None, now: datetime
) -> InferenceServiceStatus:
    """What `kubectl get isvc` shows: URL, revisions with traffic and replicas, Ready."""
    old = isvc.status
    revisions = [
        _revision(rev, service.percents.get(rev.name, 0))
        for rev in sorted(service.revisions.values(), key=lambda r: r.number)
    ]
    ready_names = [r.name for r in revisions if r.ready]
    latest_ready = ready_names[-1] if ready_names else old.latest_ready_revision
    if latest_ready not in service.revisions:
        latest_ready = None
    status = InferenceServiceStatus(
        url=f"{base_url}/serving/{service.namespace}/{service.name}" if base_url else None,
        observed_generation=isvc.metadata.generation,
        latest_created_revision=service.latest,
        latest_ready_revision=latest_ready,
        previous_rolledout_revision=service.previous,
        revisions=revisions,
        replicas=sum(r.replicas for r in revisions),
        ready_replicas=sum(r.ready_replicas for r in revisions),
        conditions=old.conditions,
        last_scale_time=service.last_scale_time or old.last_scale_time,
        scale_reason=service.scale_reason or old.scale_reason,
    )
    ok, reason, message = readiness(service)
    condition = Condition(
        type="Ready",
        status="True" if ok else "False",
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=isvc.metadata.generation,
    )
    status.conditions = set_condition(old.conditions, condition)
    return status


def _revision(rev: RevisionState, percent: int) -> RevisionStatus:
    return RevisionStatus(
        name=rev.name,
        fingerprint=rev.fingerprint,
        storage_uri=rev.storage_uri,
        model_format=rev.model_format,
        model_path=rev.model_path,
        resources=rev.resources,
        batching=rev.batching,
        percent=percent,
        replicas=len(rev.live()),
        ready_replicas=len(rev.ready()),
        desired_replicas=rev.desired,
        restarts=rev.restarts,
        ready=bool(rev.ready()),
        message=rev.message,
        usage=_usage(rev),
    )


def _usage(rev: RevisionState) -> StepUsage | None:
    usage = rev.usage
    if not usage.samples:
        return None
    return StepUsage(
        cpu_cores_avg=round(usage.cpu_sum / usage.samples, 3),
        cpu_cores_max=round(usage.cpu_max, 3),
        memory_bytes_max=usage.memory_max,
        samples=usage.samples,
    )


def readiness(service: ServiceState) -> tuple[bool, str, str]:
    """Ready when every revision that takes traffic can answer: it has a ready replica, or it
    is scaled to zero on purpose (the router's activator wakes it on the next request)."""
    serving = [service.revisions[n] for n, p in service.percents.items() if p > 0]
    if not serving and service.latest in service.revisions:
        serving = [service.revisions[service.latest]]
    for rev in serving:
        if rev.ready():
            continue
        if rev.model_path is None:
            return False, "ModelNotFound", f"{rev.name}: {rev.message}"
        if rev.message.startswith("Unschedulable"):
            return False, "Unschedulable", f"{rev.name}: {rev.message}"
        if rev.failures_in_row:
            return False, "ReplicaFailed", f"{rev.name}: {rev.message}"
        if rev.desired == 0 and rev.initialized:
            continue
        return False, "ReplicasStarting", f"{rev.name}: {rev.message or 'starting replicas'}"
    if all(not rev.ready() for rev in serving):
        return True, "ScaledToZero", "no replica runs; the first request starts one"
    total = sum(len(r.ready()) for r in serving)
    return True, "Serving", f"{total} ready replica(s)"
