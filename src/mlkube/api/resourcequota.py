"""Kubernetes' core/v1 `ResourceQuota`, for what ClusterQueues do not cover: storage and counts.

    apiVersion: v1
    kind: ResourceQuota
    metadata: {name: team-quota, namespace: team-a}
    spec:
      hard:
        requests.storage: 10Gi                  # artifacts written + volumes asked for
        count/pipelineruns.mlkube.io: "50"      # runs that may exist at once
        persistentvolumeclaims: "20"            # claims that may exist at once

CPU, memory and GPUs are the ClusterQueues' business (admission with borrowing and fair
sharing), so only these names are accepted here. As in Kubernetes, a create that would go
past a hard limit is refused with 403 "exceeded quota"; `status.used` shows what is in use.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlkube.api.meta import Model, ObjectMeta
from mlkube.api.quantity import memory_bytes

STORAGE = "requests.storage"
RUN_COUNT = "count/pipelineruns.mlkube.io"
CLAIM_COUNT = "persistentvolumeclaims"
QUOTA_RESOURCES = (STORAGE, RUN_COUNT, CLAIM_COUNT)


class ResourceQuotaSpec(Model):
    hard: dict[str, str] = Field(default_factory=dict)

    @field_validator("hard", mode="before")
    @classmethod
    def _known_amounts(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        checked: dict[str, str] = {}
        for name, amount in value.items():
            if name not in QUOTA_RESOURCES:
                raise ValueError(
                    f"{name!r} is not supported here (supported: {', '.join(QUOTA_RESOURCES)}; "
                    "cpu, memory and GPUs are set in ClusterQueues)"
                )
            if isinstance(amount, bool) or not isinstance(amount, str | int):
                raise ValueError(f"{name}: {amount!r} is not a quantity")
            try:
                memory_bytes(amount)  # a non-negative quantity, rounded up to whole units
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None
            checked[name] = str(amount)
        return checked


class ResourceQuotaStatus(Model):
    hard: dict[str, str] = Field(default_factory=dict)
    used: dict[str, str] = Field(default_factory=dict)


class NamespaceResourceQuota(Model):
    """The `ResourceQuota` kind (named so beside the ClusterQueue's per-resource quota)."""

    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["ResourceQuota"] = "ResourceQuota"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ResourceQuotaSpec = Field(default_factory=ResourceQuotaSpec)
    status: ResourceQuotaStatus = Field(default_factory=ResourceQuotaStatus)
