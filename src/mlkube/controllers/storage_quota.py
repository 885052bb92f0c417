"""Namespace `ResourceQuota`s: storage, run and claim counts, enforced at create as Kubernetes
does.

Storage in use is the bytes of the distinct artifacts the namespace's runs have written (their
steps' outputs; the store keeps each content once, so one artifact is counted once), plus what
its PersistentVolumeClaims request (`spec.resources.requests.storage`, Kubernetes' own meaning
of `requests.storage`) and the sizes of its runs' active scratch volumes. Deleting a run or a
claim gives its share back. A quota is never enforced by deleting anything: while storage in
use is at or above `requests.storage`, new runs are refused with 403 "exceeded quota" and
existing ones carry on; a claim is refused when its request would take storage past the limit;
a run or claim count at its limit refuses the next one the same way.

`ResourceQuotaController` keeps each quota's `status.used`, after any change to the
namespace's runs or quotas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlkube.api.errors import Cause, Conflict, Forbidden, NotFound
from mlkube.api.kinds import PERSISTENT_VOLUME_CLAIM, PIPELINE_RUN, RESOURCE_QUOTA, Kind
from mlkube.api.meta import Model
from mlkube.api.pipelinerun import PipelineRun
from mlkube.api.quantity import format_bytes, memory_bytes
from mlkube.api.resourcequota import (
    CLAIM_COUNT,
    RUN_COUNT,
    STORAGE,
    NamespaceResourceQuota,
    ResourceQuotaStatus,
)
from mlkube.api.volumes import PersistentVolumeClaim
from mlkube.controllers.admission import AdmissionCheck
from mlkube.store.base import ResourceStore


def storage_bytes(runs: Iterable[Mapping[str, Any]]) -> int:
    """Bytes of the distinct artifacts referenced by these runs' step outputs."""
    sizes: dict[str, int] = {}
    for run in runs:
        for step in (run.get("status") or {}).get("steps") or []:
            for output in step.get("outputs") or []:
                artifact = output.get("artifact") or {}
                if artifact.get("digest"):
                    sizes[artifact["digest"]] = int(artifact.get("size") or 0)
    return sum(sizes.values())


def volume_bytes(runs: Iterable[Mapping[str, Any]], claims: Iterable[Mapping[str, Any]]) -> int:
    """Bytes the claims request, plus the sizes of the runs' active scratch volumes."""
    total = sum(memory_bytes(c["spec"]["resources"]["requests"]["storage"]) for c in claims)
    for run in runs:
        for volume in (run.get("status") or {}).get("volumes") or []:
            if volume.get("phase", "Active") == "Active":
                total += memory_bytes(volume["size"])
    return total


def usage_of(runs: list[dict[str, Any]], claims: list[dict[str, Any]]) -> dict[str, int]:
    """What a namespace's runs and claims use, per quota resource."""
    return {
        STORAGE: storage_bytes(runs) + volume_bytes(runs, claims),
        RUN_COUNT: len(runs),
        CLAIM_COUNT: len(claims),
    }


def _shown(resource: str, amount: int) -> str:
    return format_bytes(amount) if resource == STORAGE else str(amount)


def claim_refusal(
    quota: NamespaceResourceQuota, used: Mapping[str, int], requested: int
) -> str | None:
    """Why one more claim of `requested` bytes would exceed `quota`, or None if it fits."""
    name = quota.metadata.name
    for resource, hard_text in quota.spec.hard.items():
        hard, now = memory_bytes(hard_text), used.get(resource, 0)
        if resource == CLAIM_COUNT and now + 1 > hard:
            return (
                f"exceeded quota: {name}, requested: {resource}=1, used: {resource}={now}, "
                f"limited: {resource}={hard_text}"
            )
        if resource == STORAGE and now + requested > hard:
            return (
                f"exceeded quota: {name}, requested: {resource}={format_bytes(requested)}, "
                f"used: {resource}={format_bytes(now)}, limited: {resource}={hard_text}"
            )
    return None


def refusal(quota: NamespaceResourceQuota, used: Mapping[str, int]) -> str | None:
    """Why one more run would exceed `quota` (Kubernetes' wording), or None if it fits."""
    name = quota.metadata.name
    for resource, hard_text in quota.spec.hard.items():
        hard, now = memory_bytes(hard_text), used.get(resource, 0)
        if resource == RUN_COUNT and now + 1 > hard:
            return (
                f"exceeded quota: {name}, requested: {resource}=1, used: {resource}={now}, "
                f"limited: {resource}={hard_text}"
            )
        if resource == STORAGE and now >= hard:
            return (
                f"exceeded quota: {name}, used: {resource}={_shown(resource, now)}, "
                f"limited: {resource}={hard_text} (delete runs to free their artifacts)"
            )
    return None


def _quotas(store: ResourceStore, namespace: str) -> list[NamespaceResourceQuota]:
    objects = store.list(RESOURCE_QUOTA.resource, namespace)[0]
    return [NamespaceResourceQuota.model_validate(o) for o in objects]


def namespace_usage(store: ResourceStore, namespace: str) -> dict[str, int]:
    """What the namespace uses now, per quota resource."""
    runs = store.list(PIPELINE_RUN.resource, namespace)[0]
    return usage_of(runs, store.list(PERSISTENT_VOLUME_CLAIM.resource, namespace)[0])


def storage_quota_check(store: ResourceStore) -> AdmissionCheck:
    """Refuse (403) a new run or claim in a namespace whose ResourceQuota it would exceed."""

    def check(kind: Kind, obj: Model, operation: str) -> list[Cause]:
        if operation != "CREATE" or not isinstance(obj, PipelineRun | PersistentVolumeClaim):
            return []
        namespace = obj.metadata.namespace or ""
        quotas = _quotas(store, namespace)
        if not quotas:
            return []
        used = namespace_usage(store, namespace)
        for quota in quotas:
            if isinstance(obj, PersistentVolumeClaim):
                why = claim_refusal(quota, used, obj.spec.storage_bytes())
            else:
                why = refusal(quota, used)
            if why is not None:
                name = obj.metadata.name or ""
                raise Forbidden(
                    f'{kind.resource} "{name}" is forbidden: {why}',
                    kind=kind.plural,
                    group=kind.group,
                    name=name,
                )
        return []

    return check


class ResourceQuotaController:
    """Writes `status.hard` and `status.used` of a namespace's ResourceQuotas."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def reconcile(self, namespace: str) -> float | None:
        """Recount the namespace's use; write each quota whose status changed."""
        objects = self.store.list(RESOURCE_QUOTA.resource, namespace)[0]
        if not objects:
            return None
        used = namespace_usage(self.store, namespace)
        for obj in objects:
            quota = NamespaceResourceQuota.model_validate(obj)
            status = ResourceQuotaStatus(
                hard=dict(quota.spec.hard),
                used={r: _shown(r, used.get(r, 0)) for r in quota.spec.hard},
            ).to_dict()
            if obj.get("status") != status:
                try:
                    self.store.update_status(RESOURCE_QUOTA.resource, dict(obj, status=status))
                except (Conflict, NotFound):
                    return 0.1  # changed or gone meanwhile: count again
        return None
