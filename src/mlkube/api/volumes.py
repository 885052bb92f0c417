"""Volumes: Kubernetes' core/v1 `PersistentVolumeClaim`, and how pipelines mount them.

    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: datasets, namespace: team-a}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 20Gi}}

The same manifest works on a cluster, where it is Kubernetes' own object. A pipeline declares
the volumes its steps use in `spec.volumes`, each a claim that exists on its own or a scratch
volume made for one run and deleted when the run ends:

    volumes:
    - {name: data, persistentVolumeClaim: {claimName: datasets, readOnly: true}}
    - {name: work, scratch: {size: 1Gi}}
    steps:
    - name: prep
      volumeMounts: [{name: work, mountPath: /mnt/work}]

A step sees each volume it mounts as `MLKUBE_VOLUME_<NAME>` (see `volume_env_name`), and as
`{{volumes.NAME}}` in its command and args.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlkube.api.errors import Cause
from mlkube.api.meta import Model, ObjectMeta
from mlkube.api.quantity import memory_bytes

VOLUME_ENV_PREFIX = "MLKUBE_VOLUME_"
PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
# The pods we build mount their writable scratch space here (runtime.kubernetes.pods).
RESERVED_MOUNT_PATHS = ("/tmp",)
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
ClaimPhase = Literal["Pending", "Bound", "Lost"]


def storage_size(value: object) -> str:
    """A positive storage quantity as written (`2Gi`), or ValueError saying why not."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not a quantity")
    if memory_bytes(value) <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return str(value)


def _read_write_once() -> list[AccessMode]:
    return ["ReadWriteOnce"]


# -- the PersistentVolumeClaim kind ---------------------------------------------------------


class StorageRequest(Model):
    storage: str

    @field_validator("storage", mode="before")
    @classmethod
    def _size(cls, value: object) -> str:
        return storage_size(value)


class VolumeResources(Model):
    requests: StorageRequest
    limits: dict[str, str] = Field(default_factory=dict)


class PersistentVolumeClaimSpec(Model):
    """What we honour of a claim's spec. `storageClassName` is recorded (the embedded platform
    has one class); only `volumeMode: Filesystem` exists without block devices."""

    access_modes: list[AccessMode] = Field(
        default_factory=_read_write_once, alias="accessModes", min_length=1
    )
    resources: VolumeResources
    storage_class_name: str | None = Field(default=None, alias="storageClassName")
    volume_mode: Literal["Filesystem"] = Field(default="Filesystem", alias="volumeMode")
    volume_name: str | None = Field(default=None, alias="volumeName")

    def storage_bytes(self) -> int:
        return memory_bytes(self.resources.requests.storage)


class PersistentVolumeClaimStatus(Model):
    phase: ClaimPhase = "Pending"
    capacity: dict[str, str] = Field(default_factory=dict)
    access_modes: list[AccessMode] = Field(default_factory=list, alias="accessModes")


class PersistentVolumeClaim(Model):
    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["PersistentVolumeClaim"] = "PersistentVolumeClaim"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PersistentVolumeClaimSpec
    status: PersistentVolumeClaimStatus = Field(default_factory=PersistentVolumeClaimStatus)


# -- volumes of a pipeline --------------------------------------------------------------------


class ClaimSource(Model):
    """An existing claim in the run's namespace; it outlives the run."""

    claim_name: str = Field(alias="claimName", min_length=1)
    read_only: bool = Field(default=False, alias="readOnly")


class ScratchSource(Model):
    """A volume made when the run starts, shared by its steps, deleted when the run ends."""

    size: str
    storage_class_name: str | None = Field(default=None, alias="storageClassName")
    access_modes: list[AccessMode] = Field(
        default_factory=_read_write_once, alias="accessModes", min_length=1
    )

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: object) -> str:
        return storage_size(value)


class Volume(Model):
    """One volume of a pipeline: exactly one of `persistentVolumeClaim` or `scratch`."""

    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)
    persistent_volume_claim: ClaimSource | None = Field(default=None, alias="persistentVolumeClaim")
    scratch: ScratchSource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        if (self.persistent_volume_claim is None) == (self.scratch is None):
            raise ValueError("set exactly one of persistentVolumeClaim or scratch")
        return self


class VolumeMount(Model):
    """Where a step sees a volume: `mountPath` in a pod; `subPath` a folder inside it."""

    name: str = Field(min_length=1)
    mount_path: str = Field(alias="mountPath")
    read_only: bool = Field(default=False, alias="readOnly")
    sub_path: str | None = Field(default=None, alias="subPath")

    @field_validator("mount_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"must be an absolute path (got {value!r})")
        if posixpath.normpath(value) in RESERVED_MOUNT_PATHS:
            raise ValueError(f"{value} is reserved for the step's own scratch space")
        return value

    @field_validator("sub_path")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError(f"must be a relative path without '..' (got {value!r})")
        return value


def volume_env_name(volume: str) -> str:
    """`MLKUBE_VOLUME_` + the volume's name upper-cased, `-` as `_` (`raw-data` →
    `MLKUBE_VOLUME_RAW_DATA`)."""
    return VOLUME_ENV_PREFIX + volume.upper().replace("-", "_")


def volume_placeholders(env: Mapping[str, str]) -> dict[str, str]:
    """`{{volumes.NAME}}` → folder, for every `MLKUBE_VOLUME_*` in `env`. Both spellings of a
    name (`raw-data`, `raw_data`) are given, as the variable cannot tell them apart."""
    subs: dict[str, str] = {}
    for key, folder in env.items():
        if key.startswith(VOLUME_ENV_PREFIX):
            name = key.removeprefix(VOLUME_ENV_PREFIX).lower()
            subs[f"{{{{volumes.{name}}}}}"] = folder
            subs[f"{{{{volumes.{name.replace('_', '-')}}}}}"] = folder
    return subs


def volume_causes(
    volumes: Sequence[Volume], mounts: Sequence[Sequence[VolumeMount]], *, field: str
) -> list[Cause]:
    """What is wrong between a pipeline's `volumes` and its steps' `volumeMounts` (one list per
    step, in order): duplicate volume names, mounts of undeclared volumes, two mounts of one
    step at the same path."""
    causes: list[Cause] = []
    declared: set[str] = set()
    for i, volume in enumerate(volumes):
        if volume.name in declared:
            causes.append(Cause(f"{field}.volumes[{i}].name", f"duplicate volume {volume.name!r}"))
        declared.add(volume.name)
    for j, step_mounts in enumerate(mounts):
        paths: set[str] = set()
        for k, mount in enumerate(step_mounts):
            where = f"{field}.steps[{j}].volumeMounts[{k}]"
            if mount.name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                message = f"no volume named {mount.name!r} in {field}.volumes (declared: {known})"
                causes.append(Cause(f"{where}.name", message))
            path = posixpath.normpath(mount.mount_path)
            if path in paths:
                causes.append(Cause(f"{where}.mountPath", f"{path} is mounted twice"))
            paths.add(path)
    return causes


class ScratchVolumeStatus(Model):
    """A run's scratch volume, in its status: the claim holding it on a cluster (`claimName`),
    the folder on one machine (`path`); `Deleted` once the run has ended."""

    name: str
    size: str
    claim_name: str | None = Field(default=None, alias="claimName")
    path: str | None = None
    phase: Literal["Active", "Deleted"] = "Active"
