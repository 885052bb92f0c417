"""The fake cluster's resource metrics API (`metrics.k8s.io/v1beta1` PodMetrics), read with
the official client and with `kubectl top`, from pods the fake kubelet runs as processes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mlkube.api.quantity import memory_bytes, parse_quantity
from mlkube.testing.kube import FakeKubeCluster, fake_kube_cluster
from tests.integration.fake_kube.conftest import container, python, wait_for
from tests.integration.kube.test_kubectl import Kubectl

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
MI = 1 << 20
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def hog(release: Path) -> list[str]:
    """Touch 64 MiB, then spin a CPU until `release` exists."""
    return python(
        "import os\n"
        "block = bytearray(64 << 20)\n"
        "for i in range(0, len(block), 4096): block[i] = 1\n"
        f"while not os.path.exists({str(release)!r}): pass\n"
    )


def pod(name: str, command: list[str], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"restartPolicy": "Never", "containers": [container(command)]},
    }


def pod_metrics(api: client.ApiClient, name: str) -> dict[str, Any]:
    found: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, "default", "pods", name
    )
    return found


def listed(api: client.ApiClient, selector: str, namespace: str | None = "default") -> list[str]:
    objects = client.CustomObjectsApi(api)
    if namespace is None:
        answer = objects.list_cluster_custom_object(GROUP, VERSION, "pods", label_selector=selector)
    else:
        answer = objects.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "pods", label_selector=selector
        )
    return sorted(item["metadata"]["name"] for item in answer["items"])


def cpu_of(item: dict[str, Any]) -> float:
    return float(sum(parse_quantity(c["usage"]["cpu"]) for c in item["containers"]))


def memory_of(item: dict[str, Any]) -> int:
    return sum(memory_bytes(c["usage"]["memory"]) for c in item["containers"])


@pytest.fixture
def release(tmp_path: Path) -> Iterator[Path]:
    """The file that ends the hogs; made at the end whatever happens, so none is left."""
    path = tmp_path / "release"
    yield path
    path.touch()


def test_pod_metrics_are_those_of_the_pods_process(
    kube: FakeKubeCluster, api: client.ApiClient, release: Path
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", pod("hog", hog(release), {"app": "hog"}))
    core.create_namespaced_pod(
        "default", pod("idle", python("import time; time.sleep(600)"), {"app": "idle"})
    )

    def busy() -> dict[str, Any] | None:
        try:
            item = pod_metrics(api, "hog")
        except ApiException:
            return None  # not running yet
        return item if memory_of(item) >= 64 * MI and cpu_of(item) > 0 else None

    item = wait_for(busy, what="the hog's metrics to show its memory and CPU")
    assert item["kind"] == "PodMetrics"
    assert item["metadata"]["labels"] == {"app": "hog"}
    assert TIMESTAMP.match(item["timestamp"])
    assert re.match(r"^[0-9.]+s$", item["window"])
    assert [c["name"] for c in item["containers"]] == ["main"]
    assert item["containers"][0]["usage"]["cpu"].endswith("n")  # nanocores, as metrics-server
    assert item["containers"][0]["usage"]["memory"].endswith("Ki")
    wait_for(lambda: listed(api, "app") == ["hog", "idle"], what="both pods' metrics")
    assert listed(api, "app=hog") == ["hog"]
    assert listed(api, "app", namespace=None) == ["hog", "idle"]
    assert listed(api, "app", namespace="kube-system") == []


def test_kubectl_top_reads_them(
    kube: FakeKubeCluster, api: client.ApiClient, release: Path, tmp_path: Path
) -> None:
    client.CoreV1Api(api).create_namespaced_pod("default", pod("hog", hog(release), {}))
    wait_for(lambda: listed(api, ""), what="the hog's metrics")
    kubectl = Kubectl(kube.kubeconfig_path, tmp_path / "home")

    def top() -> list[list[str]] | None:
        rows = [line.split() for line in kubectl("top", "pod").stdout.splitlines()]
        return rows if rows[1:] and memory_bytes(rows[1][2]) >= 64 * MI else None

    rows = wait_for(top, what="kubectl top to show the hog's memory")
    assert rows[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert rows[1][0] == "hog"


def test_a_pod_without_a_running_process_has_no_metrics(
    kube: FakeKubeCluster, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", pod("done", python("pass"), {"app": "done"}))
    wait_for(
        lambda: core.read_namespaced_pod("done", "default").status.phase == "Succeeded",
        what="the pod to finish",
    )
    with pytest.raises(ApiException) as raised:
        pod_metrics(api, "done")
    assert raised.value.status == 404
    assert json.loads(raised.value.body)["message"] == 'podmetrics.metrics.k8s.io "done" not found'
    assert listed(api, "app") == []


def test_the_group_is_discovered(api: client.ApiClient) -> None:
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert groups[GROUP].preferred_version.group_version == f"{GROUP}/{VERSION}"
    resources = client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION).resources
    assert [(r.name, r.kind, r.verbs) for r in resources] == [
        ("pods", "PodMetrics", ["get", "list"])
    ]


def test_a_bad_selector_is_a_bad_request(api: client.ApiClient) -> None:
    with pytest.raises(ApiException) as raised:
        listed(api, "app in (")
    assert raised.value.status == 400


def test_a_cluster_can_be_made_without_the_metrics_api(tmp_path: Path) -> None:
    with fake_kube_cluster(tmp_path, metrics_api=False) as kube, kube.api_client() as api:
        names = {g.name for g in client.ApisApi(api).get_api_versions().groups}
        assert GROUP not in names and "apps" in names
        with pytest.raises(ApiException) as raised:
            listed(api, "app")
        assert raised.value.status == 404
