"""One attempt of a pipeline step → a `batch/v1` Job of one pod.

The pod runs `python -m mlkube.executor`, the cluster form of what the local runtime starts
(`mlkube.executor.step.run(invocation.json)` in the attempt's folder). A pod has no such
folder, so what the step process is given travels as environment variables instead:

    MLKUBE_INVOCATION      the invocation as JSON: inputs (values, or artifact references
                           into the object store), outputs, the python function or the
                           command and args (no outputsDir: the executor makes a fresh
                           temporary folder under /tmp, so pods never share one)
    MLKUBE_ARTIFACT_STORE  s3://BUCKET/PREFIX, where artifacts are read and written
    MLKUBE_RESULT_URI      where the executor writes result.json (outputs, or the error)
    MLKUBE_NAMESPACE, MLKUBE_RUN, MLKUBE_STEP, MLKUBE_ATTEMPT, and for a GPU share
    MLKUBE_GPU_FRACTION / MLKUBE_GPU_MEMORY_BYTES, as on one machine

`mlkube.executor.__main__` reads this contract; the object store is reached with the
standard AWS variables, which `artifact_credentials_secret` supplies through `envFrom`.

The Job never retries (`backoffLimit: 0`): our controller owns retries, with their backoff
and the higher memory limit after an OOM kill (`memory_limit_bytes`), and starts each attempt
as a new Job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlkube.api.pipeline import StepSpec, step_invocation
from mlkube.api.pipelinerun import PipelineRun
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.gpus import gpu_choice, gpu_scheduling
from mlkube.runtime.kubernetes.names import dns_label
from mlkube.runtime.kubernetes.pods import (
    container,
    container_resources,
    labels,
    object_meta,
    owner_reference,
    pod_spec,
)
from mlkube.runtime.kubernetes.settings import ClusterSettings

EXECUTOR_COMMAND = ["python", "-m", "mlkube.executor"]


@dataclass(frozen=True)
class StepAttemptJob:
    """Which attempt to build: `step` of `run`, attempt number `attempt` (from 1), with the
    inputs the controller resolved (name → `{"value": V}` or `{"artifact": {...}}`)."""

    run: PipelineRun
    step: StepSpec
    attempt: int
    inputs: Mapping[str, Mapping[str, Any]]
    gpu_alternative: int = 0
    memory_limit_bytes: int | None = None


def step_job(request: StepAttemptJob, settings: ClusterSettings) -> dict[str, Any]:
    """The Job for one step attempt (see the module docstring for what the pod is given)."""
    run, step = request.run, request.step
    if request.attempt < 1:
        raise TranslationError("attempt", f"attempts count from 1, got {request.attempt}")
    meta, where = run.metadata, f"step {step.name!r}: resources"
    owner = owner_reference("PipelineRun", meta)
    namespace = meta.namespace or "default"
    name = dns_label(meta.name or "", step.name, str(request.attempt))
    choice = gpu_choice(step.resources, alternative=request.gpu_alternative, where=where)
    gpus = gpu_scheduling(choice, settings.gpu_products, where=where)
    resources = container_resources(
        step.resources, gpus, settings, memory_limit_bytes=request.memory_limit_bytes
    )
    env = {**{e.name: e.value for e in step.env}, **_platform_env(request, settings), **gpus.env}
    main = container(
        "step", command=EXECUTOR_COMMAND, env=env, resources=resources, settings=settings
    )
    if step.working_dir:
        main["workingDir"] = step.working_dir
    pod_labels = labels(
        "pipeline-step",
        meta.name or "",
        pipelinerun=meta.name or "",
        step=step.name,
        attempt=str(request.attempt),
    )
    pod = pod_spec(
        main, gpus, settings, restart_policy="Never", priority_class=run.spec.priority_class_name
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(name, namespace, labels=pod_labels, owner=owner),
        "spec": _job_spec(step, pod_labels, pod, settings),
    }


def _job_spec(
    step: StepSpec, pod_labels: dict[str, str], pod: dict[str, Any], settings: ClusterSettings
) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": 0}
    if step.timeout_seconds is not None:
        # A Job's deadline is whole seconds; rounding up never cuts a step short.
        spec["activeDeadlineSeconds"] = math.ceil(step.timeout_seconds)
    spec["ttlSecondsAfterFinished"] = settings.ttl_seconds_after_finished
    spec["template"] = {"metadata": {"labels": dict(pod_labels)}, "spec": pod}
    return spec


def _platform_env(request: StepAttemptJob, settings: ClusterSettings) -> dict[str, str]:
    meta, step = request.run.metadata, request.step
    store = settings.store_root()
    uid8 = (meta.uid or "")[:8]
    attempt_path = f"{meta.namespace or 'default'}/{meta.name}/{uid8}/{step.name}/{request.attempt}"
    return {
        "MLKUBE_NAMESPACE": meta.namespace or "default",
        "MLKUBE_RUN": meta.name or "",
        "MLKUBE_STEP": step.name,
        "MLKUBE_ATTEMPT": str(request.attempt),
        "MLKUBE_ARTIFACT_STORE": store,
        "MLKUBE_RESULT_URI": f"{store}/attempts/{attempt_path}/result.json",
        "MLKUBE_INVOCATION": json.dumps(step_invocation(step, request.inputs), sort_keys=True),
    }
