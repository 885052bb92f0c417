"""The fake Deployment controller: `/scale` decides how many real processes run."""

from __future__ import annotations

import socket
from pathlib import Path

from kubernetes import client

from mlkube.testing.kube import FakeKubeCluster
from tests.integration.fake_kube.conftest import container, pids_in, python, record_pid, wait_for

NS = "default"


def deployment(
    name: str, command: list[str], replicas: int, **container_extra: object
) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container(command, **container_extra)]},
            },
        },
    }


def running(core: client.CoreV1Api, app: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(NS, label_selector=f"app={app}").items
    return [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def test_scaling_through_the_scale_subresource_starts_and_stops_processes(
    api: client.ApiClient, tmp_path: Path
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    pids = tmp_path / "pids"
    apps.create_namespaced_deployment(NS, deployment("web", record_pid(pids), 1))
    wait_for(lambda: len(pids_in(pids)) == 1, what="one process")
    wait_for(
        lambda: apps.read_namespaced_deployment("web", NS).status.ready_replicas == 1, what="ready"
    )

    scale = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3 and scale.status.selector == "app=web"
    wait_for(lambda: len(pids_in(pids)) == 3, what="three processes")
    wait_for(lambda: len(running(core, "web")) == 3, what="three running pods")
    status = wait_for(
        lambda: (
            (s := apps.read_namespaced_deployment("web", NS).status).available_replicas == 3 and s
        ),
        what="three available replicas",
    )
    assert (status.replicas, status.ready_replicas) == (3, 3)

    body = client.V1Scale(
        metadata=client.V1ObjectMeta(name="web"), spec=client.V1ScaleSpec(replicas=0)
    )
    apps.replace_namespaced_deployment_scale("web", NS, body)
    wait_for(lambda: pids_in(pids) == [], what="every process to stop")
    wait_for(
        lambda: core.list_namespaced_pod(NS, label_selector="app=web").items == [], what="no pods"
    )
    assert apps.read_namespaced_deployment_scale("web", NS).spec.replicas == 0


def test_a_pod_is_ready_once_its_readiness_probe_answers(
    api: client.ApiClient, kube: FakeKubeCluster
) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The server comes up a second after the process starts: Running first, Ready later.
    code = (
        "import http.server as h, time; time.sleep(1); "
        f"h.HTTPServer(('127.0.0.1', {port}), h.SimpleHTTPRequestHandler).serve_forever()"
    )
    probe = {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}
    ports = [{"name": "http", "containerPort": port}]
    apps.create_namespaced_deployment(
        NS, deployment("probed", python(code), 1, readinessProbe=probe, ports=ports)
    )
    [pod] = wait_for(lambda: running(core, "probed"), what="a running pod")
    ready = {c.type: c.status for c in pod.status.conditions}
    assert ready["Ready"] == "False" and pod.status.pod_ip == "127.0.0.1"
    wait_for(
        lambda: apps.read_namespaced_deployment("probed", NS).status.ready_replicas == 1,
        what="ready",
    )
    [pod] = running(core, "probed")
    assert pod.status.container_statuses[0].ready is True


def test_a_template_change_replaces_the_pods(api: client.ApiClient, tmp_path: Path) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(NS, deployment("roll", record_pid(tmp_path / "v1"), 2))
    wait_for(lambda: len(pids_in(tmp_path / "v1")) == 2, what="two v1 processes")
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "main", "command": record_pid(tmp_path / "v2")}]}
            }
        }
    }
    apps.patch_namespaced_deployment("roll", NS, patch)  # strategic: merged by container name
    wait_for(lambda: len(pids_in(tmp_path / "v2")) == 2, what="two v2 processes")
    wait_for(lambda: pids_in(tmp_path / "v1") == [], what="the v1 processes to stop")
    [image] = {
        p.spec.containers[0].image
        for p in core.list_namespaced_pod(NS, label_selector="app=roll").items
    }
    assert image == "python:3.11"  # kept by the strategic merge, not replaced with the list
