"""`TrainingJob`: N workers started together (a gang), after Kubeflow's PyTorchJob and JobSet.

```yaml
apiVersion: mlkube.io/v1alpha1
kind: TrainingJob
metadata: {name: mnist-ddp, namespace: ml-team}
spec:
  workers: 4                                # all four start together, or none does
  python: {module: train.py, function: main}  # or command: [python, train.py]
  args: [--epochs, "3"]
  resources: {cpu: "2", memory: 4Gi, nvidia.com/gpu: 1}   # per worker
  env: [{name: NCCL_DEBUG, value: WARN}]
  priorityClassName: high
  runPolicy: {backoffLimit: 2, activeDeadlineSeconds: 3600}
```

The job is one unit of admission: its quota is N times a worker's resources, and it is placed
on the node only when all N workers fit at once. Each worker gets `WORLD_SIZE`, `RANK`,
`LOCAL_RANK`, `MASTER_ADDR` and `MASTER_PORT`, as torchrun would set them. When a worker fails,
the others are stopped and the whole gang restarts, up to `backoffLimit` times.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlkube.api.meta import Condition, Model, ObjectMeta, Time
from mlkube.api.pipeline import EnvVar, PythonFunction
from mlkube.api.pipelinerun import Placement, StartEstimate, StepUsage
from mlkube.api.resources import Resources

# Set by the platform for every worker; a spec may not set them itself.
RESERVED_ENV = frozenset(
    {
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "NODE_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "MLKUBE_JOB_NAME",
        "MLKUBE_NAMESPACE",
        "MLKUBE_JOB_DIR",
    }
)
MAX_WORKERS = 1024

JobPhase = Literal["Pending", "Admitted", "Running", "Succeeded", "Failed"]
WorkerPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Stopped", "Preempted"]
FINISHED_JOB_PHASES = frozenset({"Succeeded", "Failed"})


class RunPolicy(Model):
    """What happens when a worker fails or the job runs too long."""

    backoff_limit: int = Field(
        default=0,
        alias="backoffLimit",
        ge=0,
        le=100,
        description="how many times the whole gang is restarted after a worker fails",
    )
    active_deadline_seconds: float | None = Field(
        default=None,
        alias="activeDeadlineSeconds",
        gt=0,
        description="seconds from the job's first start after which it fails (DeadlineExceeded)",
    )


class TrainingJobSpec(Model):
    """Run `workers` copies of one program: a Python function (`python`) or a `command`."""

    workers: int = Field(default=1, ge=1, le=MAX_WORKERS)
    python: PythonFunction | None = None
    command: list[str] | None = None
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    working_dir: str | None = Field(default=None, alias="workingDir")
    priority_class_name: str | None = Field(default=None, alias="priorityClassName")
    run_policy: RunPolicy = Field(default_factory=RunPolicy, alias="runPolicy")

    @field_validator("env")
    @classmethod
    def _not_reserved(cls, env: list[EnvVar]) -> list[EnvVar]:
        taken = sorted({e.name for e in env} & RESERVED_ENV)
        if taken:
            raise ValueError(f"{', '.join(taken)} is set by the platform for each worker")
        return env

    @model_validator(mode="after")
    def _python_or_command(self) -> TrainingJobSpec:
        if (self.python is None) == (self.command is None):
            raise ValueError("set exactly one of python or command")
        if self.command is not None and not self.command:
            raise ValueError("command must not be empty")
        return self


class WorkerStatus(Model):
    """One worker of the gang's latest start, in the shape steps use for usage accounting."""

    rank: int
    phase: WorkerPhase = "Pending"
    workload_id: str | None = Field(default=None, alias="workloadId")
    pid: int | None = None
    exit_code: int | None = Field(default=None, alias="exitCode")
    reason: str = ""
    message: str = ""
    start_time: Time | None = Field(default=None, alias="startTime")
    finish_time: Time | None = Field(default=None, alias="finishTime")
    placement: Placement | None = None
    usage: StepUsage | None = None


class TrainingJobStatus(Model):
    phase: JobPhase = "Pending"
    conditions: list[Condition] = Field(default_factory=list)
    start_time: Time | None = Field(default=None, alias="startTime")
    completion_time: Time | None = Field(default=None, alias="completionTime")
    restarts: int = Field(default=0, description="gang restarts after a worker failed")
    starts: int = Field(
        default=0, description="times the gang was started (restarts, preemptions, resumes)"
    )
    wait_reason: str | None = Field(
        default=None, alias="waitReason", description="why the gang is not admitted yet"
    )
    estimated_start: StartEstimate | None = Field(
        default=None,
        alias="estimatedStart",
        description="while the gang waits: when all its workers are expected to fit",
    )
    queue_position: int | None = Field(
        default=None,
        alias="queuePosition",
        description="while the gang waits: its place in the node's line (1: next)",
    )
    workers: list[WorkerStatus] = Field(default_factory=list)
    priority: int | None = None
    queue: str | None = None
    master_port: int | None = Field(default=None, alias="masterPort")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


class TrainingJob(Model):
    api_version: Literal["mlkube.io/v1alpha1"] = Field(
        default="mlkube.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TrainingJob"] = "TrainingJob"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TrainingJobSpec
    status: TrainingJobStatus = Field(default_factory=TrainingJobStatus)
