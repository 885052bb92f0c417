"""A TrainingJob → an Indexed `batch/v1` Job of one pod per worker, and a headless Service.

Each pod is one rank: `RANK` comes from the pod's completion index (downward API),
`WORLD_SIZE` is the number of workers, and `MASTER_ADDR` is rank 0's stable hostname,
`<job>-0.<service>`, which the headless Service (with `subdomain`) makes resolvable even
before the pod is ready. This is what JobSet and Kubeflow's trainer do for PyTorch.

Gang semantics: any failed worker fails the Job at once (`backoffLimit: 0`; Kubernetes then
stops the other pods), and our controller restarts the whole gang as a new Job (`start`)
while `runPolicy.backoffLimit` allows, as JobSet's `failurePolicy.maxRestarts` recreates its
Jobs. Per-index retries (`backoffLimitPerIndex`) are not used: one rank restarting alone
cannot rejoin a rendezvous of fixed world size.

Admission (quota, fair sharing, all workers at once) is our controller's, before pods exist,
as Kueue does: the Job can be created with `suspend: true` and resumed once admitted.
"""

from __future__ import annotations

import math
from typing import Any

from mlkube.api.trainingjob import TrainingJob
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.gpus import gpu_choice, gpu_scheduling
from mlkube.runtime.kubernetes.names import MAX_LABEL, dns1035_label, dns_label
from mlkube.runtime.kubernetes.pods import (
    SCRATCH,
    container,
    container_resources,
    labels,
    object_meta,
    owner_reference,
    pod_spec,
    selector,
)
from mlkube.runtime.kubernetes.settings import ClusterSettings

MASTER_PORT = 29500  # torchrun's default rendezvous port
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
ENTRY = ["python", "-m", "mlkube.runtime.local.entry"]


def training_objects(
    job: TrainingJob,
    settings: ClusterSettings,
    *,
    suspend: bool,
    start: int = 0,
    gpu_alternative: int = 0,
) -> list[dict[str, Any]]:
    """The headless Service, then the Indexed Job of gang start `start` (from 0)."""
    if start < 0:
        raise TranslationError("start", "must not be negative")
    names = _Names(job, start)
    return [
        headless_service(job, names),
        indexed_job(job, names, settings, suspend=suspend, gpu_alternative=gpu_alternative),
    ]


class _Names:
    """The Job's and the Service's names, and the labels that tie pods to the Service."""

    def __init__(self, job: TrainingJob, start: int) -> None:
        meta = job.metadata
        self.owner = owner_reference("TrainingJob", meta)
        self.namespace = meta.namespace or "default"
        self.service = dns1035_label(meta.name or "")
        # Pod hostnames are `<job>-<index>`: leave room for the largest index.
        room = MAX_LABEL - len(str(job.spec.workers - 1)) - 1
        self.job = dns_label(meta.name or "", f"s{start}", limit=room)
        self.labels = labels("training-worker", meta.name or "", trainingjob=meta.name or "")


def headless_service(job: TrainingJob, names: _Names) -> dict[str, Any]:
    """DNS for every worker (`<job>-<index>.<service>`), ready or not: rank 0 must resolve
    while the others are still starting."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(
            names.service, names.namespace, labels=names.labels, owner=names.owner
        ),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector(names.labels),
            "ports": [{"name": "rendezvous", "port": MASTER_PORT, "targetPort": MASTER_PORT}],
        },
    }


def indexed_job(
    job: TrainingJob,
    names: _Names,
    settings: ClusterSettings,
    *,
    suspend: bool,
    gpu_alternative: int,
) -> dict[str, Any]:
    spec, where = job.spec, "spec.resources"
    choice = gpu_choice(spec.resources, alternative=gpu_alternative, where=where)
    gpus = gpu_scheduling(choice, settings.gpu_products, where=where)
    env = {**{e.name: e.value for e in spec.env}, **_rank_env(job, names), **gpus.env}
    main = container(
        "worker",
        command=_command(job),
        env=env,
        resources=container_resources(spec.resources, gpus, settings),
        settings=settings,
    )
    main["env"] += [
        {"name": n, "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}}
        for n in ("RANK", "NODE_RANK")
    ]
    main["ports"] = [{"name": "rendezvous", "containerPort": MASTER_PORT, "protocol": "TCP"}]
    if spec.working_dir:
        main["workingDir"] = spec.working_dir
    pod = pod_spec(
        main, gpus, settings, restart_policy="Never", priority_class=spec.priority_class_name
    )
    pod["subdomain"] = names.service
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(names.job, names.namespace, labels=names.labels, owner=names.owner),
        "spec": _job_spec(job, names, pod, settings, suspend=suspend),
    }


def _job_spec(
    job: TrainingJob,
    names: _Names,
    pod: dict[str, Any],
    settings: ClusterSettings,
    *,
    suspend: bool,
) -> dict[str, Any]:
    workers = job.spec.workers
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": workers,
        "parallelism": workers,
        "backoffLimit": 0,
        "suspend": suspend,
    }
    deadline = job.spec.run_policy.active_deadline_seconds
    if deadline is not None:
        spec["activeDeadlineSeconds"] = math.ceil(deadline)
    spec["ttlSecondsAfterFinished"] = settings.ttl_seconds_after_finished
    spec["template"] = {"metadata": {"labels": dict(names.labels)}, "spec": pod}
    return spec


def _rank_env(job: TrainingJob, names: _Names) -> dict[str, str]:
    """torchrun's variables with one worker per pod; RANK and NODE_RANK come from the index."""
    meta = job.metadata
    return {
        "WORLD_SIZE": str(job.spec.workers),
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "MASTER_ADDR": f"{names.job}-0.{names.service}",
        "MASTER_PORT": str(MASTER_PORT),
        "MLKUBE_JOB_NAME": meta.name or "",
        "MLKUBE_NAMESPACE": names.namespace,
        # One machine gives the gang a shared folder; pods share nothing, so this is per pod.
        "MLKUBE_JOB_DIR": f"{SCRATCH}/mlkube/job",
    }


def _command(job: TrainingJob) -> list[str]:
    """The program as the local runtime starts it in a fresh interpreter."""
    spec = job.spec
    if spec.python is not None:
        return [*ENTRY, spec.python.module, spec.python.function, *spec.args]
    return [*(spec.command or []), *spec.args]
