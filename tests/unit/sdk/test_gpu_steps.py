"""The SDK's side of shared GPUs and fallback lists: `@step` arguments, GPU-hours by share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlkube.api.resources import GpuChoice
from mlkube.sdk import DslError, pipeline, step
from mlkube.sdk.usage import step_charge

GiB = 2**30


def choices(**arguments: Any) -> tuple[GpuChoice, ...]:
    """The GPU choices of a one-step pipeline whose step takes `arguments`."""

    @step(**arguments)
    def train() -> None:
        return None

    @pipeline(name="gpus")
    def gpus() -> Any:
        return train()

    return gpus.compile().steps[0].resources.request().gpu_choices()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"gpu": 2, "gpu_model": "A100"}, (GpuChoice("nvidia", 2, "A100"),)),
        ({"gpu": 0.25}, (GpuChoice("nvidia", 1, None, 250),)),
        ({"gpu": 0.5, "gpu_vendor": "amd"}, (GpuChoice("amd", 1, None, 500),)),
        ({"gpu_memory": "20Gi"}, (GpuChoice("nvidia", 1, None, 0, 20 * GiB),)),
        (
            {"gpu_alternatives": {"H100": 1, "A100": 2}},
            (GpuChoice("nvidia", 1, "H100"), GpuChoice("nvidia", 2, "A100")),
        ),
        (
            {"gpu_alternatives": [("H100", 0.5), ("A100", 1)]},
            (GpuChoice("nvidia", 1, "H100", 500), GpuChoice("nvidia", 1, "A100")),
        ),
        ({}, ()),
    ],
)
def test_step_arguments(arguments: dict[str, Any], expected: tuple[GpuChoice, ...]) -> None:
    assert choices(**arguments) == expected


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"gpu": 1.5}, "a fraction of a GPU must be below 1; above that ask for whole GPUs"),
        ({"gpu_alternatives": {}}, "gpuAlternatives must list at least one"),
        ({"gpu": 1, "gpu_alternatives": {"H100": 1}}, "gpuAlternatives replaces nvidia.com/gpu"),
    ],
)
def test_bad_arguments_name_the_step_and_the_problem(
    arguments: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(DslError, match="step 'train'") as info:
        choices(**arguments)
    assert fragment in str(info.value)


NOW = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("placement", "gpu_hours"),
    [
        ({"gpus": [0], "gpuMillis": 250}, 0.25),
        ({"gpus": [0, 1], "gpuMillis": 2000}, 2.0),
        ({"gpus": [0, 1]}, 2.0),  # recorded before shares existed: whole devices
        ({"gpus": []}, 0.0),
    ],
)
def test_gpu_hours_are_charged_by_share(placement: dict[str, object], gpu_hours: float) -> None:
    one_hour = {
        "startTime": "2026-01-01T00:00:00Z",
        "finishTime": "2026-01-01T01:00:00Z",
        "placement": {"cpuMillis": 1000, **placement},
    }
    assert step_charge(one_hour, NOW) == (1.0, gpu_hours)
