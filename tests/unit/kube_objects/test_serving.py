"""An InferenceService revision → Deployment, Service, HPA, and a VPA when asked."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.runtime.kubernetes import Revision, TranslationError, serving_objects
from tests.unit.kube_objects.specs import SETTINGS, UID, container, env, isvc, pod, revision


def build(service: Any = None, **options: Any) -> dict[str, dict[str, Any]]:
    objs = serving_objects(service or isvc(), revision(), SETTINGS, **options)
    return {o["kind"]: o for o in objs}


def test_without_vpa_three_objects_owned_by_the_service() -> None:
    objs = build()
    assert list(objs) == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    for obj in objs.values():
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("InferenceService", "digits", UID)


def test_the_replica_command_probes_and_environment() -> None:
    deployment = build(isvc(batching={"maxBatchSize": 8, "maxLatencyMs": 2.5}))["Deployment"]
    main = container(deployment)
    assert main["command"] == [
        "python", "-m", "mlkube.serving.replica",
        "--name", "digits", "--version", "2", "--model", "/models/digits",
        "--format", "sklearn", "--host", "0.0.0.0", "--port", "8080",
        "--max-batch-size", "8", "--max-batch-delay-ms", "2.5",
    ]  # fmt: skip
    assert main["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert main["startupProbe"]["failureThreshold"] * main["startupProbe"]["periodSeconds"] == 300
    assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert env(deployment)["MLKUBE_MODEL_URI"] == "pipelinerun://train-1/model"
    assert env(deployment)["MLKUBE_REVISION"] == "digits-predictor-00002"
    assert pod(deployment)["restartPolicy"] == "Always"
    assert pod(deployment)["terminationGracePeriodSeconds"] == 65


def test_the_service_reaches_every_revision_and_the_deployment_only_its_own() -> None:
    objs = build()
    deployment, service = objs["Deployment"], objs["Service"]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/component": "model-server",
        "mlkube.io/inferenceservice": "digits",
    }
    assert deployment["spec"]["selector"]["matchLabels"] == {
        **service["spec"]["selector"],
        "mlkube.io/revision": "digits-predictor-00002",
    }
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


@pytest.mark.parametrize(
    ("predictor", "replicas", "minimum", "maximum"),
    [
        ({}, 1, 1, 1),
        ({"minReplicas": 0, "maxReplicas": 4}, 1, 1, 4),
        ({"minReplicas": 3, "maxReplicas": 10}, 3, 3, 10),
    ],
)
def test_replica_bounds_with_an_hpa_that_cannot_scale_to_zero(
    predictor: dict[str, Any], replicas: int, minimum: int, maximum: int
) -> None:
    objs = build(isvc(**predictor))
    hpa = objs["HorizontalPodAutoscaler"]["spec"]
    assert objs["Deployment"]["spec"]["replicas"] == replicas
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (minimum, maximum)
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "digits-predictor-00002",
    }


@pytest.mark.parametrize(
    ("predictor", "metric", "average", "window"),
    [
        ({}, "mlkube_model_in_flight", "4", 30),
        ({"scaleTarget": 2.5}, "mlkube_model_in_flight", "2.5", 30),
        ({"scaleMetric": "rps", "scaleTarget": 100}, "mlkube_model_requests_per_second", "100", 30),
        ({"scaleDownDelaySeconds": 0.5}, "mlkube_model_in_flight", "4", 1),
        ({"scaleDownDelaySeconds": 7200}, "mlkube_model_in_flight", "4", 3600),
    ],
)
def test_the_autoscaling_spec_becomes_a_pods_metric_per_replica(
    predictor: dict[str, Any], metric: str, average: str, window: int
) -> None:
    hpa = build(isvc(**predictor))["HorizontalPodAutoscaler"]["spec"]
    assert hpa["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": metric},
                "target": {"type": "AverageValue", "averageValue": average},
            },
        }
    ]
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == window


def test_a_vpa_only_when_asked_and_never_evicting() -> None:
    vpa = build(vpa=True)["VerticalPodAutoscaler"]
    assert vpa["apiVersion"] == "autoscaling.k8s.io/v1"
    assert vpa["spec"]["updatePolicy"] == {"updateMode": "Off"}
    assert vpa["spec"]["targetRef"]["name"] == "digits-predictor-00002"


def test_gpus_on_a_replica() -> None:
    resources = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 1, "gpuModel": "L4"}
    deployment = build(isvc(resources=resources))["Deployment"]
    assert container(deployment)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod(deployment)["nodeSelector"] == {"nvidia.com/gpu.product": "L4"}
    assert pod(deployment)["tolerations"][0]["key"] == "nvidia.com/gpu"


@pytest.mark.parametrize(("name", "number"), [("a-predictor-00012", 12), ("custom", 0)])
def test_the_version_is_the_revisions_counter(name: str, number: int) -> None:
    assert Revision(name, "/m").number == number


def test_a_revision_without_a_model_path_is_refused() -> None:
    with pytest.raises(TranslationError, match=r"^revision: "):
        serving_objects(isvc(), Revision("digits-predictor-00001", ""), SETTINGS)
