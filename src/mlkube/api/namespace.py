"""`Namespace` (core `v1`): a team's space; every namespaced resource lives in one."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlkube.api.meta import Model, ObjectMeta

DEFAULT_NAMESPACE = "default"


class NamespaceSpec(Model):
    finalizers: list[str] = Field(default_factory=list)


class NamespaceStatus(Model):
    phase: Literal["Active", "Terminating"] = "Active"


class Namespace(Model):
    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["Namespace"] = "Namespace"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NamespaceSpec = Field(default_factory=NamespaceSpec)
    status: NamespaceStatus = Field(default_factory=NamespaceStatus)
