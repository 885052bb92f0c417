"""The resources the fake kube-apiserver serves: built-in kinds and our CRDs, in one table.

A `Served` entry says where a resource lives in URLs (group, version, plural), whether it is
namespaced, which subresources it has, and how its objects are validated: built-in kinds by
the upstream OpenAPI schemas (`kubernetes_validate`), our own kinds (group `mlkube.io`) by the
pydantic models the CRD schemas are generated from. Kinds of ours outside `mlkube.io`
(Namespace, Node, ResourceQuota, RoleBinding, PriorityClass, ...) are Kubernetes' own on a
cluster, so here they are built-ins too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlkube.api.kinds import KINDS, Kind
from mlkube.api.meta import API_GROUP

RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Served:
    """One resource the fake serves. `crd` is our kind when it is a custom resource;
    `requires_crd`: another project's custom resource, served only while its CRD is stored
    (see `addons`)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    crd: Kind | None = None
    requires_crd: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """The store's key, as `mlkube.api.kinds.Kind.resource` spells it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _builtin(
    group: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    subresources: tuple[str, ...] = (),
    short_names: tuple[str, ...] = (),
    version: str = "v1",
) -> Served:
    return Served(group, version, kind, plural, namespaced, subresources, short_names)


STATUS = ("status",)
BUILTINS: tuple[Served, ...] = (
    _builtin(
        "", "Namespace", "namespaces", namespaced=False, subresources=STATUS, short_names=("ns",)
    ),
    _builtin("", "Node", "nodes", namespaced=False, subresources=STATUS, short_names=("no",)),
    _builtin("", "Pod", "pods", subresources=("status", "log"), short_names=("po",)),
    _builtin("", "Service", "services", subresources=STATUS, short_names=("svc",)),
    _builtin("", "ConfigMap", "configmaps", short_names=("cm",)),
    _builtin("", "Secret", "secrets"),
    _builtin(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        subresources=STATUS,
        short_names=("pvc",),
    ),
    _builtin("", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _builtin("", "ResourceQuota", "resourcequotas", subresources=STATUS, short_names=("quota",)),
    _builtin("", "Event", "events", short_names=("ev",)),
    _builtin(
        "apps",
        "Deployment",
        "deployments",
        subresources=("status", "scale"),
        short_names=("deploy",),
    ),
    _builtin("apps", "ReplicaSet", "replicasets", subresources=STATUS, short_names=("rs",)),
    _builtin("batch", "Job", "jobs", subresources=STATUS),
    _builtin(
        "autoscaling",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        version="v2",
        subresources=STATUS,
        short_names=("hpa",),
    ),
    _builtin(RBAC, "Role", "roles"),
    _builtin(RBAC, "RoleBinding", "rolebindings"),
    _builtin(RBAC, "ClusterRole", "clusterroles", namespaced=False),
    _builtin(RBAC, "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _builtin("coordination.k8s.io", "Lease", "leases"),
    _builtin(
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        namespaced=False,
    ),
    _builtin(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
        subresources=STATUS,
        short_names=("crd", "crds"),
    ),
    _builtin(
        "scheduling.k8s.io",
        "PriorityClass",
        "priorityclasses",
        namespaced=False,
        short_names=("pc",),
    ),
)


def custom_resources(kinds: Sequence[Kind] = KINDS) -> tuple[Served, ...]:
    """Our `mlkube.io` kinds, served as a kube-apiserver serves their CRDs."""
    return tuple(
        Served(
            k.group,
            k.version,
            k.kind,
            k.plural,
            k.namespaced,
            ("status",) if "status" in k.model.model_fields else (),
            k.short_names,
            crd=k,
        )
        for k in kinds
        if k.group == API_GROUP
    )


# Other projects' kinds, served once a test registers their CRD (as a cluster admin installs it).
ADDONS: tuple[Served, ...] = (
    Served(
        "autoscaling.k8s.io",
        "v1",
        "VerticalPodAutoscaler",
        "verticalpodautoscalers",
        True,
        STATUS,
        ("vpa",),
        requires_crd=True,
    ),
)
SERVED: tuple[Served, ...] = BUILTINS + custom_resources() + ADDONS


def by_kind(api_version: str, kind: str) -> Served | None:
    """The resource whose objects have this apiVersion and kind."""
    return next((s for s in SERVED if s.api_version == api_version and s.kind == kind), None)


def by_resource(resource: str) -> Served:
    """The resource with this store key (`jobs.batch`, `pods`); KeyError if not served."""
    for served in SERVED:
        if served.resource == resource:
            return served
    raise KeyError(resource)


def groups() -> dict[str, list[str]]:
    """Named groups (not the core "") → their versions."""
    out: dict[str, list[str]] = {}
    for served in SERVED:
        if served.group and served.version not in out.setdefault(served.group, []):
            out[served.group].append(served.version)
    return out


def in_group_version(group: str, version: str) -> list[Served]:
    return [s for s in SERVED if s.group == group and s.version == version]


POD = by_resource("pods")
NODE = by_resource("nodes")
NAMESPACE = by_resource("namespaces")
JOB = by_resource("jobs.batch")
DEPLOYMENT = by_resource("deployments.apps")
REPLICA_SET = by_resource("replicasets.apps")
SECRET = by_resource("secrets")
CONFIG_MAP = by_resource("configmaps")
