"""What a step asks for: CPUs, memory and GPUs (by vendor, count and optional model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from mlkube.api.meta import Model
from mlkube.api.quantity import cpu_millis, memory_bytes, parse_quantity

GpuVendor = Literal["nvidia", "amd"]
GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}


def _quantity_string(value: Any) -> Any:
    """Accept `2`, `0.5` or `"512Mi"`; keep the user's spelling; refuse what is not a quantity."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        value = str(value)
    if isinstance(value, str):
        parse_quantity(value)  # raises QuantityError (a ValueError) with the reason
    return value


Quantity = Annotated[str, BeforeValidator(_quantity_string)]


class Resources(Model):
    """A step's requests, which the local runtime enforces and the scheduler accounts.

    `cpu` pins the step to that many cores (rounded up); `memory` is a hard limit;
    `nvidia.com/gpu` / `amd.com/gpu` grant that many devices, of `gpuModel` if given.
    """

    cpu: Quantity | None = None
    memory: Quantity | None = None
    nvidia_gpu: int | None = Field(default=None, alias="nvidia.com/gpu", ge=0)
    amd_gpu: int | None = Field(default=None, alias="amd.com/gpu", ge=0)
    gpu_model: str | None = Field(default=None, alias="gpuModel", min_length=1)

    @model_validator(mode="after")
    def _one_gpu_vendor(self) -> Resources:
        if self.nvidia_gpu and self.amd_gpu:
            raise ValueError("ask for nvidia.com/gpu or amd.com/gpu, not both")
        if self.gpu_model and not (self.nvidia_gpu or self.amd_gpu):
            raise ValueError("gpuModel needs a GPU count (nvidia.com/gpu or amd.com/gpu)")
        if self.cpu is not None and parse_quantity(self.cpu) < 0:
            raise ValueError("cpu must not be negative")
        if self.memory is not None and parse_quantity(self.memory) < 0:
            raise ValueError("memory must not be negative")
        return self

    def request(self) -> ResourceRequest:
        """The plain numbers the scheduler works with."""
        vendor: GpuVendor | None = None
        count = 0
        if self.nvidia_gpu:
            vendor, count = "nvidia", self.nvidia_gpu
        elif self.amd_gpu:
            vendor, count = "amd", self.amd_gpu
        return ResourceRequest(
            cpu_millis=cpu_millis(self.cpu) if self.cpu is not None else 0,
            memory_bytes=memory_bytes(self.memory) if self.memory is not None else 0,
            gpu_count=count,
            gpu_vendor=vendor,
            gpu_model=self.gpu_model,
        )


@dataclass(frozen=True)
class ResourceRequest:
    """A request in plain integers: millicores, bytes, whole GPUs. Zero means not asked for."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    gpu_count: int = 0
    gpu_vendor: GpuVendor | None = None
    gpu_model: str | None = None
