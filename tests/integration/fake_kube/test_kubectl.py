"""The real `kubectl` binary against the fake cluster, with the kubeconfig it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlkube.testing.kube import FakeKubeCluster
from tests.integration.fake_kube.conftest import pids_in, record_pid, wait_for
from tests.integration.kube.test_kubectl import Kubectl

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: main
        image: python:3.11
        command: {command}
"""


@pytest.fixture
def kubectl(kube: FakeKubeCluster, tmp_path: Path) -> Kubectl:
    return Kubectl(kube.kubeconfig_path, tmp_path / "home")


def manifest(replicas: int, command: list[str]) -> str:
    return DEPLOYMENT.format(replicas=replicas, command=json.dumps(command))


def test_apply_creates_then_updates_a_deployment(kubectl: Kubectl, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    assert kubectl.apply(tmp_path, manifest(2, record_pid(pids))) == "deployment.apps/web created"
    wait_for(lambda: len(pids_in(pids)) == 2, what="two processes")
    # The second apply is a strategic merge patch computed by kubectl.
    assert (
        kubectl.apply(tmp_path, manifest(1, record_pid(pids))) == "deployment.apps/web configured"
    )
    wait_for(lambda: len(pids_in(pids)) == 1, what="one process")
    stored = kubectl.json("get", "deployment", "web")
    assert stored["spec"]["replicas"] == 1
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "python:3.11"


def test_get_pods_shows_them_running(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl.apply(tmp_path, manifest(1, record_pid(tmp_path / "pids")))

    def listed() -> str | None:
        out = kubectl("get", "pods").stdout
        return out if "Running" in out and "1/1" in out else None

    header, row = wait_for(listed, what="a running pod").splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.startswith("web-") and row.split()[1:4] == ["1/1", "Running", "0"]
    [pod] = kubectl.json("get", "pods")["items"]
    assert pod["status"]["podIP"] == "127.0.0.1"


def test_apply_refuses_an_unknown_field(kubectl: Kubectl, tmp_path: Path) -> None:
    text = manifest(1, ["true"]).replace("replicas: 1", "replicas: 1\n  surprise: 1")
    (tmp_path / "bad.yaml").write_text(text)
    done = kubectl("apply", "-f", str(tmp_path / "bad.yaml"), check=False)
    assert done.returncode != 0
    assert 'unknown field "spec.surprise"' in done.stderr
    assert kubectl.json("get", "deployments")["items"] == []


def test_logs_and_scale(kubectl: Kubectl, tmp_path: Path, kube: FakeKubeCluster) -> None:
    code = "print('served', flush=True); import time; time.sleep(600)"
    kubectl.apply(tmp_path, manifest(1, ["python", "-c", code]))
    name = wait_for(
        lambda: [p["metadata"]["name"] for p in kubectl.json("get", "pods")["items"]],
        what="a pod",
    )[0]
    wait_for(lambda: kubectl("logs", name, check=False).stdout == "served\n", what="its log")
    assert kubectl("scale", "deployment/web", "--replicas=0").stdout.strip() == (
        "deployment.apps/web scaled"
    )
    wait_for(lambda: kubectl.json("get", "pods")["items"] == [], what="no pods")
