"""mlkube.runtime: launch, stop and observe workloads (see `base` for the contract).

The public names are loaded on first use rather than here: `mlkube.runtime.local.entry`, the
first module of every fresh workload interpreter, lives under this package, and importing
`dataclasses` eagerly would add ~15 ms to each fresh start.
"""

from __future__ import annotations

import importlib

# Not `typing.TYPE_CHECKING`: importing `typing` costs a fresh interpreter ~6 ms. Type
# checkers treat any constant of this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from mlkube.runtime.base import (
        ClaimMount,
        ExitHandler,
        ExitReason,
        GpuDevice,
        GpuVendor,
        Isolation,
        NodeInfo,
        PythonTarget,
        Runtime,
        Usage,
        WorkloadExit,
        WorkloadOwner,
        WorkloadSpec,
    )

__all__ = [
    "ClaimMount",
    "ExitHandler",
    "ExitReason",
    "GpuDevice",
    "GpuVendor",
    "Isolation",
    "NodeInfo",
    "PythonTarget",
    "Runtime",
    "Usage",
    "WorkloadExit",
    "WorkloadOwner",
    "WorkloadSpec",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("mlkube.runtime.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
