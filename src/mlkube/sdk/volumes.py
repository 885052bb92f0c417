"""Volumes in the DSL: declare them on the pipeline, mount them in steps, find them at run time.

from mlkube.sdk import claim, pipeline, scratch, step, volume_path

@step(volume_mounts={"work": "/mnt/work"})
def prepare() -> None:
    (volume_path("work") / "shards.txt").write_text("...")

@pipeline(volumes=[scratch("work", "1Gi"), claim("data", "datasets", read_only=True)])
def train() -> None:
    prepare()
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from mlkube.api.volumes import Volume, VolumeMount, volume_env_name

__all__ = ["VolumeError", "claim", "mount", "mounts_of", "scratch", "volume_path"]

Mounts = Mapping[str, str] | Sequence[VolumeMount]
M = TypeVar("M", Volume, VolumeMount)


class VolumeError(ValueError):
    """A volume or mount that cannot be expressed; the message names the field."""


def _checked(model: type[M], fields: dict[str, Any]) -> M:
    try:
        return model.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        item = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        raise VolumeError(f"volume {fields.get('name')!r}: {where}: {message}") from None


def scratch(name: str, size: str, *, storage_class: str | None = None) -> Volume:
    """A volume made for each run, shared by its steps, deleted when the run ends."""
    source = {"size": size, "storageClassName": storage_class}
    return _checked(Volume, {"name": name, "scratch": {k: v for k, v in source.items() if v}})


def claim(name: str, claim_name: str, *, read_only: bool = False) -> Volume:
    """The existing PersistentVolumeClaim `claim_name` of the run's namespace, as `name`."""
    source = {"claimName": claim_name, "readOnly": read_only}
    return _checked(Volume, {"name": name, "persistentVolumeClaim": source})


def mount(
    name: str, path: str, *, read_only: bool = False, sub_path: str | None = None
) -> VolumeMount:
    """Mount the pipeline's volume `name` at `path` (`sub_path`: a folder inside it)."""
    fields = {"name": name, "mountPath": path, "readOnly": read_only, "subPath": sub_path}
    return _checked(VolumeMount, fields)


def mounts_of(given: Mounts) -> list[VolumeMount]:
    """`{"work": "/mnt/work"}` or a list of `mount(...)`, as the step's volumeMounts."""
    if isinstance(given, Mapping):
        return [mount(name, path) for name, path in given.items()]
    return list(given)


def volume_path(name: str) -> Path:
    """Inside a running step: the folder where the volume `name` is mounted."""
    variable = volume_env_name(name)
    folder = os.environ.get(variable)
    if folder is None:
        raise VolumeError(f"this step does not mount a volume named {name!r} (${variable} unset)")
    return Path(folder)
