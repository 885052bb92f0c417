"""The CLI against a cluster through its kubeconfig, as kubectl would: `mlkube apply` and
`mlkube get` with `--kubeconfig` (and `--context`) against the fake cluster, the operator
running the pipeline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster
from tests.integration.operator.test_operator import MLKUBE, TEAM
from tests.integration.platform.conftest import wait_for

PIPELINE_RUN = f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {TEAM}
---
apiVersion: mlkube.io/v1alpha1
kind: PipelineRun
metadata:
  name: hello
  namespace: {TEAM}
spec:
  cache: false
  pipelineSpec:
    steps:
      - name: hi
        command: ["sh", "-c", "echo 1 > $MLKUBE_OUTPUTS_DIR/output"]
"""


def mlkube(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    # A HOME and MLKUBE_HOME with no config: only the flags choose the cluster.
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([MLKUBE, *args], capture_output=True, text=True, env=env, timeout=60)


def test_apply_and_get_a_pipeline_run_through_the_cluster_kubeconfig(
    kube: FakeKubeCluster, operator: OperatorPlatform, tmp_path: Path
) -> None:
    manifest = tmp_path / "pipeline.yaml"
    manifest.write_text(PIPELINE_RUN)
    kubeconfig = str(kube.kubeconfig_path)
    applied = mlkube("apply", "-f", str(manifest), "--kubeconfig", kubeconfig, home=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "pipelinerun.mlkube.io/hello created" in applied.stdout

    def phase() -> str | None:
        got = mlkube(
            "get",
            "pipelineruns",
            "hello",
            "-n",
            TEAM,
            "--kubeconfig",
            kubeconfig,
            "-o",
            "yaml",
            home=tmp_path,
        )
        assert got.returncode == 0, got.stderr
        status = yaml.safe_load(got.stdout).get("status") or {}
        return status.get("phase") if status.get("phase") in ("Succeeded", "Failed") else None

    assert wait_for(phase, timeout=90, what="the run to finish") == "Succeeded"
    table = mlkube(
        "get",
        "pipelineruns",
        "-n",
        TEAM,
        "--kubeconfig",
        kubeconfig,
        "--context",
        "fake",
        home=tmp_path,
    )
    assert table.returncode == 0, table.stderr
    assert [line.split()[:2] for line in table.stdout.splitlines()[1:]] == [["hello", "Succeeded"]]
    described = mlkube(
        "describe", "pipelinerun", "hello", "-n", TEAM, "--kubeconfig", kubeconfig, home=tmp_path
    )
    assert described.returncode == 0, described.stderr
    assert "Phase:     Succeeded" in described.stdout
    # No `log` subresource on a cluster: the log is read from the step's pod, kept while
    # its run exists (more in test_cluster_logs.py).
    logs = mlkube(
        "logs", "hello", "--step", "hi", "-n", TEAM, "--kubeconfig", kubeconfig, home=tmp_path
    )
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "", "")  # the step prints nothing


def test_a_context_the_kubeconfig_lacks_is_a_clear_error(
    kube: FakeKubeCluster, tmp_path: Path
) -> None:
    got = mlkube(
        "get",
        "pipelineruns",
        "--kubeconfig",
        str(kube.kubeconfig_path),
        "--context",
        "prod",
        home=tmp_path,
    )
    assert got.returncode == 1
    assert "no context 'prod' (contexts: fake)" in got.stderr
