"""Small traces for the engine tests, built as the YAML loader would read them."""

from __future__ import annotations

from typing import Any

QUEUE_API = "mlkube.io/v1alpha1"


def flavor(name: str, model: str | None = None) -> dict[str, Any]:
    spec = {"gpuModel": model} if model else {}
    return {
        "apiVersion": QUEUE_API,
        "kind": "ResourceFlavor",
        "metadata": {"name": name},
        "spec": spec,
    }


def queue(
    name: str, gpus: int, *, cohort: str | None = "c", flavor_name: str = "gpu", cpu: int = 64
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "namespaces": [name],
        "resourceGroups": [
            {
                "flavors": [
                    {
                        "name": flavor_name,
                        "resources": [
                            {"name": "cpu", "nominalQuota": str(cpu)},
                            {"name": "memory", "nominalQuota": "1Ti"},
                            {"name": "nvidia.com/gpu", "nominalQuota": str(gpus)},
                        ],
                    }
                ]
            }
        ],
    }
    if cohort:
        spec["cohort"] = cohort
    return {
        "apiVersion": QUEUE_API,
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": spec,
    }


def priority(name: str, value: int, *, default: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        "globalDefault": default,
    }


def gpu_shape(gpus: int = 1) -> dict[str, Any]:
    return {"cpu": 16, "memory": "128Gi", "nvidia.com/gpu": gpus, "gpuModel": "A100"}


def gpu_node(name: str, gpus: int = 1, count: int = 1) -> dict[str, Any]:
    return {"name": name, "count": count, **gpu_shape(gpus)}


def job(
    name: str,
    namespace: str,
    *,
    gpus: float = 1,
    pods: int = 1,
    at: float = 0,
    duration: float = 100,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "arrival": at,
        "duration": duration,
        "podSets": [
            {"count": pods, "requests": {"cpu": 2, "memory": "8Gi", "nvidia.com/gpu": gpus}}
        ],
        **extra,
    }
