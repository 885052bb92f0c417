"""`PipelineRun`: one execution of a pipeline, with the status of every step."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mlkube.api.meta import Condition, Model, ObjectMeta, Time
from mlkube.api.pipeline import PipelineSpec
from mlkube.api.volumes import ScratchVolumeStatus


class PipelineRef(Model):
    name: str = Field(min_length=1)


class ParamValue(Model):
    name: str = Field(min_length=1)
    value: Any = None


class PipelineRunSpec(Model):
    """Run a stored pipeline (`pipelineRef`) or an inline one (`pipelineSpec`)."""

    pipeline_ref: PipelineRef | None = Field(default=None, alias="pipelineRef")
    pipeline_spec: PipelineSpec | None = Field(default=None, alias="pipelineSpec")
    params: list[ParamValue] = Field(default_factory=list)
    cache: bool = Field(default=True, description="false: run every step even if cached")
    priority_class_name: str | None = Field(default=None, alias="priorityClassName")

    @model_validator(mode="after")
    def _ref_or_spec(self) -> PipelineRunSpec:
        if (self.pipeline_ref is None) == (self.pipeline_spec is None):
            raise ValueError("set exactly one of pipelineRef or pipelineSpec")
        return self


StepPhase = Literal["Pending", "Waiting", "Running", "Retrying", "Succeeded", "Failed", "Skipped"]
RunPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"]
FINISHED_STEP_PHASES = frozenset({"Succeeded", "Failed", "Skipped"})
FINISHED_RUN_PHASES = frozenset({"Succeeded", "Failed", "Cancelled"})


class ArtifactRef(Model):
    """A large value kept in the artifact store, passed to later steps by reference."""

    uri: str
    digest: str
    size: int
    format: Literal["pickle", "file"] = "pickle"
    type: str = ""


class OutputValue(Model):
    """One output of a step: a small JSON value inline, or an artifact reference."""

    name: str
    value: Any = None
    artifact: ArtifactRef | None = None


class StepUsage(Model):
    """CPU and memory the step used, sampled while it ran."""

    cpu_cores_avg: float = Field(default=0.0, alias="cpuCoresAvg")
    cpu_cores_max: float = Field(default=0.0, alias="cpuCoresMax")
    memory_bytes_max: int = Field(default=0, alias="memoryBytesMax")
    samples: int = 0


class Placement(Model):
    """What the node granted the running attempt."""

    node: str = ""
    cpus: list[int] = Field(default_factory=list)
    cpu_millis: int = Field(default=0, alias="cpuMillis")
    memory_bytes: int = Field(default=0, alias="memoryBytes")
    gpus: list[int] = Field(default_factory=list)
    gpu_millis: int | None = Field(
        default=None,
        alias="gpuMillis",
        description="thousandths of a GPU held in all: 250 for a quarter share of the one "
        "device in gpus, 2000 for two whole ones",
    )
    gpu_alternative: int | None = Field(
        default=None,
        alias="gpuAlternative",
        description="which entry of the step's gpuAlternatives was granted, from 0",
    )


class StartEstimate(Model):
    """When a waiting step is expected to start (`time`) and what ending makes room for it
    (`after`, a `run/step`), or why no time can be told (`reason`)."""

    time: Time | None = None
    after: str | None = None
    reason: str = ""


class StepStatus(Model):
    name: str
    phase: StepPhase = "Pending"
    reason: str = ""
    message: str = ""
    attempts: int = 0
    start_time: Time | None = Field(default=None, alias="startTime")
    finish_time: Time | None = Field(default=None, alias="finishTime")
    next_retry_time: Time | None = Field(default=None, alias="nextRetryTime")
    exit_code: int | None = Field(default=None, alias="exitCode")
    cached: bool = False
    cache_key: str | None = Field(default=None, alias="cacheKey")
    outputs: list[OutputValue] = Field(default_factory=list)
    usage: StepUsage | None = None
    placement: Placement | None = None
    oom_kills: int = Field(
        default=0, ge=0, alias="oomKills", description="attempts killed for exceeding their memory"
    )
    memory_limit_bytes: int | None = Field(
        default=None,
        alias="memoryLimitBytes",
        gt=0,
        description="memory limit of the next attempts, raised after an OOM kill "
        "(retries.increaseMemoryOnOOM); absent: resources.memory of the step",
    )
    estimated_start: StartEstimate | None = Field(default=None, alias="estimatedStart")

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_STEP_PHASES


class PipelineRunStatus(Model):
    phase: RunPhase = "Pending"
    conditions: list[Condition] = Field(default_factory=list)
    start_time: Time | None = Field(default=None, alias="startTime")
    completion_time: Time | None = Field(default=None, alias="completionTime")
    pipeline_spec: PipelineSpec | None = Field(default=None, alias="pipelineSpec")
    params: list[ParamValue] = Field(default_factory=list)
    steps: list[StepStatus] = Field(default_factory=list)
    outputs: list[OutputValue] = Field(default_factory=list)
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    priority: int | None = None
    queue: str | None = None
    volumes: list[ScratchVolumeStatus] = Field(
        default_factory=list, description="the run's scratch volumes"
    )

    def step(self, name: str) -> StepStatus | None:
        return next((s for s in self.steps if s.name == name), None)


class PipelineRun(Model):
    api_version: Literal["mlkube.io/v1alpha1"] = Field(
        default="mlkube.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["PipelineRun"] = "PipelineRun"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineRunSpec
    status: PipelineRunStatus = Field(default_factory=PipelineRunStatus)
