"""Volumes on a cluster (pure, dicts out): a run's scratch PersistentVolumeClaim, and the pod
fragments that mount claims.

- A scratch volume of a run becomes the claim `<run>-<volume>` (shortened with a digest when
  it does not fit a name), owned by the PipelineRun, so deleting the run deletes it; the
  controller also deletes it when the run ends.
- A pod mounts each claim as a `persistentVolumeClaim` volume named `vol-<volume>` and a
  `volumeMounts` entry per mount (`readOnly`, `subPath` as given).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlkube.api.meta import ObjectMeta
from mlkube.api.volumes import ScratchSource
from mlkube.runtime.base import ClaimMount
from mlkube.runtime.kubernetes.names import dns_label, shorten
from mlkube.runtime.kubernetes.pods import labels, object_meta, owner_reference

MAX_NAME = 253  # a claim's name is a DNS-1123 subdomain
SCRATCH_LABEL = "mlkube.io/scratch-volume"


def scratch_claim_name(run: str, volume: str) -> str:
    """The claim of `run`'s scratch volume `volume`: `<run>-<volume>`, shortened the same way
    every time when longer than a name may be."""
    return shorten(f"{run}-{volume}", MAX_NAME)


def scratch_claim(run: ObjectMeta, volume: str, source: ScratchSource) -> dict[str, Any]:
    """The PersistentVolumeClaim of one scratch volume of the run whose metadata is `run`
    (its name, namespace and uid are needed: the run owns the claim)."""
    name = scratch_claim_name(run.name or "", volume)
    owner = owner_reference("PipelineRun", run)
    meta = object_meta(
        name,
        run.namespace or "default",
        labels=labels("scratch-volume", run.name or "", pipelinerun=run.name or ""),
        owner=owner,
    )
    meta["labels"][SCRATCH_LABEL] = dns_label(volume)
    spec: dict[str, Any] = {
        "accessModes": list(source.access_modes),
        "resources": {"requests": {"storage": source.size}},
        "volumeMode": "Filesystem",
    }
    if source.storage_class_name is not None:
        spec["storageClassName"] = source.storage_class_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def pod_volume_name(volume: str) -> str:
    """The name of the pod's volume for the pipeline volume `volume` (never `tmp`)."""
    return dns_label("vol", volume)


def claim_volumes(mounts: Sequence[ClaimMount]) -> list[dict[str, Any]]:
    """The pod's `volumes` for `mounts`: one per pipeline volume, however often mounted; read
    only when every mount of it is."""
    out: dict[str, dict[str, Any]] = {}
    for mount in mounts:
        name = pod_volume_name(mount.volume)
        entry = out.setdefault(
            name,
            {"name": name, "persistentVolumeClaim": {"claimName": mount.claim_name}},
        )
        claim = entry["persistentVolumeClaim"]
        claim["readOnly"] = claim.get("readOnly", True) and mount.read_only
    for entry in out.values():
        if not entry["persistentVolumeClaim"]["readOnly"]:
            del entry["persistentVolumeClaim"]["readOnly"]
    return list(out.values())


def volume_mounts(mounts: Sequence[ClaimMount]) -> list[dict[str, Any]]:
    """The container's `volumeMounts` for `mounts`, in order."""
    out = []
    for mount in mounts:
        entry: dict[str, Any] = {
            "name": pod_volume_name(mount.volume),
            "mountPath": mount.mount_path,
        }
        if mount.read_only:
            entry["readOnly"] = True
        if mount.sub_path:
            entry["subPath"] = mount.sub_path
        out.append(entry)
    return out
