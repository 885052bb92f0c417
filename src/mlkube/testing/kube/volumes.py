"""`FakeProvisioner`: the fake cluster's storage, each PersistentVolumeClaim a local folder.

What a cluster's volume binder, a dynamic provisioner and the `pvc-protection` controller do,
in one level-triggered `reconcile(pods)`:

- every claim gets the finalizer `kubernetes.io/pvc-protection` (the real apiserver adds it
  at admission), `spec.volumeName: pvc-<uid>`, a folder `<root>/<namespace>/<name>`, and
  `status.phase: Bound` with the capacity it asked for (nothing caps what is written there);
  every storage class name is accepted, and binding is immediate (no `WaitForFirstConsumer`);
- a claim being deleted keeps its finalizer while a pod that is not Succeeded or Failed uses
  it; then its folder is removed (reclaim policy Delete) and the finalizer dropped.

The fake kubelet cannot mount: it gives a pod's process the claim's folder where the pod
names the `mountPath` (see `mount_paths` and `FakeKubelet`).
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlkube.api.errors import NotFound
from mlkube.store.base import ResourceStore
from mlkube.testing.kube.resources import by_resource

PVC = by_resource("persistentvolumeclaims")
PROTECTION = "kubernetes.io/pvc-protection"
TERMINAL = ("Succeeded", "Failed")


def claims_of(pod: Mapping[str, Any]) -> list[str]:
    """The names of the claims `pod` uses, in the order of its volumes."""
    volumes = (pod.get("spec") or {}).get("volumes") or []
    return [
        v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v
    ]


class FakeProvisioner:
    """Binds the claims of `store` to folders under `root` (see the module docstring)."""

    def __init__(self, store: ResourceStore, root: Path) -> None:
        self._store = store
        self.root = root

    def folder(self, namespace: str, claim: str) -> Path:
        return self.root / namespace / claim

    def reconcile(self, pods: Sequence[Mapping[str, Any]]) -> None:
        """One pass over every claim: bind the new ones, finish deleting the unused ones."""
        in_use = {
            (p["metadata"]["namespace"], claim)
            for p in pods
            if (p.get("status") or {}).get("phase") not in TERMINAL
            for claim in claims_of(p)
        }
        for claim in self._store.list(PVC.resource)[0]:
            meta = claim["metadata"]
            if not meta.get("deletionTimestamp"):
                self._bind(claim)
            elif (meta["namespace"], meta["name"]) not in in_use:
                self._release(claim)

    def bound_folder(self, namespace: str, claim: str) -> Path | None:
        """The folder of a Bound claim, or None while it is missing, unbound or deleting."""
        try:
            obj = self._store.get(PVC.resource, namespace, claim)
        except NotFound:
            return None
        if obj["metadata"].get("deletionTimestamp"):
            return None
        if (obj.get("status") or {}).get("phase") != "Bound":
            return None
        return self.folder(namespace, claim)

    def _bind(self, claim: dict[str, Any]) -> None:
        meta, spec = claim["metadata"], claim.get("spec") or {}
        if PROTECTION not in (meta.get("finalizers") or []) or not spec.get("volumeName"):
            marked = copy.deepcopy(claim)
            marked["metadata"]["finalizers"] = [*(meta.get("finalizers") or []), PROTECTION]
            marked["spec"]["volumeName"] = spec.get("volumeName") or f"pvc-{meta['uid']}"
            claim = self._store.update(PVC.resource, marked)
        if (claim.get("status") or {}).get("phase") == "Bound":
            return
        self.folder(meta["namespace"], meta["name"]).mkdir(parents=True, exist_ok=True)
        bound = copy.deepcopy(claim)
        bound["status"] = {
            "phase": "Bound",
            "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
            "accessModes": list(claim["spec"].get("accessModes") or []),
        }
        self._store.update_status(PVC.resource, bound)

    def _release(self, claim: dict[str, Any]) -> None:
        meta = claim["metadata"]
        shutil.rmtree(self.folder(meta["namespace"], meta["name"]), ignore_errors=True)
        if PROTECTION in (meta.get("finalizers") or []):
            kept = copy.deepcopy(claim)
            kept["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != PROTECTION]
            self._store.update(PVC.resource, kept)


def mount_paths(pod: Mapping[str, Any], folder_of: Mapping[str, Path]) -> list[tuple[str, Path]]:
    """(mountPath, local folder) for each mount of the pod's first container that names a
    claim in `folder_of` (claim → folder), longest path first; a `subPath` is made."""
    spec = pod.get("spec") or {}
    claim_of = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in spec.get("volumes") or []
        if "persistentVolumeClaim" in v
    }
    out = []
    for mount in (spec.get("containers") or [{}])[0].get("volumeMounts") or []:
        claim = claim_of.get(mount["name"])
        if claim is None or claim not in folder_of:
            continue
        folder = folder_of[claim] / mount.get("subPath", "")
        folder.mkdir(parents=True, exist_ok=True)
        out.append((mount["mountPath"].rstrip("/") or "/", folder))
    return sorted(out, key=lambda pair: -len(pair[0]))


def localized(text: str, mounts: Sequence[tuple[str, Path]]) -> str:
    """`text` with a leading mount path replaced by its folder (`/mnt/work/x` → FOLDER/x)."""
    for path, folder in mounts:
        if text == path or text.startswith(path + "/"):
            return str(folder) + text[len(path) :]
    return text


def with_local_mounts(pod: Mapping[str, Any], mounts: Sequence[tuple[str, Path]]) -> dict[str, Any]:
    """A copy of `pod` whose first container's env values, command, args and workingDir name
    the local folders instead of the mount paths (what the fake kubelet runs)."""
    local = copy.deepcopy(dict(pod))
    container = local["spec"]["containers"][0]
    for var in container.get("env") or []:
        if "value" in var:
            var["value"] = localized(str(var["value"]), mounts)
    for key in ("command", "args"):
        if container.get(key):
            container[key] = [localized(word, mounts) for word in container[key]]
    if container.get("workingDir"):
        container["workingDir"] = localized(container["workingDir"], mounts)
    return local
