"""InferenceServices on the operator, against the fake cluster through the official client:
a VerticalPodAutoscaler where its CRD is installed (and a condition saying why not where it is
not), and a model a pipeline run trained, fetched by the replica pod from the run's artifact,
on local disk or in S3 (a real S3 API on loopback)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import joblib
import pytest
from kubernetes import client
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster
from mlkube.testing.s3 import S3Server, unique_bucket
from tests.integration.operator.test_operator import create_run, finished
from tests.integration.operator.test_serving_cluster import isvc, read_or_none, ready_status
from tests.integration.platform.conftest import wait_for

GROUP, VERSION, PLURAL = "mlkube.io", "v1alpha1", "inferenceservices"
VPA_GROUP, VPA_PLURAL = "autoscaling.k8s.io", "verticalpodautoscalers"
TEAM = "team-a"
TRAIN = str(Path(__file__).parents[1] / "platform" / "serving_steps.py")
FEATURES, _ = load_iris(return_X_y=True)
ROWS = FEATURES[[0, 60, 120]]


def vpa_crd() -> dict[str, Any]:
    """The VPA's CRD as its project installs it: names, and a schema of the fields we use."""
    mode = {"type": "string", "enum": ["Off", "Initial", "Recreate", "Auto", "InPlaceOrRecreate"]}
    target = {
        "type": "object",
        "required": ["kind", "name"],
        "properties": {k: {"type": "string"} for k in ("apiVersion", "kind", "name")},
    }
    policy = {
        "type": "object",
        "properties": {
            "containerName": {"type": "string"},
            "controlledResources": {"type": "array", "items": {"type": "string"}},
        },
    }
    spec = {
        "type": "object",
        "required": ["targetRef"],
        "properties": {
            "targetRef": target,
            "updatePolicy": {"type": "object", "properties": {"updateMode": mode}},
            "resourcePolicy": {
                "type": "object",
                "properties": {"containerPolicies": {"type": "array", "items": policy}},
            },
        },
    }
    schema = {"type": "object", "properties": {"spec": spec, "status": {"type": "object"}}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{VPA_PLURAL}.{VPA_GROUP}"},
        "spec": {
            "group": VPA_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": "VerticalPodAutoscaler",
                "plural": VPA_PLURAL,
                "singular": "verticalpodautoscaler",
                "shortNames": ["vpa"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def iris_file(tmp_path: Path) -> Path:
    path = tmp_path / "iris.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(*load_iris(return_X_y=True)), path)
    return path


def condition(custom: client.CustomObjectsApi, name: str, type_: str) -> dict[str, Any] | None:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, name)
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), None)


def read_vpa(custom: client.CustomObjectsApi, name: str) -> Any:
    return read_or_none(
        lambda n, ns: custom.get_namespaced_custom_object(VPA_GROUP, "v1", ns, VPA_PLURAL, n),
        name,
        TEAM,
    )


def annotate(custom: client.CustomObjectsApi, name: str, value: str | None) -> None:
    patch = {"metadata": {"annotations": {"mlkube.io/vpa": value}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, name, patch)


def with_vpa(body: dict[str, Any], mode: str) -> dict[str, Any]:
    body["metadata"]["annotations"] = {"mlkube.io/vpa": mode}
    return body


def test_a_vpa_follows_its_service_where_the_crd_is_installed(
    api: client.ApiClient, operator: OperatorPlatform, tmp_path: Path
) -> None:
    client.ApiextensionsV1Api(api).create_custom_resource_definition(vpa_crd())
    client.CoreV1Api(api).create_namespace({"metadata": {"name": TEAM}})
    custom = client.CustomObjectsApi(api)
    body = with_vpa(isvc("iris", iris_file(tmp_path)), "Off")
    custom.create_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, body)

    name = "iris-predictor"
    vpa = wait_for(lambda: read_vpa(custom, name), what="the VPA")
    assert vpa["spec"]["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert vpa["spec"]["updatePolicy"] == {"updateMode": "Off"}
    (owner,) = vpa["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("InferenceService", "iris", True)
    made = wait_for(lambda: condition(custom, "iris", "VerticalPodAutoscaler"), what="condition")
    assert (made["status"], made["reason"]) == ("True", "Applied")

    annotate(custom, "iris", "Initial")
    wait_for(
        lambda: read_vpa(custom, name)["spec"]["updatePolicy"] == {"updateMode": "Initial"},
        what="the VPA's new mode",
    )
    annotate(custom, "iris", None)
    wait_for(lambda: read_vpa(custom, name) is None, what="the VPA deleted when not asked for")
    wait_for(
        lambda: condition(custom, "iris", "VerticalPodAutoscaler") is None,
        what="the condition gone",
    )

    annotate(custom, "iris", "Off")
    wait_for(lambda: read_vpa(custom, name), what="the VPA again")
    custom.delete_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, "iris")
    wait_for(lambda: read_vpa(custom, name) is None, what="the VPA deleted with its service")


def test_without_the_crd_no_vpa_and_the_service_says_why(
    api: client.ApiClient, operator: OperatorPlatform, tmp_path: Path
) -> None:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": TEAM}})
    custom = client.CustomObjectsApi(api)
    body = with_vpa(isvc("iris", iris_file(tmp_path)), "Off")
    custom.create_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, body)

    why = wait_for(lambda: condition(custom, "iris", "VerticalPodAutoscaler"), what="condition")
    assert (why["status"], why["reason"]) == ("False", "CRDNotInstalled")
    assert "verticalpodautoscalers.autoscaling.k8s.io" in why["message"]
    apps = client.AppsV1Api(api)
    assert read_or_none(apps.read_namespaced_deployment, "iris-predictor", TEAM) is not None
    assert read_vpa(custom, "iris-predictor") is None  # the fake serves no VPAs without the CRD


def predictions(pod: Any, name: str) -> list[int]:
    port = pod.spec.containers[0].ports[0].container_port
    tensor = {"name": "input-0", "shape": list(ROWS.shape), "datatype": "FP64"}
    body = {"inputs": [{**tensor, "data": ROWS.ravel().tolist()}]}
    url = f"http://{pod.status.pod_ip}:{port}/v2/models/{name}/infer"
    response = httpx.post(url, json=body, timeout=60)
    assert response.status_code == 200, response.text
    output = next(o for o in response.json()["outputs"] if o["name"] == "predict")
    return [int(v) for v in output["data"]]


def serve_from_run(api: client.ApiClient, run_name: str) -> tuple[Any, dict[str, Any]]:
    """Train in a run, serve its output; (the replica's pod, the run's model output)."""
    step = {"name": "train", "python": {"module": TRAIN, "function": "train_iris"}}
    create_run(api, run_name, [step])
    run = finished(api, run_name, timeout=120)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    (output,) = next(s for s in run["status"]["steps"] if s["name"] == "train")["outputs"]
    custom = client.CustomObjectsApi(api)
    uri = f"pipelinerun://{run_name}/train/output"
    body = isvc("iris", Path("/unused"))
    body["spec"]["predictor"]["model"]["storageUri"] = uri
    custom.create_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, body)
    wait_for(lambda: ready_status(custom, "iris"), timeout=90, what="isvc Ready")
    core = client.CoreV1Api(api)
    (pod,) = core.list_namespaced_pod(TEAM, label_selector="mlkube.io/inferenceservice=iris").items
    return pod, output


def env_of(pod: Any) -> dict[str, str]:
    return {e.name: e.value for e in pod.spec.containers[0].env or [] if e.value is not None}


def test_a_model_trained_by_a_run_is_fetched_by_its_replica(
    api: client.ApiClient, operator: OperatorPlatform
) -> None:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": TEAM}})
    custom = client.CustomObjectsApi(api)
    missing = isvc("early", Path("/unused"))
    missing["spec"]["predictor"]["model"]["storageUri"] = "pipelinerun://no-such-run/model"
    custom.create_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, missing)
    why = wait_for(lambda: condition(custom, "early", "Ready"), what="early's Ready")
    assert (why["status"], why["reason"]) == ("False", "ModelNotReady")
    assert why["message"] == f"pipelinerun {TEAM}/no-such-run not found"

    pod, output = serve_from_run(api, "train-iris")
    assert output["artifact"]["uri"].startswith("file://")
    assert env_of(pod)["MLKUBE_MODEL_ARTIFACT_URI"] == output["artifact"]["uri"]
    assert env_of(pod)["MLKUBE_MODEL_ARTIFACT_DIGEST"] == output["artifact"]["digest"]
    trained = LogisticRegression(max_iter=500).fit(*load_iris(return_X_y=True))
    assert predictions(pod, "iris") == trained.predict(ROWS).tolist()
    apps = client.AppsV1Api(api)
    assert read_or_none(apps.read_namespaced_deployment, "early-predictor", TEAM) is None


@pytest.fixture
def s3_operator(
    kube: FakeKubeCluster, api: client.ApiClient, tmp_path: Path
) -> Iterator[tuple[OperatorPlatform, str]]:
    """An operator whose artifact store is a fresh bucket of a real S3 API on loopback; the
    pods get the credentials from a Secret only."""
    with S3Server() as s3:
        bucket = unique_bucket("models")
        s3.create_bucket(bucket)
        client.CoreV1Api(api).create_namespace({"metadata": {"name": TEAM}})
        data = {k: base64.b64encode(v.encode()).decode() for k, v in s3.env.items()}
        secret = {"metadata": {"name": "s3"}, "data": data}
        client.CoreV1Api(api).create_namespaced_secret(TEAM, secret)
        store = f"s3://{bucket}/mlkube"
        platform = OperatorPlatform(
            kube.configuration(),
            data_dir=tmp_path / "data",
            settings=ClusterSettings(artifact_store=store, artifact_credentials_secret="s3"),
            artifact_store_options=s3.options,
            health_host="127.0.0.1",
            health_port=0,
        )
        platform.start()
        try:
            yield platform, store
        finally:
            platform.stop()


def test_a_model_in_an_object_store_is_downloaded_by_its_replica(
    api: client.ApiClient, s3_operator: tuple[OperatorPlatform, str]
) -> None:
    _, store = s3_operator
    pod, output = serve_from_run(api, "train-iris-s3")
    assert output["artifact"]["uri"].startswith(f"{store}/sha256/")
    assert env_of(pod)["MLKUBE_MODEL_ARTIFACT_URI"] == output["artifact"]["uri"]
    assert env_of(pod)["MLKUBE_ARTIFACT_STORE"] == store
    trained = LogisticRegression(max_iter=500).fit(*load_iris(return_X_y=True))
    assert predictions(pod, "iris") == trained.predict(ROWS).tolist()
