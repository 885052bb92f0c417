"""A run's volumes: scratch volumes made when it starts and deleted when it ends, the claims
its steps wait for, and what each step is told about the volumes it mounts.

Two places, one contract (`RunVolumes`):

- `LocalRunVolumes` (embedded): a claim is the folder `<data>/volumes/<ns>/<claim>` that
  `controllers.volumes` provisions; a scratch volume is the folder
  `<data>/runs/<ns>/<run>/_scratch/<volume>` (no step may be named `_scratch`: step names are
  DNS labels). A step is told the folder, as `mountPath` cannot be honoured without root;
  `readOnly` is not enforced either.
- `ClusterRunVolumes` (operator): a scratch volume is the claim `<run>-<volume>`, owned by the
  run; a step's pod mounts its claims (`WorkloadSpec.mounts`) and is told the `mountPath`.

A step that mounts a missing claim, one being deleted, or (embedded) one not yet Bound waits,
with a message naming the claim, as a pod stays Pending on such a claim. On a cluster an
existing but unbound claim does not hold the step back: with a `WaitForFirstConsumer` storage
class, the claim is bound only once a pod uses it.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlkube.api.errors import AlreadyExists, Forbidden, Invalid, NotFound
from mlkube.api.kinds import PERSISTENT_VOLUME_CLAIM
from mlkube.api.pipeline import PipelineSpec, StepSpec
from mlkube.api.pipelinerun import PipelineRun
from mlkube.api.volumes import ScratchVolumeStatus, Volume, volume_env_name
from mlkube.controllers.volumes import claim_folder
from mlkube.runtime.base import ClaimMount
from mlkube.runtime.kubernetes.volumes import scratch_claim, scratch_claim_name
from mlkube.storage.layout import DataDir
from mlkube.store.base import ResourceStore

PVC = PERSISTENT_VOLUME_CLAIM.resource
SCRATCH_FOLDER = "_scratch"
WAIT_SECONDS = 1.0  # how often a step waiting for a claim looks again
WAIT_REASON = "VolumeNotReady"


@dataclass(frozen=True)
class StepVolumes:
    """What one attempt of a step gets: `env` (`MLKUBE_VOLUME_*`) and `mounts` for the pod."""

    env: dict[str, str] = field(default_factory=dict)
    mounts: tuple[ClaimMount, ...] = ()


class RunVolumes(Protocol):
    """The volumes of runs, in one place (embedded) or on a cluster. Every method is
    idempotent, so a reconcile may call it again after a crash or a write conflict."""

    def start(self, run: PipelineRun, spec: PipelineSpec) -> list[ScratchVolumeStatus]:
        """Make the run's scratch volumes; returns them for the run's status."""
        ...

    def blocked(self, run: PipelineRun, spec: PipelineSpec, step: StepSpec) -> str | None:
        """Why `step` cannot start yet for want of a volume (naming the claim), or None.
        Makes a scratch volume that has gone missing again."""
        ...

    def for_step(self, run: PipelineRun, spec: PipelineSpec, step: StepSpec) -> StepVolumes:
        """The env and mounts of an attempt of `step`."""
        ...

    def release(self, run: PipelineRun) -> None:
        """Delete the run's scratch volumes (ended or deleted run); a missing one is fine."""
        ...


def released(volumes: list[ScratchVolumeStatus]) -> list[ScratchVolumeStatus]:
    """The run's scratch volumes as its status shows them once it has ended."""
    return [v.model_copy(update={"phase": "Deleted"}) for v in volumes]


def _mounted(spec: PipelineSpec, step: StepSpec) -> list[tuple[Volume, str, str | None]]:
    """(volume, mountPath, subPath) of each mount of `step`, in order."""
    by_name = {v.name: v for v in spec.volumes}
    return [(by_name[m.name], m.mount_path, m.sub_path) for m in step.volume_mounts]


def _scratch(run: PipelineRun) -> list[Volume]:
    spec = run.status.pipeline_spec
    return [v for v in spec.volumes if v.scratch is not None] if spec else []


def _claim_problem(obj: dict[str, Any] | None, claim: str, *, bound: bool) -> str | None:
    if obj is None:
        return f'persistentvolumeclaim "{claim}" not found'
    if obj["metadata"].get("deletionTimestamp"):
        return f'persistentvolumeclaim "{claim}" is being deleted'
    phase = (obj.get("status") or {}).get("phase") or "Pending"
    if bound and phase != "Bound":
        return f'persistentvolumeclaim "{claim}" is {phase}, not Bound'
    return None


class _Claims:
    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.store.get(PVC, namespace, name)
        except NotFound:
            return None


class LocalRunVolumes:
    """Volumes as folders under the data directory (see the module docstring)."""

    def __init__(self, store: ResourceStore, data: DataDir) -> None:
        self.claims = _Claims(store)
        self.data = data

    def scratch_folder(self, namespace: str, run: str, volume: str) -> Path:
        return self.data.run_dir(namespace, run) / SCRATCH_FOLDER / volume

    def _folder(self, run: PipelineRun, volume: Volume) -> Path:
        namespace, name = run.metadata.namespace or "", run.metadata.name or ""
        if volume.scratch is not None:
            return self.scratch_folder(namespace, name, volume.name)
        assert volume.persistent_volume_claim is not None  # a Volume has exactly one source
        return claim_folder(self.data, namespace, volume.persistent_volume_claim.claim_name)

    def start(self, run: PipelineRun, spec: PipelineSpec) -> list[ScratchVolumeStatus]:
        out = []
        for volume in spec.volumes:
            if volume.scratch is not None:
                folder = self._folder(run, volume)
                folder.mkdir(parents=True, exist_ok=True)
                status = ScratchVolumeStatus(
                    name=volume.name, size=volume.scratch.size, path=str(folder)
                )
                out.append(status)
        return out

    def blocked(self, run: PipelineRun, spec: PipelineSpec, step: StepSpec) -> str | None:
        for volume, _, _ in _mounted(spec, step):
            if volume.persistent_volume_claim is None:
                self._folder(run, volume).mkdir(parents=True, exist_ok=True)
                continue
            claim = volume.persistent_volume_claim.claim_name
            obj = self.claims.get(run.metadata.namespace or "", claim)
            problem = _claim_problem(obj, claim, bound=True)
            if problem is not None:
                return f"waiting for volume {volume.name!r}: {problem}"
        return None

    def for_step(self, run: PipelineRun, spec: PipelineSpec, step: StepSpec) -> StepVolumes:
        env = {}
        for volume, _, sub_path in _mounted(spec, step):
            folder = self._folder(run, volume) / (sub_path or "")
            folder.mkdir(parents=True, exist_ok=True)  # as the kubelet makes a subPath
            env[volume_env_name(volume.name)] = str(folder)
        return StepVolumes(env=env)

    def release(self, run: PipelineRun) -> None:
        namespace, name = run.metadata.namespace or "", run.metadata.name or ""
        for volume in _scratch(run):
            shutil.rmtree(self.scratch_folder(namespace, name, volume.name), ignore_errors=True)


class ClusterRunVolumes:
    """Volumes as PersistentVolumeClaims, mounted by the steps' pods (see the module doc)."""

    def __init__(self, store: ResourceStore) -> None:
        self.claims = _Claims(store)
        self.store = store

    def _claim_name(self, run: PipelineRun, volume: Volume) -> str:
        if volume.persistent_volume_claim is not None:
            return volume.persistent_volume_claim.claim_name
        return scratch_claim_name(run.metadata.name or "", volume.name)

    def _create_scratch(self, run: PipelineRun, volume: Volume) -> str | None:
        """Create the scratch claim (an existing one is fine); the refusal's message, if the
        cluster refuses it (over a ResourceQuota, say)."""
        assert volume.scratch is not None
        try:
            self.store.create(PVC, scratch_claim(run.metadata, volume.name, volume.scratch))
        except AlreadyExists:
            pass
        except (Forbidden, Invalid) as err:
            return str(err)
        return None

    def start(self, run: PipelineRun, spec: PipelineSpec) -> list[ScratchVolumeStatus]:
        out = []
        for volume in spec.volumes:
            if volume.scratch is not None:
                self._create_scratch(run, volume)
                claim = self._claim_name(run, volume)
                status = ScratchVolumeStatus(
                    name=volume.name, size=volume.scratch.size, claim_name=claim
                )
                out.append(status)
        return out

    def blocked(self, run: PipelineRun, spec: PipelineSpec, step: StepSpec) -> str | None:
        namespace = run.metadata.namespace or ""
        for volume, _, _ in _mounted(spec, step):
            claim = self._claim_name(run, volume)
            obj = self.claims.get(namespace, claim)
            if obj is None and volume.scratch is not None:
                problem = self._create_scratch(run, volume)
            else:
                problem = _claim_problem(obj, claim, bound=False)
            if problem is not None:
                return f"waiting for volume {volume.name!r}: {problem}"
        return None

    def for_step(self, run: PipelineRun, spec: PipelineSpec, step: StepSpec) -> StepVolumes:
        env, mounts = {}, []
        for mount in step.volume_mounts:
            volume = next(v for v in spec.volumes if v.name == mount.name)
            claim = volume.persistent_volume_claim
            read_only = mount.read_only or (claim is not None and claim.read_only)
            env[volume_env_name(volume.name)] = mount.mount_path
            mounts.append(
                ClaimMount(
                    volume.name,
                    self._claim_name(run, volume),
                    mount.mount_path,
                    read_only=read_only,
                    sub_path=mount.sub_path,
                )
            )
        return StepVolumes(env=env, mounts=tuple(mounts))

    def release(self, run: PipelineRun) -> None:
        namespace = run.metadata.namespace or ""
        for volume in _scratch(run):
            with contextlib.suppress(NotFound):
                self.store.delete(PVC, namespace, self._claim_name(run, volume))
