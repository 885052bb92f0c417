"""The whole cluster as one `NodeInfo` (pure: Node objects as the API server sent them).

Our admission (quotas, fair sharing, gangs) decides *whether* work may start, as Kueue does;
kube-scheduler decides *where*. So the controllers see one node holding the sum of what every
schedulable Node can allocate, and never admit more than the cluster holds:

- cpus: the sum of each node's whole allocatable cores, numbered 0..N-1;
- memory: the sum of allocatable memory;
- GPUs: one `GpuDevice` per allocatable `nvidia.com/gpu` / `amd.com/gpu`, numbered across the
  cluster, with the model from the node label the vendors' labellers set
  (`nvidia.com/gpu.product`, `amd.com/gpu.product-name`) and the memory from
  `nvidia.com/gpu.memory` (MiB) where GPU feature discovery sets it.

What this cannot see: how the sum is split. A step asking for more than any one node has is
admitted and then stays Pending in kube-scheduler; cordoned (`unschedulable`) and not-Ready
nodes are left out.

With node groups (`api.nodegroups`: nodes added on demand), each group counts at its `max`,
every node of its template's shape, and the Nodes its `nodeSelector` picks are not counted
again: the operator then admits work the autoscaler has yet to make room for, and its pods
wait Pending until it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from mlkube.api.nodegroups import NodeGroupSpec, NodeShapeSpec
from mlkube.api.quantity import QuantityError, cpu_millis, memory_bytes
from mlkube.runtime.base import GpuDevice, GpuVendor, NodeInfo
from mlkube.runtime.kubernetes.gpus import PRODUCT_LABEL

CLUSTER_NODE_NAME = "cluster"
_GPU_RESOURCES: tuple[tuple[GpuVendor, str], ...] = (
    ("nvidia", "nvidia.com/gpu"),
    ("amd", "amd.com/gpu"),
)
_NVIDIA_MEMORY_LABEL = "nvidia.com/gpu.memory"  # MiB, from GPU feature discovery


def cluster_node(
    nodes: Iterable[Mapping[str, Any]],
    *,
    name: str = CLUSTER_NODE_NAME,
    groups: Sequence[NodeGroupSpec] = (),
) -> NodeInfo:
    """One `NodeInfo` summing the schedulable, Ready `nodes` outside `groups`, and each group
    at its maximum size (see the module docstring)."""
    cores = 0
    memory = 0
    gpus: list[GpuDevice] = []
    for node in nodes:
        if not schedulable(node) or any(_member(node, g) for g in groups):
            continue
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        cores += _quantity(allocatable.get("cpu"), cpu_millis) // 1000
        memory += _quantity(allocatable.get("memory"), memory_bytes)
        gpus.extend(_gpus(node, allocatable, first_index=len(gpus)))
    for group in groups:
        shape = group.template
        cores += group.max * (cpu_millis(shape.cpu) // 1000)
        memory += group.max * memory_bytes(shape.memory)
        for _ in range(group.max):
            gpus.extend(_template_gpus(shape, first_index=len(gpus)))
    return NodeInfo(name, tuple(range(cores)), memory, tuple(gpus))


def _member(node: Mapping[str, Any], group: NodeGroupSpec) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in group.node_selector.items())


def _template_gpus(shape: NodeShapeSpec, *, first_index: int) -> list[GpuDevice]:
    vendor: GpuVendor = "amd" if shape.amd_gpu else "nvidia"
    count = shape.amd_gpu or shape.nvidia_gpu
    model = shape.gpu_model or ""
    return [GpuDevice(first_index + i, vendor, model, 0) for i in range(count)]


def schedulable(node: Mapping[str, Any]) -> bool:
    """Not cordoned, and its Ready condition is True."""
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _gpus(
    node: Mapping[str, Any], allocatable: Mapping[str, Any], *, first_index: int
) -> list[GpuDevice]:
    labels = (node.get("metadata") or {}).get("labels") or {}
    found: list[GpuDevice] = []
    for vendor, resource in _GPU_RESOURCES:
        count = _quantity(allocatable.get(resource), cpu_millis) // 1000
        model = str(labels.get(PRODUCT_LABEL[vendor], ""))
        device_memory = _device_memory(labels) if vendor == "nvidia" else 0
        for _ in range(count):
            index = first_index + len(found)
            found.append(GpuDevice(index, vendor, model, device_memory))
    return found


def _device_memory(labels: Mapping[str, Any]) -> int:
    value = str(labels.get(_NVIDIA_MEMORY_LABEL, ""))
    return int(value) << 20 if value.isdigit() else 0


def _quantity(value: Any, parse: Callable[[str], int]) -> int:
    """A quantity in the unit `parse` returns; absent or unreadable counts as nothing (a node
    reporting garbage must not stop the operator)."""
    if value is None:
        return 0
    try:
        return parse(str(value))
    except QuantityError:
        return 0
