"""Names, folders and runtime specs of a TrainingJob's workers.

A job's workers sit in the node queue's run-keyed tables under the gang id `NS/@JOB` (the `@`
is never part of a name, so jobs stay apart from pipeline runs and `NS/~SERVICE` replicas):
worker K waits as `NS/@JOB/wK` and runs as `NS/@JOB/UID8/wK/START`, where START counts the
gang's starts, so the workers of a restarted gang never reuse an id.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from mlkube.api.meta import GROUP_VERSION
from mlkube.api.trainingjob import TrainingJob
from mlkube.api.workload_labels import worker_labels
from mlkube.runtime.base import GpuDevice, PythonTarget, WorkloadOwner, WorkloadSpec
from mlkube.scheduling.node_fit import Grant
from mlkube.storage.layout import DataDir

__all__ = [
    "MASTER_ADDR",
    "free_port",
    "gang_id",
    "job_dir",
    "log_name",
    "worker_key",
    "worker_log",
    "worker_spec",
    "workload_id",
    "workload_owner",
]

MASTER_ADDR = "127.0.0.1"  # every worker runs on this node


def gang_id(namespace: str, name: str) -> str:
    """The key a job's workers share in the node queue (its "run key")."""
    return f"{namespace}/@{name}"


def worker_key(namespace: str, name: str, rank: int) -> str:
    return f"{gang_id(namespace, name)}/w{rank}"


def workload_id(job: TrainingJob, rank: int, start: int) -> str:
    meta = job.metadata
    uid = (meta.uid or "")[:8]
    return f"{gang_id(meta.namespace or '', meta.name or '')}/{uid}/w{rank}/{start}"


def workload_owner(job: TrainingJob) -> WorkloadOwner | None:
    """The job, which its workers' pods live as long as (None for a job with no uid)."""
    meta = job.metadata
    if not meta.uid or not meta.name:
        return None
    return WorkloadOwner(GROUP_VERSION, "TrainingJob", meta.name, meta.uid)


def job_dir(data: DataDir, namespace: str, name: str) -> Path:
    """Where a job keeps its files: one folder per start, with the workers' logs."""
    return data.root / "trainingjobs" / namespace / name


def log_name(rank: int) -> str:
    """The file worker `rank` logs to, in its start's folder (`job_dir(...)/START/`)."""
    return f"worker-{rank}.log"


def worker_log(data: DataDir, namespace: str, name: str, start: int, rank: int) -> Path:
    """Where worker `rank` of the gang's start number `start` logs."""
    return job_dir(data, namespace, name) / str(start) / log_name(rank)


def free_port(host: str = MASTER_ADDR) -> int:
    """A port free right now for rank 0 to listen on (`MASTER_PORT`), as torchrun picks one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def worker_spec(
    job: TrainingJob,
    rank: int,
    *,
    start: int,
    folder: Path,
    port: int,
    grant: Grant,
    gpus: tuple[GpuDevice, ...],
) -> WorkloadSpec:
    """Worker `rank` of the gang's start `start`: the job's program with the distributed
    environment torchrun would give it, pinned to what the node granted."""
    spec, meta = job.spec, job.metadata
    shared = folder / "shared"
    env = {e.name: e.value for e in spec.env}
    env.update(
        WORLD_SIZE=str(spec.workers),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(spec.workers),
        NODE_RANK="0",
        MASTER_ADDR=MASTER_ADDR,
        MASTER_PORT=str(port),
        MLKUBE_JOB_NAME=meta.name or "",
        MLKUBE_NAMESPACE=meta.namespace or "",
        MLKUBE_JOB_DIR=str(shared),
    )
    cwd = spec.working_dir or str(shared)
    python = command = None
    if spec.python is not None:
        python = PythonTarget(spec.python.module, spec.python.function, tuple(spec.args))
        if spec.working_dir is None and spec.python.module.endswith(".py"):
            cwd = os.path.dirname(spec.python.module) or cwd
    else:
        command = (*(spec.command or []), *spec.args)
    return WorkloadSpec(
        id=workload_id(job, rank, start),
        python=python,
        command=command,
        env=env,
        cwd=cwd,
        log_path=str(folder / log_name(rank)),
        cpus=grant.cores or None,
        memory_limit_bytes=grant.memory_bytes or None,
        gpus=gpus,
        # A fresh interpreter per worker, as a pod would be: distributed frameworks (NCCL,
        # CUDA) must not inherit state from a forked parent.
        isolation="process",
        labels=worker_labels(meta.name or "", rank, start),
        owner=workload_owner(job),
    )
