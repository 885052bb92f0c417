"""GPU requests in Kubernetes' terms: resource, node selector or affinity, toleration, env."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.resources import Resources
from mlkube.runtime.kubernetes import TranslationError
from mlkube.runtime.kubernetes.gpus import gpu_choice, gpu_scheduling

PRODUCTS = {
    "a100": ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-PCIE-40GB"),
    "h100": ("NVIDIA-H100-80GB-HBM3",),
}
NVIDIA_TAINT = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
AMD_TAINT = {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def schedule(resources: dict[str, Any], alternative: int = 0) -> Any:
    parsed = Resources.model_validate(resources)
    choice = gpu_choice(parsed, alternative=alternative, where="spec.resources")
    return gpu_scheduling(choice, PRODUCTS, where="spec.resources")


@pytest.mark.parametrize(
    ("resources", "limits", "selector", "tolerations", "env"),
    [
        ({"cpu": "1"}, {}, {}, [], {}),
        ({"nvidia.com/gpu": 2}, {"nvidia.com/gpu": 2}, {}, [NVIDIA_TAINT], {}),
        ({"amd.com/gpu": 1}, {"amd.com/gpu": 1}, {}, [AMD_TAINT], {}),
        (
            {"nvidia.com/gpu": 1, "gpuModel": "H100"},
            {"nvidia.com/gpu": 1},
            {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            [NVIDIA_TAINT],
            {},
        ),
        (
            {"nvidia.com/gpu": 1, "gpuModel": "Tesla T4"},
            {"nvidia.com/gpu": 1},
            {"nvidia.com/gpu.product": "Tesla-T4"},
            [NVIDIA_TAINT],
            {},
        ),
        (
            {"amd.com/gpu": 8, "gpuModel": "AMD_Instinct_MI300X_OAM"},
            {"amd.com/gpu": 8},
            {"amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM"},
            [AMD_TAINT],
            {},
        ),
        (
            {"nvidia.com/gpu": 0.25},
            {"nvidia.com/gpu.shared": 1},
            {},
            [NVIDIA_TAINT],
            {"MLKUBE_GPU_FRACTION": "0.25"},
        ),
        (
            {"nvidia.com/gpu": 1, "gpuMemory": "20Gi", "gpuModel": "H100"},
            {"nvidia.com/gpu.shared": 1},
            {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            [NVIDIA_TAINT],
            {"MLKUBE_GPU_MEMORY_BYTES": str(20 * 2**30)},
        ),
        (
            {"nvidia.com/gpu": 0.5, "gpuMemory": "10Gi"},
            {"nvidia.com/gpu.shared": 1},
            {},
            [NVIDIA_TAINT],
            {"MLKUBE_GPU_FRACTION": "0.5", "MLKUBE_GPU_MEMORY_BYTES": str(10 * 2**30)},
        ),
    ],
)
def test_gpu_mapping(
    resources: dict[str, Any],
    limits: dict[str, int],
    selector: dict[str, str],
    tolerations: list[dict[str, str]],
    env: dict[str, str],
) -> None:
    gpus = schedule(resources)
    assert gpus.limits == {k: str(v) for k, v in limits.items()}  # quantities are strings
    assert gpus.node_selector == selector
    assert gpus.tolerations == tolerations
    assert gpus.env == env
    assert gpus.affinity == {}


def test_a_model_with_several_product_names_is_a_required_affinity() -> None:
    gpus = schedule({"nvidia.com/gpu": 4, "gpuModel": "A100"})
    assert gpus.node_selector == {}
    terms = gpus.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {
                        "key": "nvidia.com/gpu.product",
                        "operator": "In",
                        "values": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-PCIE-40GB"],
                    }
                ]
            }
        ]
    }


@pytest.mark.parametrize(
    ("alternative", "limits", "selector"),
    [
        (0, {"nvidia.com/gpu": "1"}, {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}),
        (1, {"amd.com/gpu": "2"}, {"amd.com/gpu.product-name": "MI250"}),
    ],
)
def test_the_granted_alternative_is_built(
    alternative: int, limits: dict[str, str], selector: dict[str, str]
) -> None:
    resources = {
        "gpuAlternatives": [
            {"model": "H100", "count": 1},
            {"model": "MI250", "count": 2, "vendor": "amd"},
        ]
    }
    gpus = schedule(resources, alternative)
    assert (gpus.limits, gpus.node_selector) == (limits, selector)


@pytest.mark.parametrize(
    ("resources", "alternative", "field", "words"),
    [
        ({"amd.com/gpu": 0.5}, 0, "spec.resources.amd.com/gpu", "no time-slicing"),
        ({"amd.com/gpu": 1, "gpuMemory": "8Gi"}, 0, "spec.resources.amd.com/gpu", "whole GPUs"),
        ({"gpuAlternatives": [{"model": "H100"}]}, 1, "spec.resources.gpuAlternatives", "only 1"),
        ({"nvidia.com/gpu": 1, "gpuModel": "A100/80GB"}, 0, "spec.resources.gpuModel", "label"),
        ({"nvidia.com/gpu": 1, "gpuModel": "X" * 64}, 0, "spec.resources.gpuModel", "63"),
    ],
)
def test_what_has_no_kubernetes_form_is_refused_by_field(
    resources: dict[str, Any], alternative: int, field: str, words: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        schedule(resources, alternative)
    assert caught.value.field == field
    assert words in caught.value.reason
