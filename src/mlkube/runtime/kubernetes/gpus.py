"""A GPU request in Kubernetes' terms: an extended resource, a node selector, tolerations.

- Whole GPUs are limits on the device plugins' resources, `nvidia.com/gpu` / `amd.com/gpu`.
- A share of one NVIDIA GPU (`nvidia.com/gpu: 0.25`, or `gpuMemory`) becomes one unit of
  `nvidia.com/gpu.shared`: what NVIDIA's device plugin advertises when time-slicing is
  configured with `renameByDefault: true`. Time-slicing, like our own shares, isolates
  neither memory nor compute, so the step is told its share (`MLKUBE_GPU_FRACTION`,
  `MLKUBE_GPU_MEMORY_BYTES`) as on one machine; how many shares fit on a device is the
  device plugin's `replicas`, not the fraction asked for.
- A share of an AMD GPU is refused: AMD's device plugin offers no time-slicing.
- The GPU model becomes a node selector on the label the vendors' labellers set:
  `nvidia.com/gpu.product` (GPU feature discovery, spaces written as `-`) and
  `amd.com/gpu.product-name` (AMD's node labeller). A model the settings map to several
  product names becomes a required node affinity, since a node selector cannot say "or".
- GPU nodes are commonly tainted `nvidia.com/gpu` / `amd.com/gpu` NoSchedule so that other pods
  stay off them; a pod asking for GPUs tolerates the taint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlkube.api.resources import GPU_RESOURCE, GpuChoice, Resources, format_gpus
from mlkube.runtime.kubernetes.errors import TranslationError

SHARED_NVIDIA_RESOURCE = "nvidia.com/gpu.shared"
PRODUCT_LABEL = {"nvidia": "nvidia.com/gpu.product", "amd": "amd.com/gpu.product-name"}
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


@dataclass(frozen=True)
class GpuScheduling:
    """The pod's part of a GPU request: limits, placement, tolerations and environment."""

    # Quantities are strings, as the API serves them: the official client refuses an int.
    limits: dict[str, str] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    affinity: dict[str, Any] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def gpu_choice(resources: Resources, *, alternative: int, where: str) -> GpuChoice | None:
    """The GPU request to build: the only one, or entry `alternative` of a fallback list (the
    one our admission granted); None without GPUs."""
    choices = resources.gpu_choices()
    if not choices:
        return None
    if not 0 <= alternative < len(choices):
        raise TranslationError(
            f"{where}.gpuAlternatives",
            f"alternative {alternative} was granted but only {len(choices)} are listed",
        )
    return choices[alternative]


def gpu_scheduling(
    choice: GpuChoice | None, products: Mapping[str, tuple[str, ...]], *, where: str
) -> GpuScheduling:
    """What the pod needs for `choice` (see the module docstring); empty for no GPU."""
    if choice is None:
        return GpuScheduling()
    resource, env = _resource_and_env(choice, where=where)
    toleration = {"key": GPU_RESOURCE[choice.vendor], "operator": "Exists", "effect": "NoSchedule"}
    selector, affinity = _placement(choice, products, where=where)
    return GpuScheduling(
        limits={resource: str(choice.count)},
        node_selector=selector,
        affinity=affinity,
        tolerations=[toleration],
        env=env,
    )


def _resource_and_env(choice: GpuChoice, *, where: str) -> tuple[str, dict[str, str]]:
    if not choice.shared:
        return choice.resource, {}
    if choice.vendor == "amd":
        raise TranslationError(
            f"{where}.amd.com/gpu",
            "a share of an AMD GPU cannot be scheduled on Kubernetes (AMD's device plugin has "
            "no time-slicing); ask for whole GPUs",
        )
    env: dict[str, str] = {}
    if choice.share_millis:
        env["MLKUBE_GPU_FRACTION"] = format_gpus(choice.share_millis)
    if choice.memory_bytes:
        env["MLKUBE_GPU_MEMORY_BYTES"] = str(choice.memory_bytes)
    return SHARED_NVIDIA_RESOURCE, env


def product_names(model: str, products: Mapping[str, tuple[str, ...]], *, where: str) -> list[str]:
    """The node label values for `model`: from the settings' table, else the model itself
    written as the labellers write it (spaces as `-`)."""
    names = list(products.get(model.lower(), ())) or [re.sub(r"\s+", "-", model.strip())]
    for name in names:
        if len(name) > 63 or not _LABEL_VALUE.match(name):
            raise TranslationError(
                f"{where}.gpuModel",
                f"{name!r} cannot be a node label value (at most 63 letters, digits, '-', "
                "'_' or '.'); map the model to its product names in the cluster settings",
            )
    return names


def _placement(
    choice: GpuChoice, products: Mapping[str, tuple[str, ...]], *, where: str
) -> tuple[dict[str, str], dict[str, Any]]:
    if choice.model is None:
        return {}, {}
    key = PRODUCT_LABEL[choice.vendor]
    names = product_names(choice.model, products, where=where)
    if len(names) == 1:
        return {key: names[0]}, {}
    term = {"matchExpressions": [{"key": key, "operator": "In", "values": names}]}
    required = {"nodeSelectorTerms": [term]}
    return {}, {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
