"""Team quotas, after Kueue: `ResourceFlavor`, `ClusterQueue`, and Kubernetes' `PriorityClass`.

A `ClusterQueue` names the namespaces whose work it admits and, per flavor, how much of each
resource they may use (`nominalQuota`), how much more they may borrow from the queues of their
`cohort` (`borrowingLimit`) and how much of theirs they keep from lending (`lendingLimit`).
A `ResourceFlavor` says what a flavor is; here, optionally, a GPU model: a step charged to
that flavor runs on GPUs of that model. A step is charged whole to one flavor: the first in the
queue's order that covers what it asks for and has room (the flavors form the fallback list).
Namespaces that no ClusterQueue names are not limited.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlkube.api.meta import Condition, Model, ObjectMeta, Time
from mlkube.api.resources import Quantity

QUEUE_RESOURCES = ("cpu", "memory", "nvidia.com/gpu", "amd.com/gpu")


class ResourceFlavorSpec(Model):
    gpu_model: str | None = Field(default=None, alias="gpuModel", min_length=1)


class ResourceFlavor(Model):
    api_version: Literal["mlkube.io/v1alpha1"] = Field(
        default="mlkube.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["ResourceFlavor"] = "ResourceFlavor"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ResourceFlavorSpec = Field(default_factory=ResourceFlavorSpec)


class ResourceQuota(Model):
    name: Literal["cpu", "memory", "nvidia.com/gpu", "amd.com/gpu"]
    nominal_quota: Quantity = Field(alias="nominalQuota")
    borrowing_limit: Quantity | None = Field(default=None, alias="borrowingLimit")
    lending_limit: Quantity | None = Field(default=None, alias="lendingLimit")


class FlavorQuotas(Model):
    name: str = Field(min_length=1)
    resources: list[ResourceQuota] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> FlavorQuotas:
        names = [r.name for r in self.resources]
        if len(set(names)) != len(names):
            raise ValueError(f"flavor {self.name!r} lists a resource twice")
        return self


class ResourceGroup(Model):
    covered_resources: list[str] = Field(default_factory=list, alias="coveredResources")
    flavors: list[FlavorQuotas] = Field(min_length=1)


class FairSharing(Model):
    weight: float = Field(default=1.0, ge=0)


class BorrowWithinCohort(Model):
    policy: Literal["Never", "LowerPriority"] = "Never"


class QueuePreemption(Model):
    within_cluster_queue: Literal["Never", "LowerPriority"] = Field(
        default="LowerPriority", alias="withinClusterQueue"
    )
    reclaim_within_cohort: Literal["Never", "LowerPriority", "Any"] = Field(
        default="Any", alias="reclaimWithinCohort"
    )
    borrow_within_cohort: BorrowWithinCohort = Field(
        default_factory=BorrowWithinCohort, alias="borrowWithinCohort"
    )


class ClusterQueueSpec(Model):
    namespaces: list[str] = Field(min_length=1)
    cohort: str | None = None
    queueing_strategy: Literal["BestEffortFIFO", "StrictFIFO"] = Field(
        default="BestEffortFIFO", alias="queueingStrategy"
    )
    fair_sharing: FairSharing = Field(default_factory=FairSharing, alias="fairSharing")
    preemption: QueuePreemption = Field(default_factory=QueuePreemption)
    resource_groups: list[ResourceGroup] = Field(min_length=1, alias="resourceGroups")

    @model_validator(mode="after")
    def _flavors_once(self) -> ClusterQueueSpec:
        names = [f.name for g in self.resource_groups for f in g.flavors]
        if len(set(names)) != len(names):
            raise ValueError("a flavor may appear in only one resource group, once")
        return self


class FlavorUsage(Model):
    name: str
    resources: dict[str, str] = Field(default_factory=dict)
    borrowed: dict[str, str] = Field(default_factory=dict)


class FairSharingStatus(Model):
    """Kueue's FairSharingStatus, plus the decayed usage admission fair sharing keeps."""

    weighted_share: float = Field(default=0.0, ge=0, alias="weightedShare")
    # flavor -> resource -> decayed resource-seconds (cores, GPUs, bytes x seconds).
    consumed_resource_seconds: dict[str, dict[str, float]] = Field(
        default_factory=dict, alias="consumedResourceSeconds"
    )
    last_update: Time | None = Field(default=None, alias="lastUpdate")


class ClusterQueueStatus(Model):
    admitted_workloads: int = Field(default=0, alias="admittedWorkloads")
    pending_workloads: int = Field(default=0, alias="pendingWorkloads")
    flavors_usage: list[FlavorUsage] = Field(default_factory=list, alias="flavorsUsage")
    conditions: list[Condition] = Field(default_factory=list)
    fair_sharing: FairSharingStatus | None = Field(default=None, alias="fairSharing")


class ClusterQueue(Model):
    api_version: Literal["mlkube.io/v1alpha1"] = Field(
        default="mlkube.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["ClusterQueue"] = "ClusterQueue"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ClusterQueueSpec
    status: ClusterQueueStatus = Field(default_factory=ClusterQueueStatus)


class PriorityClass(Model):
    """Kubernetes' `scheduling.k8s.io/v1` PriorityClass: a named priority value."""

    api_version: Literal["scheduling.k8s.io/v1"] = Field(
        default="scheduling.k8s.io/v1", alias="apiVersion"
    )
    kind: Literal["PriorityClass"] = "PriorityClass"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    value: int = Field(ge=-2_000_000_000, le=1_000_000_000)
    global_default: bool = Field(default=False, alias="globalDefault")
    description: str = ""
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = Field(
        default="PreemptLowerPriority", alias="preemptionPolicy"
    )
