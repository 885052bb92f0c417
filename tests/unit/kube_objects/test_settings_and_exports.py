"""The builders' settings refuse bad values by name; the package's public names resolve."""

from __future__ import annotations

from typing import Any

import pytest

import mlkube.runtime.kubernetes as kube
from mlkube.install import DEFAULT_IMAGE as OPERATOR_IMAGE
from mlkube.runtime.kubernetes import ClusterSettings, TranslationError


def test_public_names_resolve() -> None:
    for name in kube.__all__:
        assert getattr(kube, name) is not None


def test_steps_run_in_the_operators_image_by_default() -> None:
    assert ClusterSettings().image == kube.DEFAULT_IMAGE == OPERATOR_IMAGE


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"image": ""}, "image"),
        ({"artifact_store": "gs://bucket"}, "artifactStore"),
        ({"ttl_seconds_after_finished": -1}, "ttlSecondsAfterFinished"),
        ({"run_as_user": 0}, "runAsUser"),
        ({"default_requests": {"nvidia.com/gpu": "1"}}, "defaultRequests.nvidia.com/gpu"),
        ({"default_requests": {"cpu": "lots"}}, "defaultRequests.cpu"),
    ],
)
def test_bad_settings_are_refused_by_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as caught:
        ClusterSettings(**settings)
    assert caught.value.field == field


def test_gpu_product_names_are_looked_up_case_insensitively_and_frozen() -> None:
    settings = ClusterSettings(gpu_products={"A100": ("NVIDIA-A100-SXM4-80GB",)})
    assert settings.gpu_products["a100"] == ("NVIDIA-A100-SXM4-80GB",)
    with pytest.raises(TypeError):
        settings.gpu_products["h100"] = ()  # type: ignore[index]
