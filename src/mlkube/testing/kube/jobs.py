"""The fake cluster's Job controller (batch/v1), level-triggered.

What it does, as the real one does: creates a Job's pods from its template (NonIndexed:
up to `parallelism` at a time until `completions` succeed; Indexed: one pod per completion
index, with the `batch.kubernetes.io/job-completion-index` annotation and label, the
`JOB_COMPLETION_INDEX` variable, and `hostname` `<job>-<index>`); replaces failed pods until
more than `backoffLimit` have failed; honours `suspend` (deletes active pods; unsuspending
creates them) and `activeDeadlineSeconds`; writes `status.active/ready/succeeded/failed/
startTime/completionTime/completedIndexes` and the `Complete` / `Failed` conditions (reasons
BackoffLimitExceeded, DeadlineExceeded). Its pods are found by owner reference.

Left out: pod failure policies, success policies, `backoffLimitPerIndex`, `podReplacementPolicy`,
the `SuccessCriteriaMet` / `FailureTarget` interim conditions, and counting restarts of
`restartPolicy: OnFailure` containers against the backoff limit (only failed pods count).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlkube.api.errors import NotFound
from mlkube.store.objects import format_time
from mlkube.testing.kube.defaults import CONTROLLER_UID, JOB_NAME
from mlkube.testing.kube.owners import (
    PodOwnerController,
    is_deleting,
    is_ready,
    owner_reference,
    phase,
)
from mlkube.testing.kube.resources import JOB, POD

INDEX = "batch.kubernetes.io/job-completion-index"


class JobController(PodOwnerController):
    """Reconciles every Job in `store`; `create_pod` stores a pod as the API would."""

    resource = JOB

    def _reconcile(self, job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        spec, status = job["spec"], dict(job.get("status") or {})
        active = [p for p in pods if phase(p) in ("Pending", "Running") and not is_deleting(p)]
        if _finished(status):
            return
        now = datetime.now(UTC)
        if spec.get("suspend"):
            self._delete(active)
            status.update(active=0, ready=0)
            status["conditions"] = _set_condition(
                status, "Suspended", "True", "JobSuspended", "Job suspended"
            )
            self._write(job, status)
            return
        status.setdefault("startTime", format_time(now))
        if "conditions" in status:
            status["conditions"] = _set_condition(
                status, "Suspended", "False", "JobResumed", "Job resumed"
            )
        failed = [p for p in pods if phase(p) == "Failed"]
        failure = _failure(spec, status, len(failed), now)
        if failure is not None:
            self._delete(active)
            status.update(active=0, ready=0, failed=len(failed))
            status["conditions"] = _set_condition(status, "Failed", "True", *failure)
            self._write(job, status)
            return
        active += self._create_missing(job, pods, active)
        self._write(job, self._progress(job, status, pods, active, failed, now))

    def _progress(
        self,
        job: dict[str, Any],
        status: dict[str, Any],
        pods: list[dict[str, Any]],
        active: list[dict[str, Any]],
        failed: list[dict[str, Any]],
        now: datetime,
    ) -> dict[str, Any]:
        succeeded = [p for p in pods if phase(p) == "Succeeded"]
        done = _succeeded_indexes(succeeded) if _indexed(job) else set()
        status.update(
            active=len(active), ready=sum(1 for p in active if is_ready(p)), failed=len(failed)
        )
        status["succeeded"] = len(done) if _indexed(job) else len(succeeded)
        if _indexed(job):
            status["completedIndexes"] = _ranges(sorted(done))
        if _complete(job["spec"], status["succeeded"], len(active)):
            self._delete(active)
            status.update(active=0, ready=0, completionTime=format_time(now))
            status["conditions"] = _set_condition(status, "Complete", "True", "", "")
        for key in ("failed", "succeeded"):
            if not status[key]:
                del status[key]
        return status

    def _create_missing(
        self, job: dict[str, Any], pods: list[dict[str, Any]], active: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        spec = job["spec"]
        room = int(spec.get("parallelism", 1)) - len(active)
        if room <= 0:
            return []
        if _indexed(job):
            taken = _succeeded_indexes(pods, phases=("Succeeded", "Pending", "Running"))
            free = [i for i in range(int(spec["completions"])) if i not in taken]
            wanted: list[int | None] = list(free[:room])
        else:
            succeeded = sum(1 for p in pods if phase(p) == "Succeeded")
            completions = spec.get("completions")
            left = room if completions is None else int(completions) - succeeded - len(active)
            if completions is None and succeeded:
                left = 0
            wanted = [None] * max(0, min(room, left))
        return [self._create_pod(pod_for(job, index)) for index in wanted]

    def _delete(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            try:
                self._store.delete(
                    POD.resource, pod["metadata"]["namespace"], pod["metadata"]["name"]
                )
            except NotFound:
                continue

    def _write(self, job: dict[str, Any], status: dict[str, Any]) -> None:
        candidate = copy.deepcopy(job)
        candidate["status"] = status
        self._store.update_status(JOB.resource, candidate)


def pod_for(job: Mapping[str, Any], index: int | None) -> dict[str, Any]:
    """The pod the Job controller creates for `job` (at a completion index, if Indexed)."""
    meta, template = job["metadata"], copy.deepcopy(job["spec"]["template"])
    name = meta["name"]
    labels = {
        **(template.get("metadata", {}).get("labels") or {}),
        JOB_NAME: name,
        "job-name": name,
    }
    labels[CONTROLLER_UID] = labels["controller-uid"] = meta["uid"]
    annotations = dict(template.get("metadata", {}).get("annotations") or {})
    spec = template["spec"]
    if index is not None:
        annotations[INDEX] = labels[INDEX] = str(index)
        spec["hostname"] = f"{name}-{index}"
        for container in spec.get("containers") or []:
            env = container.setdefault("env", [])
            field = {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX}']"}}
            env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": field})
    pod_meta: dict[str, Any] = {
        "generateName": f"{name}-" if index is None else f"{name}-{index}-",
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(job)],
    }
    if annotations:
        pod_meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _indexed(job: Mapping[str, Any]) -> bool:
    return bool(job["spec"].get("completionMode") == "Indexed")


def _finished(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _failure(
    spec: Mapping[str, Any], status: Mapping[str, Any], failed: int, now: datetime
) -> tuple[str, str] | None:
    if failed > int(spec.get("backoffLimit", 6)):
        return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    deadline = spec.get("activeDeadlineSeconds")
    started = datetime.strptime(status["startTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if deadline is not None and (now - started).total_seconds() >= int(deadline):
        return "DeadlineExceeded", "Job was active longer than specified deadline"
    return None


def _complete(spec: Mapping[str, Any], succeeded: int, active: int) -> bool:
    completions = spec.get("completions")
    if completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= int(completions)


def _succeeded_indexes(
    pods: list[dict[str, Any]], phases: tuple[str, ...] = ("Succeeded",)
) -> set[int]:
    indexes = set()
    for pod in pods:
        value = ((pod["metadata"].get("annotations") or {}).get(INDEX)) or ""
        if (
            value.isdigit()
            and phase(pod) in phases
            and not (is_deleting(pod) and phase(pod) != "Succeeded")
        ):
            indexes.add(int(value))
    return indexes


def _ranges(indexes: list[int]) -> str:
    """`[0, 1, 2, 5]` → `0-2,5`, as `status.completedIndexes` writes them."""
    parts: list[str] = []
    start = prev = None
    for i in [*indexes, None]:
        if i is not None and prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    return ",".join(parts)


def _set_condition(
    status: Mapping[str, Any], kind: str, value: str, reason: str, message: str
) -> list[dict[str, Any]]:
    """The conditions with `kind` set; an unchanged one keeps its times (a no-op write)."""
    now = format_time(datetime.now(UTC))
    conditions = [dict(c) for c in status.get("conditions") or []]
    for condition in conditions:
        if condition.get("type") == kind:
            if condition.get("status") != value:
                condition.update(
                    status=value,
                    reason=reason,
                    message=message,
                    lastTransitionTime=now,
                    lastProbeTime=now,
                )
            return conditions
    if value == "False":
        return conditions  # a condition that never was true is not written as false
    entry = {"type": kind, "status": value, "lastProbeTime": now, "lastTransitionTime": now}
    if reason:
        entry.update(reason=reason, message=message)
    return [*conditions, entry]
