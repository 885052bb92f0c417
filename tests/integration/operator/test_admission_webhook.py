"""The operator's validating admission webhook, called by the fake kube-apiserver over HTTPS:
our create-time refusals on a cluster, through the official client and `mlkube apply`."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mlkube.install.operator import labels
from mlkube.install.webhook import (
    WEBHOOK_CONFIGURATION,
    WEBHOOK_NAME,
    WEBHOOK_SERVICE,
    WEBHOOK_TLS_SECRET,
    validating_webhook_configuration,
)
from mlkube.server.operator import OperatorPlatform
from mlkube.server.operator_webhook import OperatorWebhook, WebhookSettings
from mlkube.server.webhook_tls import self_signed_tls
from mlkube.testing.kube import FakeKubeCluster
from tests.integration.operator.test_operator import (
    GROUP,
    MLKUBE,
    TEAM,
    VERSION,
    create_team,
    finished,
    shell,
)

NAMESPACE = "mlkube-system"
SERVICE_KEY = f"{WEBHOOK_SERVICE}.{NAMESPACE}:443"
DENIED = f'admission webhook "{WEBHOOK_NAME}" denied the request: '
# The fake cluster (conftest.NODES): 4 + 2 CPUs.
TOO_BIG = (
    'PipelineRun "big" is invalid: spec.pipelineSpec.steps[0].resources: '
    "step 'train' requests cpu 7 but node cluster has 6 CPUs"
)


def run_body(name: str, cpu: str) -> dict[str, Any]:
    step = shell("train", "true", resources={"cpu": cpu})
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": TEAM},
        "spec": {"pipelineSpec": {"steps": [step]}, "cache": False},
    }


def create(api: client.ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, TEAM, "pipelineruns", body
    )
    return created


def refusal(api: client.ApiClient, body: dict[str, Any]) -> tuple[int, str]:
    """The code and message of the Status a create is refused with."""
    with pytest.raises(ApiException) as refused:
        create(api, body)
    status = refused.value
    return int(status.status), str(json.loads(status.body)["message"])


def configuration(api: client.ApiClient) -> Any:
    return client.AdmissionregistrationV1Api(api).read_validating_webhook_configuration(
        WEBHOOK_CONFIGURATION
    )


def start(kube: FakeKubeCluster, data: Path, **settings: Any) -> OperatorPlatform:
    """The operator with its webhook on a free loopback port, its Service mapped to it."""
    webhook = WebhookSettings(host="127.0.0.1", port=0, namespace=NAMESPACE, **settings)
    platform = OperatorPlatform(
        kube.configuration(),
        data_dir=data,
        health_host="127.0.0.1",
        health_port=0,
        webhook=webhook,
    )
    platform.start()
    assert platform.webhook is not None
    kube.webhook_services[SERVICE_KEY] = f"https://127.0.0.1:{platform.webhook.port}"
    return platform


@pytest.fixture
def installed(api: client.ApiClient) -> None:
    """The configuration `mlkube install --kubernetes` applies (no caBundle yet)."""
    body = validating_webhook_configuration(NAMESPACE, labels=labels())
    client.AdmissionregistrationV1Api(api).create_validating_webhook_configuration(body)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    create_team(api)


@pytest.fixture
def operator(kube: FakeKubeCluster, installed: None, tmp_path: Path) -> Iterator[OperatorPlatform]:
    platform = start(kube, tmp_path / "data")
    try:
        yield platform
    finally:
        platform.stop()


def test_the_operator_writes_its_ca_into_the_configuration(
    operator: OperatorPlatform, api: client.ApiClient
) -> None:
    (hook,) = configuration(api).webhooks
    ca = base64.b64decode(hook.client_config.ca_bundle)
    assert ca.startswith(b"-----BEGIN CERTIFICATE-----")
    assert hook.client_config.service.name == WEBHOOK_SERVICE


def test_a_run_that_can_never_fit_is_refused_and_a_good_one_runs(
    operator: OperatorPlatform, api: client.ApiClient
) -> None:
    assert refusal(api, run_body("big", "7")) == (422, DENIED + TOO_BIG)
    with pytest.raises(ApiException) as missing:
        client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, TEAM, "pipelineruns", "big"
        )
    assert missing.value.status == 404
    create(api, run_body("small", "1"))
    # The operator's own writes of the run (metadata, status) pass the webhook too.
    assert finished(api, "small")["status"]["phase"] == "Succeeded"


def test_mlkube_apply_shows_the_refusal(
    operator: OperatorPlatform, kube: FakeKubeCluster, tmp_path: Path
) -> None:
    manifest = tmp_path / "big.yaml"
    manifest.write_text(yaml.safe_dump(run_body("big", "7")))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    applied = subprocess.run(
        [MLKUBE, "apply", "-f", str(manifest), "--kubeconfig", str(kube.kubeconfig_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert applied.returncode == 1
    assert DENIED + TOO_BIG in applied.stderr


def test_an_unreachable_webhook_refuses_creation_under_fail_and_not_under_ignore(
    operator: OperatorPlatform, api: client.ApiClient
) -> None:
    operator.stop()
    code, message = refusal(api, run_body("small", "1"))
    assert code == 500
    assert message.startswith(
        f'Internal error occurred: failed calling webhook "{WEBHOOK_NAME}": failed to call '
        "webhook: Post "
    )
    current = configuration(api)
    current.webhooks[0].failure_policy = "Ignore"
    client.AdmissionregistrationV1Api(api).replace_validating_webhook_configuration(
        WEBHOOK_CONFIGURATION, current
    )
    assert create(api, run_body("small", "1"))["metadata"]["name"] == "small"


def test_a_cert_dir_is_served_and_the_ca_bundle_left_alone(
    kube: FakeKubeCluster, installed: None, api: client.ApiClient, tmp_path: Path
) -> None:
    made = self_signed_tls(tmp_path / "made", service=WEBHOOK_SERVICE, namespace=NAMESPACE)
    mounted = tmp_path / "cert-manager"
    mounted.mkdir()
    (mounted / "tls.crt").write_bytes(made.cert.read_bytes())
    (mounted / "tls.key").write_bytes(made.key.read_bytes())
    platform = start(kube, tmp_path / "data", cert_dir=mounted)
    try:
        assert configuration(api).webhooks[0].client_config.ca_bundle is None
        # Nothing trusts this CA yet: the kube-apiserver cannot call the webhook.
        code, message = refusal(api, run_body("big", "7"))
        assert code == 500
        assert "certificate verify failed" in message
        # What cert-manager's CA injector would do.
        current = configuration(api)
        assert made.ca_pem is not None
        current.webhooks[0].client_config.ca_bundle = base64.b64encode(made.ca_pem).decode()
        client.AdmissionregistrationV1Api(api).replace_validating_webhook_configuration(
            WEBHOOK_CONFIGURATION, current
        )
        assert refusal(api, run_body("big", "7")) == (422, DENIED + TOO_BIG)
    finally:
        platform.stop()


def test_every_replica_serves_the_certificate_the_configuration_trusts(
    operator: OperatorPlatform, kube: FakeKubeCluster, api: client.ApiClient
) -> None:
    """A second replica started later takes the first one's certificate from the shared
    Secret: whichever replica the Service picks, the kube-apiserver trusts it."""
    assert operator.webhook is not None
    first = f"https://127.0.0.1:{operator.webhook.port}"
    second = OperatorWebhook(WebhookSettings(host="127.0.0.1", port=0, namespace=NAMESPACE))
    with kube.api_client() as second_api:
        second.start(second_api, leader=lambda: None)
        try:
            for replica in (f"https://127.0.0.1:{second.port}", first):
                kube.webhook_services[SERVICE_KEY] = replica
                assert refusal(api, run_body("big", "7")) == (422, DENIED + TOO_BIG)
        finally:
            second.stop()
    secret = client.CoreV1Api(api).read_namespaced_secret(WEBHOOK_TLS_SECRET, NAMESPACE)
    (hook,) = configuration(api).webhooks
    assert secret.type == "kubernetes.io/tls"
    assert base64.b64decode(hook.client_config.ca_bundle) == base64.b64decode(secret.data["ca.crt"])
