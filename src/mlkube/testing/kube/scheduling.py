"""The fake cluster's scheduler: first fit over fake nodes (pure functions).

Filters run per node in kube-scheduler's order (taints, then node selector and required node
affinity, then resource requests against what the node has left) and a pod that fits nowhere
gets kube-scheduler's message, e.g. `0/2 nodes are available: 2 Insufficient nvidia.com/gpu.`
No scoring, no preemption, no pod (anti-)affinity or topology spread: the first node that
passes every filter wins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mlkube.api.quantity import QuantityError, parse_quantity

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class FakeNode:
    """A node of the fake cluster: what it offers (`capacity`, with `nvidia.com/gpu` and the
    like as extended resources), its labels (`nvidia.com/gpu.product`, ...) and taints."""

    name: str
    capacity: Mapping[str, str] = field(
        default_factory=lambda: {"cpu": "16", "memory": "64Gi", "pods": "110"}
    )
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] = ()

    def to_object(self, kubelet_version: str) -> dict[str, Any]:
        """The `Node` object the fake kubelet registers for this node."""
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            **self.labels,
        }
        capacity = {"pods": "110", **self.capacity}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {"taints": [dict(t) for t in self.taints]} if self.taints else {},
            "status": {
                "capacity": capacity,
                "allocatable": dict(capacity),
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "fake kubelet is ready",
                    }
                ],
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.name},
                ],
                "nodeInfo": _node_info(self.name, kubelet_version),
            },
        }


def _node_info(name: str, kubelet_version: str) -> dict[str, str]:
    keys = ("bootID", "machineID", "systemUUID", "containerRuntimeVersion", "kernelVersion")
    info = dict.fromkeys(keys, f"fake-{name}")
    info.update(
        architecture="amd64",
        operatingSystem="linux",
        osImage="fake kubelet (local processes)",
        kubeletVersion=f"v{kubelet_version}-fake",
        kubeProxyVersion=f"v{kubelet_version}-fake",
    )
    return info


@dataclass(frozen=True)
class Placement:
    """Where a pod goes: a node name, or None with the reason it fits nowhere."""

    node: str | None
    message: str = ""


def place(pod: Obj, nodes: Sequence[Obj], bound: Iterable[Obj]) -> Placement:
    """The first node `pod` fits on, given the pods already `bound` (non-terminal ones count)."""
    if not nodes:
        return Placement(None, "no nodes available to schedule pods")
    used = _used_by_node(bound)
    reasons: Counter[str] = Counter()
    for node in nodes:
        failures = node_failures(pod, node, used.get(node["metadata"]["name"], {}))
        if not failures:
            return Placement(node["metadata"]["name"])
        reasons.update(failures)
    histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return Placement(None, f"0/{len(nodes)} nodes are available: {', '.join(histogram)}.")


def node_failures(pod: Obj, node: Obj, used: Mapping[str, Decimal]) -> list[str]:
    """Why `pod` cannot go on `node` (empty: it can), stopping at the first failing filter."""
    spec = pod.get("spec") or {}
    untolerated = [
        t for t in (node.get("spec") or {}).get("taints") or [] if not _tolerated(t, spec)
    ]
    if untolerated:
        taint = untolerated[0]
        return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"]
    labels = (node.get("metadata") or {}).get("labels") or {}
    if not _selected(spec, labels):
        return ["node(s) didn't match Pod's node affinity/selector"]
    return _insufficient(
        pod_requests(pod), (node.get("status") or {}).get("allocatable") or {}, used
    )


def pod_requests(pod: Obj) -> dict[str, Decimal]:
    """The pod's requests summed over its containers, plus one `pods` slot."""
    total: dict[str, Decimal] = {"pods": Decimal(1)}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        requests = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name, value in requests.items():
            total[name] = total.get(name, Decimal(0)) + _quantity(value)
    return total


def _insufficient(
    wanted: Mapping[str, Decimal], allocatable: Mapping[str, Any], used: Mapping[str, Decimal]
) -> list[str]:
    failures = []
    for name, amount in sorted(wanted.items()):
        if amount <= 0:
            continue
        free = _quantity(allocatable.get(name, 0)) - used.get(name, Decimal(0))
        if amount > free:
            failures.append("Too many pods" if name == "pods" else f"Insufficient {name}")
    return failures


def _used_by_node(pods: Iterable[Obj]) -> dict[str, dict[str, Decimal]]:
    used: dict[str, dict[str, Decimal]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        totals = used.setdefault(node, {})
        for name, amount in pod_requests(pod).items():
            totals[name] = totals.get(name, Decimal(0)) + amount
    return used


def _tolerated(taint: Obj, spec: Obj) -> bool:
    if taint.get("effect") == "PreferNoSchedule":
        return True
    return any(_tolerates(t, taint) for t in spec.get("tolerations") or [])


def _tolerates(toleration: Obj, taint: Obj) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
        "value", ""
    )


def _selected(spec: Obj, labels: Mapping[str, str]) -> bool:
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    # Terms are ORed; the expressions within one term are ANDed.
    return not terms or any(
        all(_expression(e, labels) for e in term.get("matchExpressions") or []) for term in terms
    )


def _expression(expression: Obj, labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator")
    values = expression.get("values") or []
    value = labels.get(key)
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and value.lstrip("-").isdigit() and values:
        return int(value) > int(values[0]) if operator == "Gt" else int(value) < int(values[0])
    return False


def _quantity(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except QuantityError:
        return Decimal(0)  # the schema has already refused malformed quantities in objects
