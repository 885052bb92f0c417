"""Role checks: may this user perform this verb on this resource?

`decide` is a pure function of the request and the bindings that apply; `RbacAuthorizer` loads
those bindings from the store for each request (a handful of small objects; listing them costs
far less than the request itself in the embedded store). Messages copy Kubernetes' wording, so
`403 Forbidden` reads the same as on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlkube.api.errors import Forbidden
from mlkube.api.kinds import (
    CLUSTER_ROLE_BINDING,
    NAMESPACE,
    NODE,
    PERSISTENT_VOLUME_CLAIM,
    PIPELINE,
    PIPELINE_RUN,
    RESOURCE_QUOTA,
    ROLE_BINDING,
    TRAINING_JOB,
    Kind,
)
from mlkube.api.rbac import ClusterRoleBinding, RoleBinding
from mlkube.server.routing import ResourcePath
from mlkube.store.base import ResourceStore

READ = frozenset({"get", "list", "watch"})
WRITE = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# What a team makes and runs; claims too, as Kubernetes' own edit role lets them be written.
WORKLOADS = frozenset(
    {
        PIPELINE.resource,
        PIPELINE_RUN.resource,
        TRAINING_JOB.resource,
        PERSISTENT_VOLUME_CLAIM.resource,
    }
)
# Every role may read its namespace's quotas, as Kubernetes' view role may; only a
# cluster-admin sets them.
QUOTA_READ = {RESOURCE_QUOTA.resource: READ}

# role → {resource → verbs}, within a namespace. `cluster-admin` is checked before this table.
ROLE_RULES: dict[str, dict[str, frozenset[str]]] = {
    "view": {**dict.fromkeys(WORKLOADS, READ), **QUOTA_READ},
    "edit": {**dict.fromkeys(WORKLOADS, READ | WRITE), **QUOTA_READ},
    "admin": {
        **dict.fromkeys(WORKLOADS, READ | WRITE),
        **QUOTA_READ,
        ROLE_BINDING.resource: READ | WRITE,
    },
}


@dataclass(frozen=True)
class Grant:
    """A role a user holds: in one namespace, or everywhere (`namespace` None)."""

    role: str
    namespace: str | None


def decide(user: str, verb: str, target: ResourcePath, grants: Iterable[Grant]) -> bool:
    """Whether `user`, holding `grants`, may do `verb` on `target`."""
    held = list(grants)
    if any(g.role == "cluster-admin" and g.namespace is None for g in held):
        return True
    kind = target.kind
    if kind is NODE:
        return verb in READ  # every signed-in user may see what the machines have
    if kind is NAMESPACE:
        # Reading one's own namespace is part of any role in it, as `kubectl get ns X` allows.
        return verb == "get" and any(g.namespace in (None, target.name) for g in held)
    if not kind.namespaced:
        return False
    return any(_allows(g, verb, kind, target.namespace) for g in held)


def _allows(grant: Grant, verb: str, kind: Kind, namespace: str | None) -> bool:
    if grant.namespace is not None and grant.namespace != namespace:
        return False  # a namespace role never covers another namespace, nor all of them
    if grant.role == "cluster-admin":
        return True  # bound in one namespace by a RoleBinding: everything in it
    return verb in ROLE_RULES.get(grant.role, {}).get(kind.resource, frozenset())


def forbidden(user: str, verb: str, target: ResourcePath) -> Forbidden:
    """Kubernetes' 403 message for this request."""
    kind = target.kind
    what = f'{kind.resource} "{target.name}"' if target.name else kind.resource
    resource = f"{kind.plural}/{target.subresource}" if target.subresource else kind.plural
    where = (
        f' in the namespace "{target.namespace}"'
        if kind.namespaced and target.namespace
        else " at the cluster scope"
    )
    return Forbidden(
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{kind.group}"{where}',
        kind=kind.plural,
        name=target.name or "",
        group=kind.group,
    )


def grants_for(
    user: str, role_bindings: Iterable[RoleBinding], cluster_bindings: Iterable[ClusterRoleBinding]
) -> list[Grant]:
    """The roles `user` holds through these bindings."""
    grants = [
        Grant(b.role_ref.name, None)
        for b in cluster_bindings
        if any(s.user_name("") == user for s in b.subjects)
    ]
    for binding in role_bindings:
        namespace = binding.metadata.namespace or ""
        if any(s.user_name(namespace) == user for s in binding.subjects):
            grants.append(Grant(binding.role_ref.name, namespace))
    return grants


class RbacAuthorizer:
    """Authorizes requests against the RoleBindings and ClusterRoleBindings in the store."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def __call__(self, user: str, verb: str, target: ResourcePath) -> None:
        """Return if allowed; raise `Forbidden` otherwise."""
        cluster = [
            ClusterRoleBinding.model_validate(o)
            for o in self.store.list(CLUSTER_ROLE_BINDING.resource)[0]
        ]
        local = [RoleBinding.model_validate(o) for o in self.store.list(ROLE_BINDING.resource)[0]]
        if not decide(user, verb, target, grants_for(user, local, cluster)):
            raise forbidden(user, verb, target)
