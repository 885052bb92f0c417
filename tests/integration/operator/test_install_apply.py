"""`mlkube install --kubernetes --apply` against the fake cluster: the real command, its
kubeconfig, and the objects read back through the official client."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kubernetes import client

from mlkube.install import install_manifests
from mlkube.testing.kube import FakeKubeCluster
from tests.integration.operator.test_operator import MLKUBE


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLKUBE, "install", "--kubernetes", "--apply", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def line_of(obj: dict[str, object]) -> str:
    """kubectl's name for an object: `kind.group/name` (no group for the core API)."""
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"]).lower()
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    name = obj["metadata"]["name"]  # type: ignore[index]
    return f"{kind}.{group}/{name}" if group else f"{kind}/{name}"


def test_apply_creates_then_leaves_unchanged_then_configures(
    kube: FakeKubeCluster, api: client.ApiClient
) -> None:
    config = str(kube.kubeconfig_path)
    objs = install_manifests(image="mlkube-operator:1")
    names = [line_of(o) for o in objs]

    first = install("--kubeconfig", config, "--image", "mlkube-operator:1")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"{n} created" for n in names]
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    assert {c.metadata.name for c in crds} == {
        o["metadata"]["name"] for o in objs if o["kind"] == "CustomResourceDefinition"
    }
    assert all(
        any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
        for crd in crds
    )

    again = install("--kubeconfig", config, "--image", "mlkube-operator:1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [f"{n} unchanged" for n in names]

    changed = install("--kubeconfig", config, "--image", "mlkube-operator:2")
    assert changed.returncode == 0, changed.stderr
    (deployment,) = [o for o in objs if o["kind"] == "Deployment"]
    configured = line_of(deployment)
    assert changed.stdout.splitlines() == [
        f"{n} {'configured' if n == configured else 'unchanged'}" for n in names
    ]
    meta = deployment["metadata"]
    stored = client.AppsV1Api(api).read_namespaced_deployment(meta["name"], meta["namespace"])
    assert stored.spec.template.spec.containers[0].image == "mlkube-operator:2"


def test_a_bad_kubeconfig_is_a_clear_error_and_exit_2(tmp_path: Path) -> None:
    missing = install("--kubeconfig", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr == f"error: cannot use {tmp_path / 'nope'}: no such file\n"
    assert missing.stdout == ""

    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    answer = install("--kubeconfig", str(broken))
    assert answer.returncode == 2
    assert answer.stderr.startswith(f"error: cannot use {broken}:"), answer.stderr


def test_an_unknown_context_is_a_clear_error_and_exit_2(kube: FakeKubeCluster) -> None:
    answer = install("--kubeconfig", str(kube.kubeconfig_path), "--context", "staging")
    assert answer.returncode == 2
    assert "staging" in answer.stderr, answer.stderr
