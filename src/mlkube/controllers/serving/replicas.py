"""The controller's in-memory view of an InferenceService's revisions and their replicas.

A replica is one model-server process (`python -m mlkube.serving.replica`) started through the
runtime like a pipeline step, after the same node queue (quota and node fit) admitted it: so
replicas count against the team's ClusterQueue and the node's CPUs, memory and GPUs. Its
workload id is `NS/~SERVICE/UID8/REVISION.rSLOT/INCARNATION`: the `~` (never part of a name)
keeps replicas apart from pipeline runs in every table keyed by `NS/RUN`.

Nothing here survives a restart, and nothing needs to: replicas die with the platform (the
runtime's parent-death signal) and the controller starts new ones from the stored spec.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from mlkube.api.pipelinerun import ArtifactRef
from mlkube.api.resources import Resources
from mlkube.api.serving import Batching, PredictorSpec
from mlkube.autoscaling import ScaleState
from mlkube.controllers.serving.traffic import revision_number
from mlkube.runtime.base import GpuDevice, WorkloadSpec
from mlkube.scheduling.node_fit import Grant
from mlkube.serving.fetch import ARTIFACT_DIGEST_ENV, ARTIFACT_STORE_ENV, ARTIFACT_URI_ENV

__all__ = [
    "Replica",
    "RevisionState",
    "ServiceState",
    "UsageSummary",
    "crash_backoff",
    "read_ready_file",
    "replica_spec",
    "service_marker",
]

ReplicaPhase = Literal["Waiting", "Starting", "Ready", "Stopping"]
_MAX_BACKOFF_SECONDS = 30.0


def service_marker(namespace: str, name: str) -> str:
    """The `NS/~NAME` key under which a service's replicas sit in run-keyed tables."""
    return f"{namespace}/~{name}"


@dataclass
class Replica:
    revision: str
    slot: int
    incarnation: int
    step_key: str
    phase: ReplicaPhase = "Waiting"
    workload_id: str | None = None
    port: int | None = None
    ready_file: Path | None = None
    log_path: Path | None = None


@dataclass
class UsageSummary:
    """What a revision's replicas used, over every sample of every replica."""

    cpu_sum: float = 0.0
    cpu_max: float = 0.0
    memory_max: int = 0
    samples: int = 0

    def add(self, cpu_cores: float, memory_bytes: int) -> None:
        self.cpu_sum += cpu_cores
        self.cpu_max = max(self.cpu_max, cpu_cores)
        self.memory_max = max(self.memory_max, memory_bytes)
        self.samples += 1


@dataclass
class RevisionState:
    name: str
    fingerprint: str
    model_format: str
    storage_uri: str
    resources: Resources
    batching: Batching
    model_path: str | None = None
    # A model in an object store: the replica fetches it (model_path is then its URI).
    model_artifact: ArtifactRef | None = None
    desired: int = 0
    replicas: dict[int, Replica] = field(default_factory=dict)
    incarnations: int = 0
    restarts: int = 0
    failures_in_row: int = 0
    start_after: float = 0.0
    message: str = ""
    scale: ScaleState = field(default_factory=ScaleState)
    initialized: bool = False
    # A replica has been ready once: from then on the autoscaler sizes the revision. Before,
    # it keeps its initial scale, so a slow first start is never mistaken for idleness.
    activated: bool = False
    usage: UsageSummary = field(default_factory=lambda: UsageSummary())

    @property
    def number(self) -> int:
        return revision_number(self.name)

    def live(self) -> list[Replica]:
        return [r for r in self.replicas.values() if r.phase != "Stopping"]

    def ready(self) -> list[Replica]:
        return [r for r in self.replicas.values() if r.phase == "Ready"]


@dataclass
class ServiceState:
    namespace: str
    name: str
    uid: str
    predictor: PredictorSpec
    revisions: dict[str, RevisionState] = field(default_factory=dict)
    percents: dict[str, int] = field(default_factory=dict)  # revision → share of traffic
    latest: str | None = None
    previous: str | None = None  # the revision rolled out before `latest`
    retired: list[RevisionState] = field(default_factory=list)  # stopping, exits to collect
    scale_reason: str = ""
    last_scale_time: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def workload_id(self, replica: Replica) -> str:
        return (
            f"{service_marker(self.namespace, self.name)}/{self.uid[:8]}/"
            f"{replica.revision}.r{replica.slot}/{replica.incarnation}"
        )


def crash_backoff(failures_in_row: int) -> float:
    """Seconds before restarting a replica that failed this many times in a row (1, 2, 4 … 30)."""
    return 0.0 if failures_in_row <= 0 else min(2.0 ** (failures_in_row - 1), _MAX_BACKOFF_SECONDS)


def replica_spec(
    service: ServiceState,
    revision: RevisionState,
    replica: Replica,
    *,
    folder: Path,
    grant: Grant,
    gpus: tuple[GpuDevice, ...],
) -> WorkloadSpec:
    """The runtime's view of one replica: the model server, its resources and its files."""
    assert revision.model_path is not None
    batching = revision.batching
    ready_file = folder / "ready.json"
    command = (
        sys.executable,
        "-m",
        "mlkube.serving.replica",
        "--name",
        service.name,
        "--version",
        str(revision.number),
        *model_arguments(revision),
        "--format",
        revision.model_format,
        "--port",
        "0",
        "--ready-file",
        str(ready_file),
        "--max-batch-size",
        str(batching.max_batch_size),
        "--max-batch-delay-ms",
        f"{batching.max_latency_ms:g}",
    )
    replica.ready_file, replica.log_path = ready_file, folder / "log"
    return WorkloadSpec(
        id=service.workload_id(replica),
        command=command,
        env={
            "MLKUBE_NAMESPACE": service.namespace,
            "MLKUBE_INFERENCE_SERVICE": service.name,
            "MLKUBE_REVISION": revision.name,
            **model_environment(revision),
        },
        cwd=str(folder),
        log_path=str(replica.log_path),
        cpus=grant.cores or None,
        memory_limit_bytes=grant.memory_bytes or None,
        gpus=gpus,
        isolation="process",
    )


def read_ready_file(path: Path | None) -> int | None:
    """The port a replica announced once its model loaded, or None while it has not."""
    if path is None:
        return None
    try:
        info = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    port = info.get("port")
    return int(port) if isinstance(port, int) else None


def log_tail(path: Path | None, *, lines: int = 3, limit: int = 400) -> str:
    """The last lines a replica printed: why a model failed to load is usually there."""
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
    return tail[-limit:]


def model_arguments(revision: RevisionState) -> tuple[str, ...]:
    """`--model PATH` for a model on this machine; nothing for one the replica fetches."""
    if revision.model_artifact is not None:
        return ()
    assert revision.model_path is not None
    return ("--model", revision.model_path)


def model_environment(revision: RevisionState) -> dict[str, str]:
    """What a replica needs to fetch a model kept in an object store: the artifact's URI and
    digest and the store's root (the part of the URI before its content address)."""
    artifact = revision.model_artifact
    if artifact is None:
        return {}
    root = artifact.uri.split("/sha256/", 1)[0]
    return {
        ARTIFACT_URI_ENV: artifact.uri,
        ARTIFACT_DIGEST_ENV: artifact.digest,
        ARTIFACT_STORE_ENV: root,
    }
