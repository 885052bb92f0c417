"""What a step asks for: CPUs, memory and GPUs (by vendor, count, model, share or fallback list).

GPUs come in three shapes, all counted in thousandths of a device (as quota counts them):

- whole devices: `nvidia.com/gpu: 2`, optionally of `gpuModel`;
- a share of one device: `nvidia.com/gpu: 0.25` (a fraction below 1), and/or `gpuMemory: 20Gi`
  (with a count of 1 or a fraction), a share sized by memory: on the device the node picks,
  `gpuMemory / device memory`, rounded up to a thousandth; with a fraction too, the larger;
- a fallback list, `gpuAlternatives: [{model: H100, count: 1}, {model: A100, count: 2}]`: tried
  in order, the first that quota and the node allow is granted (SkyPilot's ordered
  `accelerators` list; Kueue tries a queue's flavors in order the same way).

A share is a scheduling share, as with NVIDIA time-slicing: steps on one device are not
isolated from each other's memory or compute; the step is told its share
(`MLKUBE_GPU_FRACTION`, `MLKUBE_GPU_MEMORY_BYTES`) and is trusted to keep to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from mlkube.api.meta import Model
from mlkube.api.quantity import cpu_millis, format_bytes, memory_bytes, parse_quantity

GpuVendor = Literal["nvidia", "amd"]
GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}
WHOLE_GPU = 1000  # thousandths: the unit GPUs are counted in
TIMES = "\N{MULTIPLICATION SIGN}"  # as in "A100 times 2", in reasons people read


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


def _gpu_amount(value: float) -> float:
    """A GPU count: whole devices, or a fraction of one below 1, in thousandths."""
    if value < 0:
        raise ValueError("a GPU count must not be negative")
    if value > 1 and not value.is_integer():
        raise ValueError("a fraction of a GPU must be below 1; above that ask for whole GPUs")
    if not (Decimal(str(value)) * WHOLE_GPU) % 1 == 0:
        raise ValueError("GPU fractions are counted in thousandths: use at most 3 decimals")
    return value


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a GPU count")
    return value


def _plain_number(value: float) -> int | float:
    # `2` reads back as `2`, not `2.0`.
    return int(value) if float(value).is_integer() else value


_GPU_AMOUNT = (
    BeforeValidator(_not_bool),
    AfterValidator(_gpu_amount),
    PlainSerializer(_plain_number),
)
GpuAmount = Annotated[float, Field(ge=0), *_GPU_AMOUNT]
PositiveGpuAmount = Annotated[float, Field(gt=0), *_GPU_AMOUNT]


def gpu_millis(amount: float) -> int:
    """A GPU count in thousandths (`0.25` → 250, `2` → 2000), exactly."""
    return int(Decimal(str(amount)) * WHOLE_GPU)


def format_gpus(millis: int) -> str:
    """Thousandths of a GPU as a person writes them (`250` → `0.25`, `2000` → `2`)."""
    return format(Decimal(millis) / WHOLE_GPU, "f").rstrip("0").rstrip(".") or "0"


class GpuAlternative(Model):
    """One entry of a fallback list: `count` GPUs of `model`, or a share of one."""

    model: str = Field(min_length=1, description="GPU model, matched as a substring")
    count: PositiveGpuAmount = Field(default=1.0, description="whole GPUs, or a fraction below 1")
    vendor: GpuVendor = "nvidia"
    gpu_memory: Quantity | None = Field(
        default=None, alias="gpuMemory", description="a share of one GPU sized by its memory"
    )

    @model_validator(mode="after")
    def _memory_share_of_one(self) -> GpuAlternative:
        _check_memory_share(self.gpu_memory, self.count, where="count")
        return self


def _check_memory_share(memory: str | None, count: float, *, where: str) -> None:
    if memory is None:
        return
    if parse_quantity(memory) <= 0:
        raise ValueError("gpuMemory must be above 0")
    if count > 1:
        raise ValueError(
            f"gpuMemory sizes a share of one GPU: set {where} to 1 (or a fraction) with it, "
            "or ask for whole GPUs without it"
        )


class Resources(Model):
    """A step's requests, which the local runtime enforces and the scheduler accounts.

    `cpu` pins the step to that many cores (rounded up); `memory` is a hard limit;
    `nvidia.com/gpu` / `amd.com/gpu` grant that many devices, of `gpuModel` if given, or a
    share of one device (a fraction below 1, or `gpuMemory`); `gpuAlternatives` is an ordered
    fallback list of models and counts. See the module docstring.
    """

    cpu: Quantity | None = None
    memory: Quantity | None = None
    nvidia_gpu: GpuAmount | None = Field(default=None, alias="nvidia.com/gpu")
    amd_gpu: GpuAmount | None = Field(default=None, alias="amd.com/gpu")
    gpu_model: str | None = Field(default=None, alias="gpuModel", min_length=1)
    gpu_memory: Quantity | None = Field(
        default=None,
        alias="gpuMemory",
        description="a share of one GPU sized by memory: gpuMemory / the granted device's "
        "memory, rounded up to a thousandth; needs nvidia.com/gpu or amd.com/gpu of 1 or less",
    )
    gpu_alternatives: list[GpuAlternative] | None = Field(
        default=None,
        alias="gpuAlternatives",
        description="GPU choices tried in order, e.g. [{model: H100, count: 1}, "
        "{model: A100, count: 2}]; replaces nvidia.com/gpu, amd.com/gpu and gpuModel",
    )

    @field_validator("gpu_alternatives")
    @classmethod
    def _distinct_alternatives(cls, value: list[GpuAlternative] | None) -> Any:
        if value is None:
            return value
        if not value:
            raise ValueError(
                "gpuAlternatives must list at least one {model, count}; leave it out to ask "
                "for no GPU"
            )
        seen: dict[tuple[str, str], int] = {}
        for i, alternative in enumerate(value):
            key = (alternative.vendor, alternative.model.lower())
            if key in seen:
                raise ValueError(
                    f"gpuAlternatives[{i}].model {alternative.model!r} is already listed at "
                    f"gpuAlternatives[{seen[key]}]; list each model once"
                )
            seen[key] = i
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Resources:
        if self.nvidia_gpu and self.amd_gpu:
            raise ValueError("ask for nvidia.com/gpu or amd.com/gpu, not both")
        if self.gpu_alternatives is not None:
            self._alternatives_alone()
        count = self.nvidia_gpu or self.amd_gpu
        if self.gpu_model and not count:
            raise ValueError("gpuModel needs a GPU count (nvidia.com/gpu or amd.com/gpu)")
        if self.gpu_memory is not None and not count:
            raise ValueError(
                "gpuMemory sizes a share of one GPU: also set nvidia.com/gpu (or amd.com/gpu) "
                "to 1 or a fraction"
            )
        _check_memory_share(self.gpu_memory, count or 0, where="nvidia.com/gpu / amd.com/gpu")
        if self.cpu is not None and parse_quantity(self.cpu) < 0:
            raise ValueError("cpu must not be negative")
        if self.memory is not None and parse_quantity(self.memory) < 0:
            raise ValueError("memory must not be negative")
        return self

    def _alternatives_alone(self) -> None:
        for name, value in (
            ("nvidia.com/gpu", self.nvidia_gpu),
            ("amd.com/gpu", self.amd_gpu),
            ("gpuModel", self.gpu_model),
            ("gpuMemory", self.gpu_memory),
        ):
            if value:
                raise ValueError(
                    f"gpuAlternatives replaces {name}: give each alternative its own model, "
                    "count, vendor and gpuMemory"
                )

    def gpu_choices(self) -> tuple[GpuChoice, ...]:
        """The GPU requests to try, in order: one, the fallback list, or none."""
        if self.gpu_alternatives:
            return tuple(
                GpuChoice.of(a.vendor, a.count, a.model, a.gpu_memory)
                for a in self.gpu_alternatives
            )
        if self.nvidia_gpu:
            return (GpuChoice.of("nvidia", self.nvidia_gpu, self.gpu_model, self.gpu_memory),)
        if self.amd_gpu:
            return (GpuChoice.of("amd", self.amd_gpu, self.gpu_model, self.gpu_memory),)
        return ()

    def request(self) -> ResourceRequest:
        """The plain numbers the scheduler works with."""
        cpu = cpu_millis(self.cpu) if self.cpu is not None else 0
        memory = memory_bytes(self.memory) if self.memory is not None else 0
        choices = self.gpu_choices()
        if not choices:
            return ResourceRequest(cpu_millis=cpu, memory_bytes=memory)
        return ResourceRequest(cpu_millis=cpu, memory_bytes=memory).with_gpus(*choices)


@dataclass(frozen=True)
class GpuChoice:
    """One way to satisfy a GPU request: `count` devices of `vendor` (and `model`, matched as
    a case-insensitive substring), each held whole; or, when `shared`, part of one device:
    at least `share_millis` thousandths and at least `memory_bytes` of its memory."""

    vendor: GpuVendor
    count: int
    model: str | None = None
    share_millis: int = 0  # 1..999: a fraction of one device; 0: not sized by a fraction
    memory_bytes: int = 0  # > 0: a share sized by the device's memory

    @classmethod
    def of(
        cls, vendor: GpuVendor, amount: float, model: str | None, memory: str | None
    ) -> GpuChoice:
        """From the manifest's spelling: `amount` GPUs (or a fraction), `memory` a quantity."""
        millis = gpu_millis(amount)
        memory_share = memory_bytes(memory) if memory is not None else 0
        if millis >= WHOLE_GPU and not memory_share:
            return cls(vendor, millis // WHOLE_GPU, model)
        return cls(vendor, 1, model, millis % WHOLE_GPU, memory_share)

    @property
    def shared(self) -> bool:
        return bool(self.share_millis or self.memory_bytes)

    @property
    def resource(self) -> str:
        return GPU_RESOURCE[self.vendor]

    def share_on(self, device_memory_bytes: int) -> int | None:
        """Thousandths of a device of that memory this choice holds; None when a memory share
        cannot be sized there (the device is smaller, or its memory is unknown)."""
        if not self.shared:
            return WHOLE_GPU
        share = self.share_millis
        if self.memory_bytes:
            if device_memory_bytes < self.memory_bytes:
                return None
            share = max(share, math.ceil(self.memory_bytes * WHOLE_GPU / device_memory_bytes))
        return share

    def describe(self) -> str:
        """`A100 ×2`, `nvidia.com/gpu ×0.25` or `H100 20Gi share`, for reasons."""  # noqa: RUF002
        what = self.model or self.resource
        if not self.shared:
            return f"{what} {TIMES}{self.count}"
        if not self.memory_bytes:
            return f"{what} {TIMES}{format_gpus(self.share_millis)}"
        least = f" (at least {TIMES}{format_gpus(self.share_millis)})"
        fraction = least if self.share_millis else ""
        return f"{what} {format_bytes(self.memory_bytes)} share{fraction}"


@dataclass(frozen=True)
class ResourceRequest:
    """A request in plain integers: millicores, bytes, GPUs. Zero means not asked for.

    The `gpu_*` fields are the first GPU choice: `gpu_count` devices (1 for a share), with
    `gpu_share_millis` / `gpu_memory_bytes` set for a share of one device; `gpu_fallbacks`
    are the further choices of a fallback list, tried in order after it.
    """

    cpu_millis: int = 0
    memory_bytes: int = 0
    gpu_count: int = 0
    gpu_vendor: GpuVendor | None = None
    gpu_model: str | None = None
    gpu_share_millis: int = 0
    gpu_memory_bytes: int = 0
    gpu_fallbacks: tuple[GpuChoice, ...] = ()

    def gpu_choices(self) -> tuple[GpuChoice, ...]:
        """Every GPU choice in order; empty for a request without GPUs."""
        if not self.gpu_count or self.gpu_vendor is None:
            return ()
        first = GpuChoice(
            self.gpu_vendor,
            self.gpu_count,
            self.gpu_model,
            self.gpu_share_millis,
            self.gpu_memory_bytes,
        )
        return (first, *self.gpu_fallbacks)

    def with_gpus(self, first: GpuChoice, *fallbacks: GpuChoice) -> ResourceRequest:
        """The same CPU and memory with these GPU choices (one choice: no fallback left)."""
        return ResourceRequest(
            cpu_millis=self.cpu_millis,
            memory_bytes=self.memory_bytes,
            gpu_count=first.count,
            gpu_vendor=first.vendor,
            gpu_model=first.model,
            gpu_share_millis=first.share_millis,
            gpu_memory_bytes=first.memory_bytes,
            gpu_fallbacks=fallbacks,
        )
