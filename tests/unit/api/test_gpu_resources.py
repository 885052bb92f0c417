"""GPU requests in a step's resources: whole GPUs, shares of one, and fallback lists."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.test_validation import pipeline, step

from mlkube.api.errors import Invalid
from mlkube.api.kinds import INFERENCE_SERVICE, PIPELINE, validate
from mlkube.api.pipeline import Pipeline
from mlkube.api.resources import GpuChoice, Resources, format_gpus

GiB = 2**30
FIELD = "spec.steps[0].resources"


def resources(**given: Any) -> dict[str, Any]:
    return pipeline(step("a", resources=given))


def refused(obj: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(Invalid) as info:
        validate(PIPELINE, obj)
    return {c.field: c.message for c in info.value.causes}


# (case, resources as written, the GPU choices they ask for)
ACCEPTED = [
    ("whole GPUs", {"nvidia.com/gpu": 2}, [GpuChoice("nvidia", 2)]),
    ("a model", {"nvidia.com/gpu": 1, "gpuModel": "A100"}, [GpuChoice("nvidia", 1, "A100")]),
    ("a quarter", {"nvidia.com/gpu": 0.25}, [GpuChoice("nvidia", 1, None, 250)]),
    ("half an AMD GPU", {"amd.com/gpu": 0.5}, [GpuChoice("amd", 1, None, 500)]),
    ("a thousandth", {"nvidia.com/gpu": 0.001}, [GpuChoice("nvidia", 1, None, 1)]),
    ("a fraction as text", {"nvidia.com/gpu": "0.5"}, [GpuChoice("nvidia", 1, None, 500)]),
    (
        "a share by memory",
        {"nvidia.com/gpu": 1, "gpuMemory": "20Gi"},
        [GpuChoice("nvidia", 1, None, 0, 20 * GiB)],
    ),
    (
        "a fraction and memory",
        {"nvidia.com/gpu": 0.25, "gpuMemory": "10Gi", "gpuModel": "H100"},
        [GpuChoice("nvidia", 1, "H100", 250, 10 * GiB)],
    ),
    (
        "a fallback list, counts differing",
        {"gpuAlternatives": [{"model": "H100", "count": 1}, {"model": "A100", "count": 2}]},
        [GpuChoice("nvidia", 1, "H100"), GpuChoice("nvidia", 2, "A100")],
    ),
    (
        "a fallback list with shares and vendors",
        {
            "gpuAlternatives": [
                {"model": "H100", "count": 0.5},
                {"model": "A100", "gpuMemory": "20Gi"},
                {"model": "MI300X", "vendor": "amd"},
            ]
        },
        [
            GpuChoice("nvidia", 1, "H100", 500),
            GpuChoice("nvidia", 1, "A100", 0, 20 * GiB),
            GpuChoice("amd", 1, "MI300X"),
        ],
    ),
    ("no GPU", {"cpu": "1"}, []),
]


@pytest.mark.parametrize(
    ("given", "choices"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_accepted(given: dict[str, Any], choices: list[GpuChoice]) -> None:
    model = validate(PIPELINE, resources(**given))
    assert isinstance(model, Pipeline)
    request = model.spec.steps[0].resources.request()
    assert list(request.gpu_choices()) == choices


def test_counts_read_back_as_written() -> None:
    written = {"nvidia.com/gpu": 2, "gpuModel": "A100"}
    assert Resources.model_validate(written).to_dict() == written
    assert Resources.model_validate({"amd.com/gpu": 0.25}).to_dict() == {"amd.com/gpu": 0.25}
    listed = {"gpuAlternatives": [{"model": "H100"}, {"model": "A100", "count": 2}]}
    assert Resources.model_validate(listed).to_dict()["gpuAlternatives"] == [
        {"model": "H100", "count": 1, "vendor": "nvidia"},
        {"model": "A100", "count": 2, "vendor": "nvidia"},
    ]


# (case, resources as written, the field named, a fragment of the message)
REFUSED = [
    (
        "a fraction above 1",
        {"nvidia.com/gpu": 1.5},
        f"{FIELD}.nvidia.com/gpu",
        "a fraction of a GPU must be below 1; above that ask for whole GPUs",
    ),
    (
        "finer than a thousandth",
        {"amd.com/gpu": 0.0005},
        f"{FIELD}.amd.com/gpu",
        "GPU fractions are counted in thousandths",
    ),
    ("negative", {"nvidia.com/gpu": -0.5}, f"{FIELD}.nvidia.com/gpu", "greater than or equal to 0"),
    ("a boolean", {"nvidia.com/gpu": True}, f"{FIELD}.nvidia.com/gpu", "is not a GPU count"),
    (
        "gpuMemory without a count",
        {"gpuMemory": "20Gi"},
        FIELD,
        "gpuMemory sizes a share of one GPU: also set nvidia.com/gpu",
    ),
    (
        "gpuMemory with several GPUs",
        {"nvidia.com/gpu": 2, "gpuMemory": "20Gi"},
        FIELD,
        "gpuMemory sizes a share of one GPU",
    ),
    (
        "gpuMemory not a quantity",
        {"nvidia.com/gpu": 1, "gpuMemory": "lots"},
        f"{FIELD}.gpuMemory",
        "quantity",
    ),
    ("gpuMemory zero", {"nvidia.com/gpu": 1, "gpuMemory": "0"}, FIELD, "gpuMemory must be above 0"),
    (
        "an empty fallback list",
        {"gpuAlternatives": []},
        f"{FIELD}.gpuAlternatives",
        "gpuAlternatives must list at least one {model, count}",
    ),
    (
        "a model listed twice",
        {"gpuAlternatives": [{"model": "A100"}, {"model": "H100"}, {"model": "a100", "count": 2}]},
        f"{FIELD}.gpuAlternatives",
        "gpuAlternatives[2].model 'a100' is already listed at gpuAlternatives[0]",
    ),
    (
        "an alternative with a fraction above 1",
        {"gpuAlternatives": [{"model": "H100"}, {"model": "A100", "count": 2.5}]},
        f"{FIELD}.gpuAlternatives[1].count",
        "a fraction of a GPU must be below 1",
    ),
    (
        "an alternative of no GPU",
        {"gpuAlternatives": [{"model": "H100", "count": 0}]},
        f"{FIELD}.gpuAlternatives[0].count",
        "greater than 0",
    ),
    (
        "an alternative without a model",
        {"gpuAlternatives": [{"count": 1}]},
        f"{FIELD}.gpuAlternatives[0].model",
        "Required value",
    ),
    (
        "an unknown vendor",
        {"gpuAlternatives": [{"model": "X", "vendor": "intel"}]},
        f"{FIELD}.gpuAlternatives[0].vendor",
        "'nvidia' or 'amd'",
    ),
    (
        "an alternative's memory share of several GPUs",
        {"gpuAlternatives": [{"model": "A100", "count": 2, "gpuMemory": "20Gi"}]},
        f"{FIELD}.gpuAlternatives[0]",
        "gpuMemory sizes a share of one GPU: set count to 1",
    ),
    (
        "alternatives with gpuModel",
        {"gpuAlternatives": [{"model": "H100"}], "gpuModel": "A100"},
        FIELD,
        "gpuAlternatives replaces gpuModel",
    ),
    (
        "alternatives with a count",
        {"gpuAlternatives": [{"model": "H100"}], "nvidia.com/gpu": 1},
        FIELD,
        "gpuAlternatives replaces nvidia.com/gpu",
    ),
    (
        "alternatives with gpuMemory",
        {"gpuAlternatives": [{"model": "H100"}], "gpuMemory": "1Gi"},
        FIELD,
        "gpuAlternatives replaces gpuMemory",
    ),
]


@pytest.mark.parametrize(
    ("given", "field", "fragment"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused_naming_the_field(given: dict[str, Any], field: str, fragment: str) -> None:
    found = refused(resources(**given))
    assert field in found, found
    assert fragment in found[field]


def test_a_model_service_takes_a_share_too() -> None:
    service = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "s", "namespace": "default"},
        "spec": {
            "predictor": {
                "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "file:///m.pkl"},
                "resources": {"nvidia.com/gpu": 0.5},
            }
        },
    }
    model = validate(INFERENCE_SERVICE, service)
    assert model.to_dict()["spec"]["predictor"]["resources"] == {"nvidia.com/gpu": 0.5}


@pytest.mark.parametrize(("millis", "text"), [(250, "0.25"), (2000, "2"), (1, "0.001"), (0, "0")])
def test_thousandths_are_written_as_people_do(millis: int, text: str) -> None:
    assert format_gpus(millis) == text
