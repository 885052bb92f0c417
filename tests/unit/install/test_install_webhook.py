"""The admission webhook's objects in `mlkube install --kubernetes`: wired to each other and to
the operator's Deployment (every object is also validated against the upstream schemas, with
the rest of the install, in test_install_manifests)."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from mlkube.install import install_manifests
from mlkube.install.crds import crd_kinds
from mlkube.install.webhook import WEBHOOK_PORT

OBJECTS = install_manifests(image="mlkube:test")


def one(kind: str, objs: list[dict[str, Any]] = OBJECTS, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def test_the_configuration_is_what_the_apiserver_needs() -> None:
    (hook,) = one("ValidatingWebhookConfiguration")["webhooks"]
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["timeoutSeconds"] == 5
    assert "caBundle" not in hook["clientConfig"]  # the operator or cert-manager fills it in
    (rule,) = hook["rules"]
    assert rule["apiGroups"] == ["mlkube.io"]
    assert rule["operations"] == ["CREATE", "UPDATE"]
    assert set(rule["resources"]) == {k.plural for k in crd_kinds()}
    assert not any("/" in r for r in rule["resources"])  # status writes are not judged


def test_the_configuration_calls_the_service_that_reaches_the_operator_port() -> None:
    hook = one("ValidatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["service"]
    service = one("Service")
    assert (hook["name"], hook["namespace"]) == (
        service["metadata"]["name"],
        service["metadata"]["namespace"],
    )
    assert hook["path"] == "/validate"
    (port,) = service["spec"]["ports"]
    assert port["port"] == hook["port"] == 443
    deployment = one("Deployment")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named[port["targetPort"]] == WEBHOOK_PORT == 9443
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()


def test_the_operator_may_get_and_patch_only_its_own_configuration() -> None:
    configuration = one("ValidatingWebhookConfiguration")["metadata"]["name"]
    role = one("ClusterRole", name="mlkube-operator-webhook")
    assert role["rules"] == [
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["validatingwebhookconfigurations"],
            "resourceNames": [configuration],
            "verbs": ["get", "patch"],
        }
    ]
    binding = one("ClusterRoleBinding", name="mlkube-operator-webhook")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = one("ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    main_role = one("ClusterRole", name="mlkube-operator")
    assert not any("admissionregistration.k8s.io" in r["apiGroups"] for r in main_role["rules"])


def test_the_configuration_comes_after_the_operator_it_calls() -> None:
    kinds = [o["kind"] for o in OBJECTS]
    assert kinds.index("ValidatingWebhookConfiguration") > kinds.index("Deployment")
    assert kinds.index("ValidatingWebhookConfiguration") > kinds.index("Service")


def test_the_namespace_parameter_reaches_the_service_and_the_client_config() -> None:
    objs = install_manifests(image="mlkube:test", namespace="ml-ops")
    assert one("Service", objs)["metadata"]["namespace"] == "ml-ops"
    hook = one("ValidatingWebhookConfiguration", objs)["webhooks"][0]
    assert hook["clientConfig"]["service"]["namespace"] == "ml-ops"
    binding = one("ClusterRoleBinding", objs, name="mlkube-operator-webhook")
    assert binding["subjects"][0]["namespace"] == "ml-ops"


@pytest.mark.parametrize("version", ["1.29", kubernetes_validate.latest_version()])
def test_with_a_ca_bundle_filled_in_it_is_still_valid(version: str) -> None:
    """What the operator's patch leaves on the cluster."""
    configuration = copy.deepcopy(one("ValidatingWebhookConfiguration"))
    configuration["webhooks"][0]["clientConfig"]["caBundle"] = "LS0tLS1CRUdJTg=="
    kubernetes_validate.validate(configuration, version, strict=True)
