"""The operator's objects: Namespace, ServiceAccount, RBAC, the Deployment and its admission
webhook (`mlkube.install.webhook`).

The Deployment runs `mlkube operator` (`mlkube.server.operator`): the controllers against the
kube-apiserver through the official client, with a health endpoint (`/healthz`, `/readyz` on
port 8081). These manifests fix its contract: non-root, read-only root filesystem (scratch space
in `/tmp`), the pod's namespace in `POD_NAMESPACE` and its name in `POD_NAME` (the operator's
leader-election identity). `REPLICAS` replicas run: the one holding the Lease `mlkube-operator`
in the operator's namespace runs the controllers, the other stands by to take over
(`mlkube.server.leader`); a Role lets them get, create and update Leases there, nothing more.

`DEFAULT_IMAGE` is a placeholder: no image is published at `ghcr.io/mlkube/mlkube` yet.
Pass `image=` (`mlkube install --image`) with the one you build; the operator starts step
pods, workers and replicas from the same image (`MLKUBE_IMAGE`).

How the operator is configured beyond that: its container takes every key of the ConfigMap
`mlkube-operator-config` (`operator_config`: `MLKUBE_ARTIFACT_STORE`,
`MLKUBE_ARTIFACT_CREDENTIALS_SECRET`, `MLKUBE_GPU_PRODUCTS`, `MLKUBE_NODE_GROUPS`, ...; the
same ConfigMap's keys are also files under `/etc/mlkube`, for the node groups) and of the Secret
`mlkube-artifact-store` (the operator's own `AWS_*` credentials for the object store) as its
environment, both optional, so the same manifests serve clusters with and without a store.
"""

from __future__ import annotations

from typing import Any

from mlkube import __version__
from mlkube.api.meta import API_GROUP
from mlkube.install.crds import crd_kinds
from mlkube.install.webhook import container_port, webhook_objects

DEFAULT_IMAGE = f"ghcr.io/mlkube/mlkube:{__version__}"
DEFAULT_NAMESPACE = "mlkube-system"
NAME = "mlkube-operator"
HEALTH_PORT = 8081
METRICS_PORT = 8080
REPLICAS = 2  # a leader and a standby (leader election)
OPERATOR_CONFIG = "mlkube-operator-config"
CONFIG_MOUNT = "/etc/mlkube"  # the ConfigMap's keys as files, for the node groups
NODE_GROUPS_KEY = "node-groups.yaml"
OPERATOR_STORE_SECRET = "mlkube-artifact-store"

_ALL = ["get", "list", "watch", "create", "update", "patch", "delete"]
_READ = ["get", "list", "watch"]
# The built-in roles our RoleBindings grant (see `mlkube.api.rbac`); the operator may bind them
# without holding every permission they carry.
_BINDABLE_ROLES = ["view", "edit", "admin"]
# The operator's pods, as its Deployment and the webhook's Service select them.
SELECTOR = {"app.kubernetes.io/name": "mlkube", "app.kubernetes.io/component": "operator"}


def labels() -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels, on every operator object."""
    return {
        "app.kubernetes.io/name": "mlkube",
        "app.kubernetes.io/component": "operator",
        "app.kubernetes.io/part-of": "mlkube",
        "app.kubernetes.io/version": __version__,
    }


def operator_objects(*, image: str, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
    """Everything but the CRDs, in the order to apply them."""
    return [
        namespace_object(namespace),
        service_account(namespace),
        cluster_role(),
        cluster_role_binding(namespace),
        leader_election_role(namespace),
        leader_election_role_binding(namespace),
        deployment(image=image, namespace=namespace),
        *webhook_objects(namespace, service_account=NAME, labels=labels(), selector=SELECTOR),
    ]


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = labels()
    return meta


def namespace_object(namespace: str) -> dict[str, Any]:
    """The operator's namespace, enforcing the `restricted` Pod Security Standard."""
    meta = _meta(namespace)
    meta["labels"] = {**meta["labels"], "pod-security.kubernetes.io/enforce": "restricted"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, namespace)}


def cluster_role() -> dict[str, Any]:
    """What the controllers need cluster-wide: our kinds, and the objects they turn into."""
    plurals = sorted(k.plural for k in crd_kinds())
    rules = [
        _rule([API_GROUP], plurals, _ALL),
        _rule([API_GROUP], [f"{p}/status" for p in plurals], ["get", "update", "patch"]),
        # Setting blockOwnerDeletion on children needs update on the owner's finalizers.
        _rule([API_GROUP], [f"{p}/finalizers" for p in plurals], ["update"]),
        _rule([""], ["pods", "services", "persistentvolumeclaims", "resourcequotas"], _ALL),
        _rule([""], ["pods/log"], ["get"]),
        # Team namespaces are ours to create (Namespace + ResourceQuota + RoleBindings).
        _rule([""], ["namespaces"], ["get", "list", "watch", "create", "update", "patch"]),
        _rule([""], ["nodes"], _READ),
        _rule(["", "events.k8s.io"], ["events"], ["create", "patch"]),
        _rule(["batch"], ["jobs"], _ALL),
        _rule(["apps"], ["deployments"], _ALL),
        _rule(["autoscaling"], ["horizontalpodautoscalers"], _ALL),
        # Recommendation-only VPAs, where the VPA CRD is installed (harmless where it is not).
        _rule(["autoscaling.k8s.io"], ["verticalpodautoscalers"], _ALL),
        # Whether that CRD is installed: `get` of that one CRD, nothing else of CRDs.
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "resourceNames": ["verticalpodautoscalers.autoscaling.k8s.io"],
            "verbs": ["get"],
        },
        _rule(["scheduling.k8s.io"], ["priorityclasses"], _READ),
        _rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"], _ALL),
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "resourceNames": _BINDABLE_ROLES,
            "verbs": ["bind"],
        },
    ]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(NAME),
        "rules": rules,
    }


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _subjects(namespace: str) -> list[dict[str, Any]]:
    return [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]


def cluster_role_binding(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(NAME),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": _subjects(namespace),
    }


def leader_election_role(namespace: str) -> dict[str, Any]:
    """Leases only in the operator's own namespace: leader election needs nothing wider."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(f"{NAME}-leader-election", namespace),
        "rules": [_rule(["coordination.k8s.io"], ["leases"], ["get", "create", "update"])],
    }


def leader_election_role_binding(namespace: str) -> dict[str, Any]:
    name = f"{NAME}-leader-election"
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": _subjects(namespace),
    }


def deployment(*, image: str, namespace: str) -> dict[str, Any]:
    """`REPLICAS` replicas of `mlkube operator`: leader election keeps all but one idle."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME, namespace),
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": dict(SELECTOR)},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [_container(image)],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {
                            "name": "config",
                            "configMap": {"name": OPERATOR_CONFIG, "optional": True},
                        },
                    ],
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }


def _container(image: str) -> dict[str, Any]:
    return {
        "name": "operator",
        "image": image,
        "command": ["mlkube", "operator"],
        "envFrom": [
            {"configMapRef": {"name": OPERATOR_CONFIG, "optional": True}},
            {"secretRef": {"name": OPERATOR_STORE_SECRET, "optional": True}},
        ],
        "env": [
            {"name": "MLKUBE_IMAGE", "value": image},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "ports": [
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
            {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
            container_port(),
        ],
        "livenessProbe": _probe("/healthz", initial_delay=15),
        "readinessProbe": _probe("/readyz", initial_delay=5),
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
        ],
    }


def operator_config(
    namespace: str,
    *,
    artifact_store: str | None,
    artifact_credentials_secret: str | None,
    node_groups: str | None = None,
) -> dict[str, Any] | None:
    """The ConfigMap the operator's container reads its settings from (see the module
    docstring); None when there is nothing to set. `node_groups` (the YAML text) becomes the
    file `/etc/mlkube/node-groups.yaml`, which `MLKUBE_NODE_GROUPS` then names."""
    groups_file = f"{CONFIG_MOUNT}/{NODE_GROUPS_KEY}" if node_groups else None
    data = {
        key: value
        for key, value in (
            ("MLKUBE_ARTIFACT_STORE", artifact_store),
            ("MLKUBE_ARTIFACT_CREDENTIALS_SECRET", artifact_credentials_secret),
            ("MLKUBE_NODE_GROUPS", groups_file),
            (NODE_GROUPS_KEY, node_groups),
        )
        if value
    }
    if not data:
        return None
    meta = _meta(OPERATOR_CONFIG, namespace)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def _probe(path: str, *, initial_delay: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "health"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 10,
    }
