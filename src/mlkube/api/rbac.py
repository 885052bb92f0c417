"""Access control kinds in Kubernetes' own shape (`rbac.authorization.k8s.io/v1`).

A `RoleBinding` grants a built-in role in one namespace; a `ClusterRoleBinding` grants it in
every namespace (and `cluster-admin` over cluster-scoped resources too). The roles are
Kubernetes' user-facing ClusterRoles, so the same bindings mean the same on a real cluster:

    view           read pipelines, runs and their logs
    edit           view, plus create, change and delete pipelines and runs
    admin          edit, plus manage the namespace's role bindings
    cluster-admin  everything, everywhere
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlkube.api.meta import Model, ObjectMeta

RBAC_GROUP = "rbac.authorization.k8s.io"
BUILTIN_ROLES = ("view", "edit", "admin", "cluster-admin")
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


class RoleRef(Model):
    api_group: Literal["rbac.authorization.k8s.io"] = Field(
        default="rbac.authorization.k8s.io", alias="apiGroup"
    )
    kind: Literal["ClusterRole"] = "ClusterRole"
    name: str

    @field_validator("name")
    @classmethod
    def _builtin(cls, name: str) -> str:
        if name not in BUILTIN_ROLES:
            raise ValueError(f"unknown role {name!r}: use one of {', '.join(BUILTIN_ROLES)}")
        return name


class Subject(Model):
    """Who is granted: a user (by name) or a service account (by namespace and name)."""

    kind: Literal["User", "ServiceAccount", "Group"]
    name: str = Field(min_length=1)
    namespace: str | None = None
    api_group: str | None = Field(default=None, alias="apiGroup")

    def user_name(self, binding_namespace: str) -> str:
        """The authenticated name this subject matches (`system:serviceaccount:NS:NAME`)."""
        if self.kind == "ServiceAccount":
            return f"{SERVICE_ACCOUNT_PREFIX}{self.namespace or binding_namespace}:{self.name}"
        return self.name


class _Binding(Model):
    """The shape both binding kinds share; each subclass narrows `kind` to its own name
    (a redeclared field keeps its place, so `kind` still follows `apiVersion`)."""

    api_version: Literal["rbac.authorization.k8s.io/v1"] = Field(
        default="rbac.authorization.k8s.io/v1", alias="apiVersion"
    )
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    role_ref: RoleRef = Field(alias="roleRef")
    subjects: list[Subject] = Field(default_factory=list)


class RoleBinding(_Binding):
    kind: Literal["RoleBinding"] = "RoleBinding"


class ClusterRoleBinding(_Binding):
    kind: Literal["ClusterRoleBinding"] = "ClusterRoleBinding"
