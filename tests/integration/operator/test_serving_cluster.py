"""An InferenceService on the operator: its Deployment, Service and HPA on the fake cluster,
a real replica process in the pod answering the Open Inference Protocol, seen only through
the official client.

The fake cluster runs pods as local processes, so every replica binds the same port on
loopback: the test keeps one replica and checks "a service scales" through the HPA's
fields (the HPA controller is Kubernetes', not the fake's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import joblib
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlkube.server.operator import OperatorPlatform
from tests.integration.platform.conftest import wait_for

GROUP, VERSION = "mlkube.io", "v1alpha1"
TEAM = "team-a"
FEATURES, LABELS = load_iris(return_X_y=True)
ROWS = FEATURES[[0, 60, 120]]


def isvc(name: str, model: Path, **predictor: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {
            "predictor": {
                "model": {"modelFormat": {"name": "sklearn"}, "storageUri": f"file://{model}"},
                **predictor,
            }
        },
    }


def read_or_none(read: Any, *args: str) -> Any:
    try:
        return read(*args)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def ready_status(custom: client.CustomObjectsApi, name: str) -> dict[str, Any] | None:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, TEAM, "inferenceservices", name)
    status: dict[str, Any] = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
    return status if ready.get("status") == "True" else None


def infer(url: str, name: str) -> list[int]:
    tensor = {"name": "input-0", "shape": list(ROWS.shape), "datatype": "FP64"}
    body = {"inputs": [{**tensor, "data": ROWS.ravel().tolist()}]}
    response = httpx.post(f"{url}/v2/models/{name}/infer", json=body, timeout=60)
    assert response.status_code == 200, response.text
    output = next(o for o in response.json()["outputs"] if o["name"] == "predict")
    return [int(v) for v in output["data"]]


def test_an_inference_service_is_served_scaled_and_deleted_on_the_cluster(
    api: client.ApiClient, operator: OperatorPlatform, tmp_path: Path
) -> None:
    model_file = tmp_path / "iris.joblib"
    model = LogisticRegression(max_iter=500).fit(FEATURES, LABELS)
    joblib.dump(model, model_file)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    hpas, custom = client.AutoscalingV2Api(api), client.CustomObjectsApi(api)
    core.create_namespace({"metadata": {"name": TEAM}})
    resources = {"cpu": "500m", "memory": "2Gi"}
    body = isvc("iris", model_file, minReplicas=1, maxReplicas=2, resources=resources)
    custom.create_namespaced_custom_object(GROUP, VERSION, TEAM, "inferenceservices", body)

    name = "iris-predictor"
    deployment = wait_for(
        lambda: read_or_none(apps.read_namespaced_deployment, name, TEAM), what="the Deployment"
    )
    main = deployment.spec.template.spec.containers[0]
    assert main.resources.requests == {"cpu": "500m", "memory": "2Gi"}
    assert main.command[:3] == ["python", "-m", "mlkube.serving.replica"]
    assert deployment.spec.replicas == 1
    assert deployment.metadata.owner_references[0].kind == "InferenceService"
    # Written one after another: the HPA and the Service may follow the Deployment a moment later.
    hpa = wait_for(
        lambda: read_or_none(hpas.read_namespaced_horizontal_pod_autoscaler, name, TEAM),
        what="the HPA",
    )
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 2)
    assert hpa.spec.scale_target_ref.name == name
    svc = wait_for(lambda: read_or_none(core.read_namespaced_service, "iris", TEAM), what="Service")
    assert svc.spec.ports[0].target_port == "http"

    status = wait_for(lambda: ready_status(custom, "iris"), timeout=90, what="isvc Ready")
    assert status["url"] == f"http://iris.{TEAM}.svc.cluster.local"
    assert status["readyReplicas"] == 1
    pods = core.list_namespaced_pod(TEAM, label_selector="mlkube.io/inferenceservice=iris").items
    assert len(pods) == 1 and pods[0].status.phase == "Running"
    port = pods[0].spec.containers[0].ports[0].container_port
    assert infer(f"http://{pods[0].status.pod_ip}:{port}", "iris") == model.predict(ROWS).tolist()

    patch = {"spec": {"predictor": {"minReplicas": 2, "maxReplicas": 5}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, TEAM, "inferenceservices", "iris", patch)

    def bounds() -> bool:
        spec = hpas.read_namespaced_horizontal_pod_autoscaler(name, TEAM).spec
        return (spec.min_replicas, spec.max_replicas) == (2, 5)

    wait_for(bounds, what="the HPA's new bounds")
    # The replica count is the HPA's to change, not ours: the Deployment keeps it.
    assert apps.read_namespaced_deployment(name, TEAM).spec.replicas == 1

    custom.delete_namespaced_custom_object(GROUP, VERSION, TEAM, "inferenceservices", "iris")
    for read, object_name in (
        (apps.read_namespaced_deployment, name),
        (hpas.read_namespaced_horizontal_pod_autoscaler, name),
        (core.read_namespaced_service, "iris"),
    ):
        wait_for(
            lambda r=read, n=object_name: read_or_none(r, n, TEAM) is None,
            timeout=30,
            what=f"{object_name} deleted with its InferenceService",
        )
