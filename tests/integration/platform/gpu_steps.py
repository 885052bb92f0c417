"""Pipeline steps for the GPU-sharing tests: report the GPU environment a step was given."""

from __future__ import annotations

import os
import time
from pathlib import Path

GPU_VARIABLES = (
    "CUDA_VISIBLE_DEVICES",
    "MLKUBE_GPU_FRACTION",
    "MLKUBE_GPU_MEMORY_BYTES",
)


def hold(markers: str, step: str, release: str) -> dict[str, str | None]:
    """Say we started (a file `step` in `markers`), hold the GPU share until `release` exists
    (at most 60 s), then return the GPU variables this step saw."""
    Path(markers, step).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return gpu_env()


def gpu_env() -> dict[str, str | None]:
    """The GPU variables this step saw."""
    return {name: os.environ.get(name) for name in GPU_VARIABLES}
