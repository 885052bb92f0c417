"""The fake kube-apiserver's API through the official client: discovery, validation,
subresources, selectors, finalizers, watches that resume and expire."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from mlkube.testing.kube import FakeKubeCluster, fake_kube_cluster
from tests.integration.fake_kube.conftest import container, wait_for

NS = "default"


def raw(
    api: client.ApiClient, method: str, path: str, body: Any, content_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    """A request through the official client's transport, skipping its model checks (which
    would refuse a bad object before it is sent)."""
    params = api.param_serialize(
        method,
        path,
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
    )
    response = api.call_api(*params)
    data = json.loads(response.read())
    return response.status, data


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container(["true"])]},
            },
            **spec,
        },
    }


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def test_discovery_lists_the_served_groups(api: client.ApiClient) -> None:
    groups = {
        g.name: [v.version for v in g.versions]
        for g in client.ApisApi(api).get_api_versions().groups
    }
    assert groups["apps"] == ["v1"] and groups["batch"] == ["v1"]
    assert groups["autoscaling"] == ["v2"] and groups["mlkube.io"] == ["v1alpha1"]
    assert "rbac.authorization.k8s.io" in groups and "coordination.k8s.io" in groups
    core = {r.name for r in client.CoreV1Api(api).get_api_resources().resources}
    assert {"pods", "pods/status", "pods/log", "services", "secrets", "events"} <= core
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert apps["deployments/scale"].kind == "Scale"


def test_an_invalid_deployment_is_refused_with_its_causes(api: client.ApiClient) -> None:
    for bad, field in (
        (deployment("web", replicas="x"), "spec.replicas"),
        (deployment("web", paused=True, surprise=1), "spec.surprise"),
    ):
        code, status = raw(api, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", bad)
        assert (code, status["kind"], status["reason"]) == (422, "Status", "Invalid")
        assert status["details"]["kind"] == "Deployment" and status["details"]["group"] == "apps"
        assert [c["field"] for c in status["details"]["causes"]] == [field]
        assert status["message"].startswith(f'Deployment.apps "web" is invalid: {field}: ')
    assert client.AppsV1Api(api).list_namespaced_deployment(NS).items == []


def test_a_bad_patch_changes_nothing(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, deployment("web"))
    code, status = raw(
        api,
        "PATCH",
        f"/apis/apps/v1/namespaces/{NS}/deployments/web",
        {"spec": {"replicas": -1}},
        "application/merge-patch+json",
    )
    assert code == 422 and status["details"]["causes"][0]["field"] == "spec.replicas"
    stored = apps.read_namespaced_deployment("web", NS)
    assert (stored.spec.replicas, stored.metadata.generation) == (1, 1)


def test_objects_need_an_existing_namespace(api: client.ApiClient) -> None:
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).create_namespaced_config_map("nowhere", configmap("c"))
    assert caught.value.status == 404


def test_label_selectors_and_field_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(NS, configmap("a", {"tier": "web"}))
    core.create_namespaced_config_map(NS, configmap("b", {"tier": "db"}))
    names = lambda **kw: [c.metadata.name for c in core.list_namespaced_config_map(NS, **kw).items]  # noqa: E731
    assert names(label_selector="tier=web") == ["a"]
    assert names(label_selector="tier in (web,db)") == ["a", "b"]
    assert names(field_selector="metadata.name!=a") == ["b"]


def test_status_is_a_subresource(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    port = client.V1ServicePort(port=80, target_port=8080)
    spec = client.V1ServiceSpec(selector={"app": "web"}, ports=[port])
    core.create_namespaced_service(
        NS, client.V1Service(metadata=client.V1ObjectMeta(name="web"), spec=spec)
    )
    ingress = {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}]}}
    core.patch_namespaced_service(
        "web", NS, {"status": ingress, "metadata": {"labels": {"x": "y"}}}
    )
    service = core.read_namespaced_service("web", NS)
    assert service.metadata.labels == {"x": "y"} and not service.status.load_balancer.ingress
    assert service.spec.cluster_ip.startswith("10.96.") and service.spec.ports[0].protocol == "TCP"
    core.patch_namespaced_service_status("web", NS, {"status": ingress})
    service = core.read_namespaced_service("web", NS)
    assert service.status.load_balancer.ingress[0].ip == "10.0.0.9"
    assert service.metadata.generation == 1  # neither labels nor status are the spec


def test_finalizers_hold_a_deleted_object(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    body = configmap("held")
    body.metadata.finalizers = ["example.com/keep"]
    core.create_namespaced_config_map(NS, body)
    core.delete_namespaced_config_map("held", NS)
    held = core.read_namespaced_config_map("held", NS)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", NS, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("held", NS)
    assert caught.value.status == 404


def test_a_watch_resumes_from_a_resource_version(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map(NS, configmap("one"))
    core.create_namespaced_config_map(NS, configmap("two"))
    core.delete_namespaced_config_map("one", NS)
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        NS,
        resource_version=first.metadata.resource_version,
        timeout_seconds=1,
    )
    seen = [(e["type"], e["object"].metadata.name) for e in stream]
    assert seen == [("ADDED", "two"), ("DELETED", "one")]


def test_a_watch_sees_writes_as_they_happen(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    w = watch.Watch()
    seen: list[str] = []

    def consume() -> None:
        for event in w.stream(
            core.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=10
        ):
            seen.append(f"{event['type']} {event['object'].metadata.name}")
            if len(seen) == 2:
                w.stop()

    reader = threading.Thread(target=consume)
    reader.start()
    core.create_namespaced_config_map(NS, configmap("live"))
    core.patch_namespaced_config_map("live", NS, {"data": {"k": "v"}})
    reader.join(timeout=15)
    assert seen == ["ADDED live", "MODIFIED live"]


def test_a_watch_from_a_compacted_version_is_expired(tmp_path: Path) -> None:
    with (
        fake_kube_cluster(tmp_path, controllers=(), event_retention=2) as kube,
        kube.api_client() as api,
    ):
        core = client.CoreV1Api(api)
        old = core.create_namespaced_config_map(NS, configmap("c0")).metadata.resource_version
        for i in range(1, 4):
            core.create_namespaced_config_map(NS, configmap(f"c{i}"))
        with pytest.raises(ApiException) as caught:
            list(
                watch.Watch().stream(
                    core.list_namespaced_config_map, NS, resource_version=old, timeout_seconds=1
                )
            )
        assert caught.value.status == 410
        api.rest_client.pool_manager.clear()


def test_orphan_propagation_keeps_the_dependents(
    api: client.ApiClient, kube: FakeKubeCluster
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(NS, deployment("keep", replicas=1))
    wait_for(lambda: core.list_namespaced_pod(NS, label_selector="app=keep").items, what="a pod")
    apps.delete_namespaced_deployment("keep", NS, propagation_policy="Orphan")
    [pod] = core.list_namespaced_pod(NS, label_selector="app=keep").items
    assert not pod.metadata.owner_references


def test_the_kubeconfig_works_with_load_kube_config(kube: FakeKubeCluster) -> None:
    configuration = client.Configuration()
    config.load_kube_config(
        config_file=str(kube.kubeconfig_path), client_configuration=configuration
    )
    with client.ApiClient(configuration) as api:
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        api.rest_client.pool_manager.clear()
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


def test_a_body_of_another_kind_is_a_bad_request(api: client.ApiClient) -> None:
    body = {"apiVersion": "apps/v2", "kind": "Deployment", "metadata": {"name": "d"}}
    code, status = raw(api, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", body)
    assert (code, status["reason"]) == (400, "BadRequest")
    assert "(apps/v2, Deployment)" in status["message"]
