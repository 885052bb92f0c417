"""The labels that say which object a workload's pod serves.

The controllers put them on every workload (`WorkloadSpec.labels`), the Kubernetes runtime
copies them onto the pod, and the SDK selects a step's or a worker's pods by them to read
their logs from a cluster. One module, so writer and reader cannot drift apart:

    mlkube.io/pipelinerun=RUN     mlkube.io/step=STEP       mlkube.io/attempt=N   (from 1)
    mlkube.io/trainingjob=JOB     mlkube.io/worker=RANK     mlkube.io/start=S     (from 1)

Names go through `label_value`, so a run name longer than a label value allows still labels.
"""

from __future__ import annotations

from mlkube.api.short_names import label_value

__all__ = [
    "ATTEMPT",
    "PIPELINERUN",
    "START",
    "STEP",
    "TRAININGJOB",
    "WORKER",
    "WORKLOAD_CONTAINER",
    "step_labels",
    "worker_labels",
]

PIPELINERUN = "mlkube.io/pipelinerun"
STEP = "mlkube.io/step"
ATTEMPT = "mlkube.io/attempt"
TRAININGJOB = "mlkube.io/trainingjob"
WORKER = "mlkube.io/worker"
START = "mlkube.io/start"
WORKLOAD_CONTAINER = "workload"  # the pod's container that runs the workload (its log)


def step_labels(run: str, step: str, attempt: int | None = None) -> dict[str, str]:
    """The labels of attempt `attempt` of `step` of `run`; without `attempt`, those that
    every attempt of the step shares (a selector for all of them)."""
    out = {PIPELINERUN: label_value(run), STEP: label_value(step)}
    if attempt is not None:
        out[ATTEMPT] = str(attempt)
    return out


def worker_labels(job: str, worker: int, start: int | None = None) -> dict[str, str]:
    """The labels of worker `worker` (its rank) of `job` in the gang's start `start`; without
    `start`, those that the worker shares across starts."""
    out = {TRAININGJOB: label_value(job), WORKER: str(worker)}
    if start is not None:
        out[START] = str(start)
    return out
