"""A team namespace → Namespace, ResourceQuotas and RoleBindings that mirror ours.

- The Namespace keeps its labels and enforces the `restricted` Pod Security Standard, which
  every pod we build meets.
- `mlkube-queues`, a ResourceQuota from the ClusterQueues that admit the namespace: a
  backstop under our admission, which stays the one that queues, borrows and preempts. Per
  resource it allows what the queues could ever grant: the nominal quota summed over flavors
  and queues, plus the borrowing limit of a queue in a cohort. A queue in a cohort with no
  borrowing limit may borrow the whole cohort, so that resource is not capped here (named in
  the `mlkube.io/uncapped` annotation). CPU and memory cap requests (every pod we build
  requests both); GPUs cap `requests.nvidia.com/gpu` / `requests.amd.com/gpu`.
- Our own ResourceQuotas are core `v1` already (`requests.storage`, `count/...`) and are
  copied as they are. On a cluster `requests.storage` counts PersistentVolumeClaims, where
  embedded it counts the artifacts a namespace's runs wrote.
- Our RoleBindings grant Kubernetes' built-in ClusterRoles `view`, `edit`, `admin`; they are
  copied as they are. `mlkube install --kubernetes` aggregates our kinds into those roles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mlkube.api.namespace import Namespace
from mlkube.api.quantity import format_bytes, format_millis, parse_quantity
from mlkube.api.queueing import ClusterQueue
from mlkube.api.rbac import RBAC_GROUP, RoleBinding, Subject
from mlkube.api.resourcequota import NamespaceResourceQuota
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.pods import MANAGED_BY

QUEUE_QUOTA_NAME = "mlkube-queues"
UNCAPPED = "mlkube.io/uncapped"
_QUOTA_NAMES = {
    "cpu": "requests.cpu",
    "memory": "requests.memory",
    "nvidia.com/gpu": "requests.nvidia.com/gpu",
    "amd.com/gpu": "requests.amd.com/gpu",
}


@dataclass(frozen=True)
class TeamNamespace:
    """A namespace and what governs it: the ClusterQueues (those not naming it are ignored),
    its ResourceQuotas and its RoleBindings (those of other namespaces are refused)."""

    namespace: Namespace
    queues: Sequence[ClusterQueue] = ()
    quotas: Sequence[NamespaceResourceQuota] = field(default_factory=tuple)
    bindings: Sequence[RoleBinding] = field(default_factory=tuple)


def namespace_objects(team: TeamNamespace) -> list[dict[str, Any]]:
    """The Namespace, then its ResourceQuotas, then its RoleBindings."""
    name = team.namespace.metadata.name
    if not name:
        raise TranslationError("metadata.name", "a namespace needs a name")
    objs = [namespace_object(team.namespace)]
    queue_quota = queue_resource_quota(name, team.queues)
    if queue_quota is not None:
        objs.append(queue_quota)
    objs += [resource_quota(q, name) for q in team.quotas]
    objs += [role_binding(b, name) for b in team.bindings]
    return objs


def namespace_object(namespace: Namespace) -> dict[str, Any]:
    meta = namespace.metadata
    labels = {
        **meta.labels,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": meta.name, "labels": labels},
    }


def queue_resource_quota(namespace: str, queues: Sequence[ClusterQueue]) -> dict[str, Any] | None:
    """The backstop quota from the queues that admit `namespace`; None when none does."""
    mine = [q for q in queues if namespace in q.spec.namespaces]
    if not mine:
        return None
    ceiling, uncapped = _ceilings(mine)
    meta: dict[str, Any] = {
        "name": QUEUE_QUOTA_NAME,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
    }
    if uncapped:
        meta["annotations"] = {UNCAPPED: ",".join(sorted(uncapped))}
    hard = {_QUOTA_NAMES[r]: _format(r, amount) for r, amount in sorted(ceiling.items())}
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta, "spec": {"hard": hard}}


def _ceilings(queues: Sequence[ClusterQueue]) -> tuple[dict[str, Decimal], set[str]]:
    ceiling: dict[str, Decimal] = {}
    uncapped: set[str] = set()
    for queue in queues:
        for group in queue.spec.resource_groups:
            for flavor in group.flavors:
                for quota in flavor.resources:
                    amount = parse_quantity(quota.nominal_quota)
                    if queue.spec.cohort is not None:
                        if quota.borrowing_limit is None:
                            uncapped.add(quota.name)
                            continue
                        amount += parse_quantity(quota.borrowing_limit)
                    ceiling[quota.name] = ceiling.get(quota.name, Decimal(0)) + amount
    return {r: a for r, a in ceiling.items() if r not in uncapped}, uncapped


def _format(resource: str, amount: Decimal) -> str:
    """Exact and readable: CPU in cores or millicores, memory in binary units, GPUs plain."""
    if resource == "cpu":
        return format_millis(math.ceil(amount * 1000))
    if resource == "memory":
        return format_bytes(math.ceil(amount))
    return format(amount.normalize(), "f")


def resource_quota(quota: NamespaceResourceQuota, namespace: str) -> dict[str, Any]:
    name = _in_namespace(quota.metadata.name, quota.metadata.namespace, namespace, "ResourceQuota")
    meta = _meta(name, namespace, quota.metadata.labels)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta,
        "spec": {"hard": dict(quota.spec.hard)},
    }


def role_binding(binding: RoleBinding, namespace: str) -> dict[str, Any]:
    name = _in_namespace(
        binding.metadata.name, binding.metadata.namespace, namespace, "RoleBinding"
    )
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace, binding.metadata.labels),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": binding.role_ref.name},
        "subjects": [_subject(s, namespace) for s in binding.subjects],
    }


def _meta(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _subject(subject: Subject, namespace: str) -> dict[str, str]:
    if subject.kind == "ServiceAccount":
        return {
            "kind": "ServiceAccount",
            "name": subject.name,
            "namespace": subject.namespace or namespace,
        }
    return {"kind": subject.kind, "apiGroup": RBAC_GROUP, "name": subject.name}


def _in_namespace(name: str | None, where: str | None, namespace: str, kind: str) -> str:
    if not name:
        raise TranslationError("metadata.name", f"a {kind} needs a name")
    if where not in (None, namespace):
        raise TranslationError(
            "metadata.namespace", f"{kind} {name!r} is in {where!r}, not in {namespace!r}"
        )
    return name
