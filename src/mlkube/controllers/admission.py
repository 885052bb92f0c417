"""Admission checks the API runs before storing: refuse work this machine can never run."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mlkube.api.errors import Cause, NotFound
from mlkube.api.kinds import CLUSTER_QUEUE, PRIORITY_CLASS, Kind
from mlkube.api.meta import Model
from mlkube.api.pipeline import Pipeline, PipelineSpec
from mlkube.api.pipelinerun import PipelineRun
from mlkube.api.queueing import ClusterQueue
from mlkube.api.trainingjob import TrainingJob
from mlkube.controllers.pipelinerun.quota_gate import queue_quota
from mlkube.scheduling.gang import gang_never
from mlkube.scheduling.node_fit import NodeCapacity, never_fits
from mlkube.scheduling.quota import FlavorResource, quota_errors
from mlkube.store.base import ResourceStore

QueueUsage = Callable[[], Mapping[str, Mapping[FlavorResource, int]]]

AdmissionCheck = Callable[[Kind, Model, str], list[Cause]]


def capacity_check(node: NodeCapacity) -> AdmissionCheck:
    """A check that names each step asking for more than `node` has in all, and each
    TrainingJob whose workers can never fit it together."""

    def check(kind: Kind, obj: Model, operation: str) -> list[Cause]:
        if isinstance(obj, Pipeline):
            return _steps_beyond(obj.spec, node, field="spec")
        if isinstance(obj, PipelineRun) and obj.spec.pipeline_spec is not None:
            return _steps_beyond(obj.spec.pipeline_spec, node, field="spec.pipelineSpec")
        if isinstance(obj, TrainingJob):
            return _gang_beyond(obj, node)
        return []

    return check


def _gang_beyond(job: TrainingJob, node: NodeCapacity) -> list[Cause]:
    """The job's N workers can never fit `node` together, even empty (the controller still
    fails a job Unschedulable when the node shrinks after it was admitted here)."""
    spec = job.spec
    reason = gang_never([spec.resources.request()] * spec.workers, node)
    if not reason:
        return []
    field = "spec.resources" if reason.startswith("each worker") else "spec.workers"
    return [Cause(field, reason, "Unschedulable")]


def _steps_beyond(spec: PipelineSpec, node: NodeCapacity, *, field: str) -> list[Cause]:
    causes = []
    for i, step in enumerate(spec.steps):
        reason = never_fits(step.resources.request(), node)
        if reason:
            causes.append(
                Cause(
                    f"{field}.steps[{i}].resources", f"step {step.name!r} {reason}", "Unschedulable"
                )
            )
    return causes


def queue_checks(store: ResourceStore, usage: QueueUsage) -> AdmissionCheck:
    """Refuse a run or TrainingJob naming a priority class that does not exist, a ClusterQueue
    claiming a namespace another queue has, and a quota lowered below what its team uses now."""

    def check(kind: Kind, obj: Model, operation: str) -> list[Cause]:
        if isinstance(obj, PipelineRun | TrainingJob) and obj.spec.priority_class_name:
            return _priority_class_causes(store, obj.spec.priority_class_name)
        if isinstance(obj, ClusterQueue):
            return _namespace_causes(store, obj) + _below_use_causes(obj, usage)
        return []

    return check


def _priority_class_causes(store: ResourceStore, name: str) -> list[Cause]:
    try:
        store.get(PRIORITY_CLASS.resource, "", name)
    except NotFound:
        return [Cause("spec.priorityClassName", f'no PriorityClass named "{name}"')]
    return []


def _namespace_causes(store: ResourceStore, queue: ClusterQueue) -> list[Cause]:
    owners = {
        ns: other["metadata"]["name"]
        for other in store.list(CLUSTER_QUEUE.resource)[0]
        if other["metadata"]["name"] != queue.metadata.name
        for ns in (other.get("spec") or {}).get("namespaces") or []
    }
    return [
        Cause(
            f"spec.namespaces[{i}]",
            f'namespace "{ns}" already belongs to ClusterQueue "{owners[ns]}"',
        )
        for i, ns in enumerate(queue.spec.namespaces)
        if ns in owners
    ]


def _below_use_causes(queue: ClusterQueue, usage: QueueUsage) -> list[Cause]:
    used = usage().get(queue.metadata.name or "", {})
    return [
        Cause("spec.resourceGroups", message)
        for message in quota_errors(queue_quota(queue), dict(used))
    ]
