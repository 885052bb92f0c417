"""`Pipeline`: a DAG of steps whose outputs flow into the next steps' inputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from mlkube.api.meta import Model, ObjectMeta
from mlkube.api.resources import Resources
from mlkube.api.volumes import Volume, VolumeMount

DEFAULT_OUTPUT = "output"


SOURCE_LIMIT = 512 * 1024  # bytes of shipped source: a bigger code base belongs in an image


class PythonFunction(Model):
    """A Python function to call: `module` is an importable name or a path to a `.py` file.

    `source` is that file's text as submitted (the SDK ships it for a `.py` module, as
    Kubeflow's lightweight components do): where the file is missing, in a pod on a cluster,
    the executor imports this text instead, and the step cache keys on it."""

    module: str = Field(min_length=1)
    function: str = Field(min_length=1)
    source: str | None = Field(default=None, max_length=SOURCE_LIMIT)


class EnvVar(Model):
    name: str = Field(min_length=1, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    value: str = ""


class InputSource(Model):
    """Where one input of a step comes from: a literal value, a run parameter or a step output."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: Any = None
    param: str | None = None
    from_step: str | None = Field(default=None, alias="fromStep")
    output: str = DEFAULT_OUTPUT

    @model_validator(mode="after")
    def _one_source(self) -> InputSource:
        sources = [self.param is not None, self.from_step is not None]
        if sum(sources) > 1 or (any(sources) and self.value is not None):
            raise ValueError("set exactly one of value, param or fromStep")
        return self


class RetryPolicy(Model):
    """How often a failed attempt is retried and how long to wait in between."""

    limit: int = Field(default=0, ge=0, le=100)
    backoff_seconds: float = Field(default=1.0, alias="backoffSeconds", ge=0)
    backoff_factor: float = Field(default=2.0, alias="backoffFactor", ge=1)
    max_backoff_seconds: float = Field(default=300.0, alias="maxBackoffSeconds", ge=0)
    increase_memory_on_oom: bool = Field(
        default=False,
        alias="increaseMemoryOnOOM",
        description="true: an attempt killed for exceeding its memory limit is retried with "
        "a higher limit (as VPA bumps it after an OOM kill), never above the node's memory; "
        "the raised limit is kept in the step's status (memoryLimitBytes)",
    )

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait before the attempt after `failed_attempts` failures (≥ 1)."""
        raw = self.backoff_seconds * self.backoff_factor ** max(failed_attempts - 1, 0)
        return float(min(raw, self.max_backoff_seconds))


Isolation = Literal["fork", "process"]


class StepSpec(Model):
    """One step: a Python function (`python`) or a plain command (`command` + `args`)."""

    name: str = Field(min_length=1, max_length=63)
    python: PythonFunction | None = None
    command: list[str] | None = None
    args: list[str] = Field(default_factory=list)
    env: list[EnvVar] = Field(default_factory=list)
    inputs: list[InputSource] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=lambda: [DEFAULT_OUTPUT])
    depends_on: list[str] = Field(default_factory=list, alias="dependsOn")
    resources: Resources = Field(default_factory=Resources)
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_seconds: float | None = Field(default=None, alias="timeoutSeconds", gt=0)
    cache: bool = True
    isolation: Isolation = "fork"
    working_dir: str | None = Field(default=None, alias="workingDir")
    volume_mounts: list[VolumeMount] = Field(
        default_factory=list,
        alias="volumeMounts",
        description="volumes of the pipeline this step sees; a step that mounts any is never "
        "served from the step cache, as what it reads or writes there is not in its cache key",
    )

    @model_validator(mode="after")
    def _python_or_command(self) -> StepSpec:
        if (self.python is None) == (self.command is None):
            raise ValueError("set exactly one of python or command")
        if self.command is not None and not self.command:
            raise ValueError("command must not be empty")
        return self

    def upstream(self) -> list[str]:
        """Names of the steps this one waits for, in first-mention order, without repeats."""
        names = [i.from_step for i in self.inputs if i.from_step] + list(self.depends_on)
        return list(dict.fromkeys(names))


class ParamSpec(Model):
    """A pipeline parameter; without a default, every run must give a value."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    default: Any = None
    description: str = ""


class PipelineOutput(Model):
    """A result of the whole pipeline, taken from one step's output."""

    name: str = Field(min_length=1)
    from_step: str = Field(alias="fromStep")
    output: str = DEFAULT_OUTPUT


class PipelineSpec(Model):
    params: list[ParamSpec] = Field(default_factory=list)
    steps: list[StepSpec] = Field(min_length=1)
    outputs: list[PipelineOutput] = Field(default_factory=list)
    description: str = ""
    volumes: list[Volume] = Field(default_factory=list)


class Pipeline(Model):
    api_version: Literal["mlkube.io/v1alpha1"] = Field(
        default="mlkube.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["Pipeline"] = "Pipeline"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineSpec


def step_invocation(step: StepSpec, inputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What the executor is told to run for one attempt of `step`: its resolved inputs (name
    → `{"value": V}` or `{"artifact": {...}}`), the outputs it must produce, and its python
    function or command and args. Where the result and the artifacts go is added by whoever
    hands the attempt over (an attempt folder on one machine, an object store on a cluster)."""
    body: dict[str, Any] = {
        "inputs": {name: dict(source) for name, source in inputs.items()},
        "outputs": list(step.outputs),
    }
    if step.python is not None:
        body["python"] = step.python.to_dict()
    else:
        body["command"] = step.command
        body["args"] = step.args
    return body
