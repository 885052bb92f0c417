"""The schema of a YAML simulation trace (see `mlkube.sim.trace` for the format in full).

Pydantic models on the API layer's `Model` (unknown fields refused, camelCase names) and its
`Quantity` (Kubernetes quantities), so a bad trace is refused with the path of every bad field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mlkube.api.meta import Model
from mlkube.api.resources import Quantity

GPU = "nvidia.com/gpu"


class NodeShape(Model):
    """What one node has: `cpu`, `memory`, whole `nvidia.com/gpu` devices of `gpuModel`."""

    cpu: Quantity
    memory: Quantity
    nvidia_gpu: int = Field(default=0, alias="nvidia.com/gpu", ge=0)
    gpu_model: str | None = Field(default=None, alias="gpuModel", min_length=1)

    @model_validator(mode="after")
    def _model_needs_gpus(self) -> NodeShape:
        if self.nvidia_gpu and not self.gpu_model:
            raise ValueError("a node with nvidia.com/gpu needs a gpuModel")
        return self


class NodeEntry(NodeShape):
    """`count` nodes of this shape, named `name` (or `name-0`, `name-1`, ... when several)."""

    name: str = Field(min_length=1)
    count: int = Field(default=1, ge=1)


class NodeGroupEntry(Model):
    name: str = Field(min_length=1)
    template: NodeShape
    min: int = Field(default=0, ge=0)
    max: int = Field(ge=0)
    initial: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> NodeGroupEntry:
        if self.min > self.max:
            raise ValueError(f"min {self.min} must not exceed max {self.max}")
        if self.initial is not None and not self.min <= self.initial <= self.max:
            raise ValueError(f"initial {self.initial} must be between min and max")
        return self


class AutoscalerEntry(Model):
    provisioning_seconds: float = Field(default=60.0, alias="provisioningSeconds", ge=0)
    scale_down_unneeded_seconds: float = Field(
        default=600.0, alias="scaleDownUnneededSeconds", ge=0
    )
    expander: Literal["least-waste", "most-pods"] = "least-waste"


class Requests(Model):
    """Per pod. `nvidia.com/gpu` may be a fraction below 1 (a share of one device)."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    nvidia_gpu: Quantity | None = Field(default=None, alias="nvidia.com/gpu")

    def quantities(self) -> dict[str, str]:
        values = {"cpu": self.cpu, "memory": self.memory, GPU: self.nvidia_gpu}
        return {k: v for k, v in values.items() if v is not None}


class Choice(Model):
    """One way to run a pod: what it requests, and optionally which GPU model."""

    requests: Requests
    gpu_model: str | None = Field(default=None, alias="gpuModel", min_length=1)


class PodSetEntry(Choice):
    name: str = Field(default="main", min_length=1)
    count: int = Field(default=1, ge=1)
    fallbacks: list[Choice] = Field(default_factory=list)


class WorkloadEntry(Model):
    """A workload, or with `repeat` several (named `name-0`...) arriving `interval` apart."""

    name: str = Field(min_length=1)
    namespace: str = Field(default="default", min_length=1)
    arrival: float = Field(default=0.0, ge=0)
    duration: float = Field(gt=0)
    priority_class_name: str | None = Field(default=None, alias="priorityClassName")
    pod_sets: list[PodSetEntry] = Field(alias="podSets", min_length=1)
    repeat: int = Field(default=1, ge=1)
    interval: float = Field(default=0.0, ge=0)


class TraceFile(Model):
    nodes: list[NodeEntry] = Field(default_factory=list)
    node_groups: list[NodeGroupEntry] = Field(default_factory=list, alias="nodeGroups")
    autoscaler: AutoscalerEntry = Field(default_factory=AutoscalerEntry)
    preemption_grace_seconds: float = Field(default=30.0, alias="preemptionGraceSeconds", ge=0)
    tick_seconds: float = Field(default=1.0, alias="tickSeconds", ge=0)
    placement: Literal["best-fit", "fgd"] = "best-fit"
    manifests: list[dict[str, Any] | str] = Field(default_factory=list)
    workloads: list[WorkloadEntry] = Field(min_length=1)
