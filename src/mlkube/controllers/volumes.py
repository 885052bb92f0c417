"""The embedded PersistentVolumeClaim controller: one class of storage, folders on this disk.

For each claim it keeps, as Kubernetes' volume binder and `pvc-protection` do on a cluster:

- the finalizer `kubernetes.io/pvc-protection` and `spec.volumeName` (`pvc-<uid>`, the name
  `kubectl get pvc` shows under VOLUME);
- the folder `<data>/volumes/<namespace>/<name>`, then `status.phase: Bound` with
  `capacity.storage` (the size asked for: nothing caps what is written there) and
  `accessModes`;
- on deletion: while a Running step of a run mounts the claim, it waits; then the folder is
  removed (reclaim policy Delete) and the finalizer dropped, so the claim goes.

In cluster mode Kubernetes does all of this, and this controller does not run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlkube.api.errors import Conflict, NotFound
from mlkube.api.kinds import PERSISTENT_VOLUME_CLAIM, PIPELINE_RUN
from mlkube.api.volumes import PROTECTION_FINALIZER, PersistentVolumeClaimStatus
from mlkube.controllers.finalizers import remove_finalizer
from mlkube.storage.layout import DataDir
from mlkube.store.base import ResourceStore

PVC = PERSISTENT_VOLUME_CLAIM.resource
IN_USE_RECHECK_SECONDS = 0.5


def claim_folder(data: DataDir, namespace: str, name: str) -> Path:
    """Where the claim `name` of `namespace` keeps its files on this machine."""
    return data.root / "volumes" / namespace / name


def claim_users(runs: Iterable[Mapping[str, Any]], claim: str) -> list[str]:
    """`run/step` of every Running step of `runs` that mounts the claim `claim`."""
    users = []
    for run in runs:
        status = run.get("status") or {}
        spec = status.get("pipelineSpec") or {}
        names = {
            v["name"]
            for v in spec.get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName") == claim
        }
        if not names:
            continue
        running = {s["name"] for s in status.get("steps") or [] if s.get("phase") == "Running"}
        for step in spec.get("steps") or []:
            mounts = {m["name"] for m in step.get("volumeMounts") or []}
            if step["name"] in running and mounts & names:
                users.append(f"{run['metadata']['name']}/{step['name']}")
    return users


def bound_status(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The status of a claim once its folder exists."""
    spec = obj.get("spec") or {}
    return PersistentVolumeClaimStatus(
        phase="Bound",
        capacity={"storage": spec["resources"]["requests"]["storage"]},
        access_modes=list(spec.get("accessModes") or ["ReadWriteOnce"]),
    ).to_dict()


class VolumeController:
    """Binds and deletes the embedded platform's claims (see the module docstring)."""

    def __init__(self, store: ResourceStore, data: DataDir) -> None:
        self.store = store
        self.data = data

    def reconcile(self, key: str) -> float | None:
        """Bring the claim `ns/name` to Bound, or finish deleting it; returns a requeue delay."""
        namespace, name = key.split("/", 1)
        try:
            obj = self.store.get(PVC, namespace, name)
        except NotFound:
            # Gone (maybe before it was ever protected): its files go with it.
            shutil.rmtree(claim_folder(self.data, namespace, name), ignore_errors=True)
            return None
        try:
            if obj["metadata"].get("deletionTimestamp"):
                return self._finish_deleting(obj)
            obj = self._protect(obj)
            return self._bind(obj)
        except (Conflict, NotFound):
            return 0.0  # changed or gone meanwhile: look again

    def _protect(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta, spec = obj["metadata"], obj["spec"]
        if PROTECTION_FINALIZER in (meta.get("finalizers") or []) and spec.get("volumeName"):
            return obj
        meta["finalizers"] = [*(meta.get("finalizers") or []), PROTECTION_FINALIZER]
        meta["finalizers"] = list(dict.fromkeys(meta["finalizers"]))
        spec.setdefault("volumeName", f"pvc-{meta['uid']}")
        return self.store.update(PVC, obj)

    def _bind(self, obj: dict[str, Any]) -> float | None:
        meta = obj["metadata"]
        claim_folder(self.data, meta["namespace"], meta["name"]).mkdir(parents=True, exist_ok=True)
        status = bound_status(obj)
        if obj.get("status") != status:
            self.store.update_status(PVC, dict(obj, status=status))
        return None

    def _finish_deleting(self, obj: dict[str, Any]) -> float | None:
        meta = obj["metadata"]
        runs = self.store.list(PIPELINE_RUN.resource, meta["namespace"])[0]
        if claim_users(runs, meta["name"]):
            return IN_USE_RECHECK_SECONDS  # kubernetes.io/pvc-protection: wait for the steps
        shutil.rmtree(claim_folder(self.data, meta["namespace"], meta["name"]), ignore_errors=True)
        protected = PROTECTION_FINALIZER in (meta.get("finalizers") or [])
        if protected and not remove_finalizer(self.store, PVC, obj, PROTECTION_FINALIZER):
            return 0.0
        return None
