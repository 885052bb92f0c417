"""The validating admission webhook's objects: a Service, RBAC and the
ValidatingWebhookConfiguration that makes the kube-apiserver call the operator.

On a cluster our kinds are custom resources, so the kube-apiserver stores them after checking
their structural schema only. The refusals the embedded API makes at create time (a step that
can never fit the cluster, a priority class that does not exist, a quota lowered below use,
the models' own cross-field checks) come from the operator instead: the kube-apiserver POSTs an
`admission.k8s.io/v1` AdmissionReview to `https://SERVICE.NAMESPACE.svc:443/validate` for
every CREATE and UPDATE of our kinds (`mlkube.server.admission_webhook` answers it).

`failurePolicy: Fail`: while no operator answers, creating or changing our kinds is refused,
never let through unchecked. The `caBundle` is left empty here: the operator fills it in with
the CA of the certificate it makes at start (or cert-manager's CA injector does, when the
operator serves a certificate from `--webhook-cert-dir`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlkube.api.meta import API_GROUP
from mlkube.install.crds import crd_kinds

WEBHOOK_PORT = 9443
WEBHOOK_PATH = "/validate"
WEBHOOK_SERVICE = "mlkube-operator-webhook"
WEBHOOK_CONFIGURATION = "mlkube-operator"
# The self-signed certificate every replica serves (see `mlkube.server.webhook_tls`).
WEBHOOK_TLS_SECRET = "mlkube-operator-webhook-tls"
# A webhook's name must be a fully qualified domain name (at least three labels).
WEBHOOK_NAME = "validate.mlkube.io"
TIMEOUT_SECONDS = 5
_ROLE = "mlkube-operator-webhook"
_TLS_ROLE = "mlkube-operator-webhook-tls"
_RBAC = "rbac.authorization.k8s.io"


def webhook_objects(
    namespace: str, *, service_account: str, labels: Mapping[str, str], selector: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The webhook's objects in the order to apply them: the RBAC that lets the operator fill
    in the caBundle, the Service in front of its pods (`selector`), then the configuration."""
    return [
        ca_bundle_role(labels),
        ca_bundle_role_binding(namespace, service_account=service_account, labels=labels),
        tls_secret_role(namespace, labels=labels),
        tls_secret_role_binding(namespace, service_account=service_account, labels=labels),
        webhook_service(namespace, labels=labels, selector=selector),
        validating_webhook_configuration(namespace, labels=labels),
    ]


def container_port() -> dict[str, Any]:
    """The operator container's port the Service targets (by its name, `webhook`)."""
    return {"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"}


def ca_bundle_role(labels: Mapping[str, str]) -> dict[str, Any]:
    """Read and patch our one ValidatingWebhookConfiguration, nothing else of its kind."""
    rule = {
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["validatingwebhookconfigurations"],
        "resourceNames": [WEBHOOK_CONFIGURATION],
        "verbs": ["get", "patch"],
    }
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": _ROLE, "labels": dict(labels)},
        "rules": [rule],
    }


def ca_bundle_role_binding(
    namespace: str, *, service_account: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": _ROLE, "labels": dict(labels)},
        "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": _ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }


def tls_secret_role(namespace: str, *, labels: Mapping[str, str]) -> dict[str, Any]:
    """Read the shared certificate's Secret and create it; nothing else of the namespace's
    Secrets can be read (`create` cannot be limited by name in RBAC)."""
    rules = [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [WEBHOOK_TLS_SECRET],
            "verbs": ["get"],
        },
    ]
    meta = {"name": _TLS_ROLE, "namespace": namespace, "labels": dict(labels)}
    return {"apiVersion": f"{_RBAC}/v1", "kind": "Role", "metadata": meta, "rules": rules}


def tls_secret_role_binding(
    namespace: str, *, service_account: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    meta = {"name": _TLS_ROLE, "namespace": namespace, "labels": dict(labels)}
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": _RBAC, "kind": "Role", "name": _TLS_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }


def webhook_service(
    namespace: str, *, labels: Mapping[str, str], selector: Mapping[str, str]
) -> dict[str, Any]:
    """Port 443 (where the kube-apiserver calls) to the operator pods' `webhook` port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": WEBHOOK_SERVICE, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "selector": dict(selector),
            "ports": [{"name": "https", "port": 443, "targetPort": "webhook", "protocol": "TCP"}],
        },
    }


def validating_webhook_configuration(
    namespace: str, *, labels: Mapping[str, str]
) -> dict[str, Any]:
    """One webhook for CREATE and UPDATE of every kind of ours (not their subresources: the
    controllers' status writes are not judged)."""
    rule = {
        "apiGroups": [API_GROUP],
        "apiVersions": sorted({k.version for k in crd_kinds()}),
        "operations": ["CREATE", "UPDATE"],
        "resources": sorted(k.plural for k in crd_kinds()),
        "scope": "*",
    }
    service = {"name": WEBHOOK_SERVICE, "namespace": namespace, "path": WEBHOOK_PATH, "port": 443}
    webhook = {
        "name": WEBHOOK_NAME,
        "admissionReviewVersions": ["v1"],
        "clientConfig": {"service": service},
        "rules": [rule],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "timeoutSeconds": TIMEOUT_SECONDS,
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_CONFIGURATION, "labels": dict(labels)},
        "webhooks": [webhook],
    }
