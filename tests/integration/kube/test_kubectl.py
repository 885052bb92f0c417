"""The real `kubectl` binary against `mlkube up`, with the kubeconfig `mlkube up` wrote.

kubectl sends a kubeconfig's token only over TLS, which is one reason `mlkube up` serves HTTPS
with its own CA (written into the kubeconfig as `certificate-authority-data`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.platform.conftest import UpProcess

PIPELINE = """\
apiVersion: mlkube.io/v1alpha1
kind: Pipeline
metadata:
  name: hello
  namespace: team-a
spec:
  description: {description}
  steps:
  - name: say
    command: ["true"]
"""
RUN = """\
apiVersion: mlkube.io/v1alpha1
kind: PipelineRun
metadata:
  name: hello-1
  namespace: team-a
  labels: {{app: {app}}}
spec:
  pipelineRef: {{name: hello}}
"""


class Kubectl:
    """Runs `kubectl --kubeconfig FILE ...` with its own HOME (so its discovery cache too)."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        binary = shutil.which("kubectl")
        if binary is None:
            raise AssertionError(
                "kubectl is not installed: run `make install` (or `apt-get install kubectl`)"
            )
        self.binary, self.kubeconfig, self.home = binary, kubeconfig, home

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"HOME": str(self.home), "PATH": "/usr/bin:/bin"},
        )
        if check:
            assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done

    def apply(self, folder: Path, text: str) -> str:
        manifest = folder / "manifest.yaml"
        manifest.write_text(text)
        return self("apply", "-f", str(manifest)).stdout.strip()

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture
def kubectl(up: UpProcess, tmp_path: Path) -> Kubectl:
    """kubectl with exactly the kubeconfig `mlkube up` wrote: HTTPS, its CA, its token."""
    return Kubectl(up.home / "config", tmp_path)


def test_namespaces(kubectl: Kubectl) -> None:
    assert kubectl("create", "namespace", "team-a").stdout.strip() == "namespace/team-a created"
    lines = kubectl("get", "namespaces").stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]  # the server prints the columns
    assert lines[1].split()[1] == "Active"
    assert sorted(line.split()[0] for line in lines[1:]) == ["default", "team-a"]


def test_apply_get_describe_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("create", "namespace", "team-a")
    assert kubectl.apply(tmp_path, PIPELINE.format(description="first")) == (
        "pipeline.mlkube.io/hello created"
    )
    # Applied again unchanged: the merge patch leaves the spec as it was (no new generation).
    kubectl.apply(tmp_path, PIPELINE.format(description="first"))
    assert kubectl.json("get", "pipeline", "hello", "-n", "team-a")["metadata"]["generation"] == 1
    assert kubectl.apply(tmp_path, PIPELINE.format(description="second")) == (
        "pipeline.mlkube.io/hello configured"
    )
    stored = kubectl.json("get", "pipeline", "hello", "-n", "team-a")
    assert stored["spec"]["description"] == "second"
    assert stored["metadata"]["generation"] == 2

    assert kubectl.apply(tmp_path, RUN.format(app="a")) == "pipelinerun.mlkube.io/hello-1 created"
    assert kubectl.apply(tmp_path, RUN.format(app="b")) == (
        "pipelinerun.mlkube.io/hello-1 configured"
    )
    listed = kubectl.json("get", "pipelineruns", "-n", "team-a")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["hello-1"]
    assert listed["items"][0]["metadata"]["labels"] == {"app": "b"}
    short = kubectl("get", "pr", "-n", "team-a").stdout.splitlines()
    assert short[0].split()[0] == "NAME" and short[1].split()[0] == "hello-1"
    described = kubectl("describe", "pipelinerun", "hello-1", "-n", "team-a").stdout
    assert "Name:         hello-1" in described and "Kind:         PipelineRun" in described

    category = kubectl("get", "mlkube", "-n", "team-a").stdout
    assert "pipeline.mlkube.io/hello" in category and "pipelinerun.mlkube.io/hello-1" in category
    assert "rolebinding" not in category

    deleted = kubectl("delete", "-f", str(tmp_path / "manifest.yaml")).stdout.strip()
    assert deleted == 'pipelinerun.mlkube.io "hello-1" deleted'
    assert kubectl.json("get", "pipelineruns", "-n", "team-a")["items"] == []


def test_get_prints_the_columns_mlkube_get_prints(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("create", "namespace", "team-a")
    kubectl.apply(tmp_path, PIPELINE.format(description="x"))
    kubectl.apply(tmp_path, RUN.format(app="a"))
    lines = kubectl("get", "pipelineruns", "-A", "--show-labels").stdout.splitlines()
    header = ["NAMESPACE", "NAME", "PHASE", "STEPS", "DURATION", "AGE", "LABELS"]
    assert lines[0].split() == header
    cells = lines[1].split()
    assert (cells[0], cells[1], cells[-1]) == ("team-a", "hello-1", "app=a")
    one = kubectl("get", "pr", "hello-1", "-n", "team-a").stdout.splitlines()
    assert one[0].split() == ["NAME", "PHASE", "STEPS", "DURATION", "AGE"]
    assert kubectl("get", "pipelines", "-n", "team-a").stdout.split()[:3] == [
        "NAME",
        "STEPS",
        "AGE",
    ]
    nodes = kubectl("get", "nodes").stdout.splitlines()
    assert nodes[0].split()[:4] == ["NAME", "STATUS", "CPU", "MEMORY"]
    assert nodes[1].split()[1] == "Ready"


def test_apply_namespace_uses_strategic_merge_patch(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n  labels: {{a: '{}'}}\n"
    assert kubectl.apply(tmp_path, manifest.format(1)) == "namespace/team-b created"
    assert kubectl.apply(tmp_path, manifest.format(2)) == "namespace/team-b configured"
    assert kubectl.json("get", "namespace", "team-b")["metadata"]["labels"] == {"a": "2"}


def test_apply_refuses_unknown_fields_on_the_server(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(PIPELINE.format(description="x").replace("namespace: team-a", "nmspace: x"))
    done = kubectl("apply", "-f", str(manifest), check=False)
    assert done.returncode != 0
    assert "nmspace" in done.stderr


def test_api_resources(kubectl: Kubectl) -> None:
    rows = {line.split()[0]: line.split() for line in kubectl("api-resources").stdout.splitlines()}
    assert rows["pipelineruns"][1:] == ["pr,plr", "mlkube.io/v1alpha1", "true", "PipelineRun"]
    assert rows["namespaces"][1:] == ["ns", "v1", "false", "Namespace"]
