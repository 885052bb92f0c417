"""Which pod holds a step's or a worker's log on a cluster, and how to ask for it (pure).

A kube-apiserver serves no `log` subresource for our kinds; there the log is the pod's. The
operator labels every step attempt's and training worker's pod (`mlkube.api.workload_labels`)
and keeps it until its run or job is deleted, so the client lists the pods of the namespace
with those labels, picks one here, and streams `/api/v1/namespaces/NS/pods/NAME/log`:

    target = step_target("hello", "train", attempt=None)      # None: the latest attempt
    pods = GET /api/v1/namespaces/NS/pods?labelSelector=<label_selector(target)>
    pod = choose_pod(target, pods, namespace)                  # NotFound / BadRequest
    GET pod_log_path(namespace, pod) ? log_params(pod, follow=..., tail_lines=...)

Reading needs `get` and `list` on pods and `get` on `pods/log`, which Kubernetes' `view`
ClusterRole grants (`forbidden`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mlkube.api.errors import BadRequest, Forbidden, NotFound
from mlkube.api.workload_labels import (
    ATTEMPT,
    START,
    STEP,
    WORKER,
    WORKLOAD_CONTAINER,
    step_labels,
    worker_labels,
)

__all__ = [
    "PodLogTarget",
    "choose_pod",
    "forbidden",
    "label_selector",
    "log_params",
    "pod_log_path",
    "pods_path",
    "step_target",
    "worker_target",
]

Pod = Mapping[str, Any]


@dataclass(frozen=True)
class PodLogTarget:
    """The pods to choose from: those with `labels`, owned by the `kind` named `name`;
    among them the one whose `counter_key` label is `counter` (None: the highest).
    `part_key` is the label that tells a run's steps apart while no step is named."""

    kind: str
    name: str
    labels: Mapping[str, str]
    part_key: str
    part: str | None
    counter_key: str
    counter: int | None

    def describe(self, namespace: str) -> str:
        """`step "train" of PipelineRun "hello" (attempt 2) in namespace "team-a"`."""
        noun = "step" if self.part_key == STEP else "worker"
        counter = "attempt" if self.counter_key == ATTEMPT else "start"
        part = f"{noun} {self.part!r} of " if self.part is not None else ""
        which = f"{counter} {self.counter}" if self.counter is not None else f"latest {counter}"
        return f"{part}{self.kind} {self.name!r} ({which}) in namespace {namespace!r}"


def step_target(run: str, step: str | None, attempt: int | None) -> PodLogTarget:
    """Attempt `attempt` (None: the latest) of `step` of pipeline run `run`; `step` None
    suits a run whose pods are all of one step."""
    labels = step_labels(run, step or "")
    if step is None:
        del labels[STEP]
    return PodLogTarget("PipelineRun", run, labels, STEP, step, ATTEMPT, attempt)


def worker_target(job: str, worker: int, start: int | None) -> PodLogTarget:
    """Worker `worker` (its rank) of training job `job` in start `start` (None: latest)."""
    labels = worker_labels(job, worker)
    return PodLogTarget("TrainingJob", job, labels, WORKER, str(worker), START, start)


def label_selector(target: PodLogTarget) -> str:
    """The Kubernetes label selector for every pod of the target, whatever its counter."""
    return ",".join(f"{key}={value}" for key, value in sorted(target.labels.items()))


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"


def pod_log_path(namespace: str, pod: Pod) -> str:
    return f"{pods_path(namespace)}/{quote(str(pod['metadata']['name']), safe='')}/log"


def log_params(pod: Pod, *, follow: bool, tail_lines: int | None) -> dict[str, str]:
    """The `/log` query: the workload's container when the pod has more than one (a
    sidecar injected by the cluster), `follow` and `tailLines` as given."""
    params: dict[str, str] = {}
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if len(containers) > 1 and WORKLOAD_CONTAINER in containers:
        params["container"] = WORKLOAD_CONTAINER
    if follow:
        params["follow"] = "true"
    if tail_lines is not None:
        params["tailLines"] = str(tail_lines)
    return params


def choose_pod(target: PodLogTarget, pods: Iterable[Pod], namespace: str) -> Pod:
    """The target's pod among `pods` (already selected by `label_selector`). Raises
    `BadRequest` when no step is named and the run has several, `NotFound` when none fits."""
    owned = [p for p in pods if _owned_by(p, target)]
    parts = sorted({_label(p, target.part_key) for p in owned})
    if target.part is None and len(parts) > 1:
        raise BadRequest(f"{target.kind} {target.name!r} has steps {', '.join(parts)}: name one")
    counted = [(_counter(p, target.counter_key), p) for p in owned]
    if target.counter is not None:
        counted = [(n, p) for n, p in counted if n == target.counter]
    if not counted:
        raise NotFound(
            f"no pod of {target.describe(namespace)}: it has not started yet, or its pod is "
            "gone (deleted by hand, or it ran before mlkube kept pods until their run or job "
            "is deleted)"
        )
    return max(counted, key=lambda pair: pair[0])[1]


def forbidden(err: Forbidden, namespace: str) -> Forbidden:
    """`err` with what reading logs from a cluster needs, and which role grants it."""
    return Forbidden(
        f"reading logs needs get and list on pods and get on pods/log in namespace "
        f"{namespace!r} (Kubernetes' view role grants them): {err.message}"
    )


def _owned_by(pod: Pod, target: PodLogTarget) -> bool:
    # The labels hold shortened names; the owner reference holds the exact one.
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("kind") == target.kind and r.get("name") == target.name for r in refs)


def _label(pod: Pod, key: str) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(key, ""))


def _counter(pod: Pod, key: str) -> int:
    value = _label(pod, key)
    return int(value) if value.isdigit() else 0
