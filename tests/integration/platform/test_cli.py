"""The `mlkube` command against a running `mlkube up`, as a user types it."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import yaml

from tests.integration.platform.conftest import UpProcess, wait_for

PIPELINE_YAML = """
apiVersion: mlkube.io/v1alpha1
kind: Pipeline
metadata:
  name: hello
  labels: {team: ml}
spec:
  params:
  - name: who
    default: world
  steps:
  - name: greet
    command:
    - sh
    - -c
    - 'echo "hello {{inputs.who}}"; echo "\\"{{inputs.who}}\\"" > $MLKUBE_OUTPUTS_DIR/output'
    inputs:
    - {name: who, param: who}
  - name: shout
    python: {module: mlkube.testing.steps, function: echo}
    inputs:
    - {name: value, fromStep: greet}
"""

RUN_YAML = """
apiVersion: mlkube.io/v1alpha1
kind: PipelineRun
metadata:
  name: hello-1
spec:
  pipelineRef: {name: hello}
  params:
  - {name: who, value: mlkube}
"""

SDK_PIPELINE = """
from mlkube.sdk import pipeline, step


@step(cpu="1")
def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@step
def total(a: int, b: int) -> int:
    return a + b


@pipeline(name="squares")
def squares(x: int = 3, y: int = 4) -> int:
    return total(a=square(x=x), b=square(x=y))
"""


def test_config_is_private_and_up_prints_where(up: UpProcess) -> None:
    config = up.home / "config"
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    log = (up.home / "up.log").read_text()
    assert "mlkube is up at https://127.0.0.1:" in log
    assert str(config) in log
    nodes = up.cli("get", "nodes").stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "CPU", "MEMORY", "GPUS", "RUNNING/WAITING", "AGE"]
    assert nodes[1].split()[1:3] == ["Ready", f"0/{len(os.sched_getaffinity(0))}"]


def test_apply_get_describe_logs_delete(up: UpProcess, tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE_YAML)
    (tmp_path / "run.yaml").write_text(RUN_YAML)
    assert up.cli("create", "namespace", "team-a").stdout == "namespace/team-a created\n"
    applied = up.cli("apply", "-f", str(tmp_path / "pipeline.yaml"), "-n", "team-a")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout == "pipeline.mlkube.io/hello created\n"
    again = up.cli("apply", "-f", str(tmp_path / "pipeline.yaml"), "-n", "team-a")
    assert again.stdout == "pipeline.mlkube.io/hello unchanged\n"
    assert up.cli("apply", "-f", str(tmp_path / "run.yaml"), "-n", "team-a").returncode == 0

    def finished() -> bool:
        out = up.cli("get", "pipelinerun", "hello-1", "-n", "team-a", "-o", "json").stdout
        return json.loads(out)["status"].get("phase") == "Succeeded"

    wait_for(finished, what="hello-1 to succeed")
    table = up.cli("get", "pipelineruns", "-n", "team-a").stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "STEPS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["hello-1", "Succeeded", "2/2"]
    listed = up.cli("get", "pipelines", "-A", "-l", "team=ml").stdout
    assert "team-a" in listed and "hello" in listed
    assert up.cli("get", "pipelines", "-l", "team=vision", "-n", "team-a").stderr.startswith(
        "No resources found"
    )
    described = up.cli("describe", "pipelinerun", "hello-1", "-n", "team-a").stdout
    assert "Phase:" in described and "Succeeded" in described and "shout" in described
    logs = up.cli("logs", "hello-1", "--step", "greet", "-n", "team-a")
    assert logs.stdout == "hello mlkube\n"
    as_yaml = yaml.safe_load(up.cli("get", "pr", "hello-1", "-n", "team-a", "-o", "yaml").stdout)
    shout = next(s for s in as_yaml["status"]["steps"] if s["name"] == "shout")
    assert shout["outputs"][0]["value"] == "mlkube"
    for fmt, load in (("yaml", yaml.safe_load), ("json", json.loads)):
        listed_runs = load(up.cli("get", "pr", "-n", "team-a", "-o", fmt).stdout)
        assert listed_runs["kind"] == "List"
        assert [i["metadata"]["name"] for i in listed_runs["items"]] == ["hello-1"]
    deleted = up.cli("delete", "pipelinerun", "hello-1", "-n", "team-a")
    assert deleted.stdout == "pipelinerun.mlkube.io/hello-1 deleted\n"

    def gone() -> bool:
        return up.cli("get", "pr", "hello-1", "-n", "team-a").returncode == 1

    wait_for(gone, what="hello-1 to be removed")


def test_errors_are_clear_and_exit_1(up: UpProcess, tmp_path: Path) -> None:
    missing = up.cli("get", "pipelinerun", "ghost")
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        'Error from server (NotFound): pipelineruns.mlkube.io "ghost" not found',
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        PIPELINE_YAML.replace("default: world", "default: world\n    colour: blue").replace(
            "name: greet", "name: greet\n    resources: {cpu: 2Gx}"
        )
    )
    result = up.cli("apply", "-f", str(bad))
    assert result.returncode == 1
    assert "Error from server (Invalid)" in result.stderr
    assert "spec.params[0].colour: unknown field" in result.stderr
    assert "spec.steps[0].resources.cpu: quantity '2Gx' must match" in result.stderr
    assert up.cli("get", "pipelines").stderr.startswith("No resources found")
    unknown = up.cli("get", "widgets")
    assert unknown.returncode == 1 and 'resource type "widgets"' in unknown.stderr
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {}\n")
    refused = up.cli("delete", "-f", str(nameless))
    assert refused.returncode == 2
    assert "a Namespace without metadata.name names nothing" in refused.stderr


def test_run_a_python_pipeline_and_compile_it(up: UpProcess, tmp_path: Path) -> None:
    source = tmp_path / "squares.py"
    source.write_text(SDK_PIPELINE)
    result = up.cli("run", str(source), "-p", "x=5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Succeeded" in result.stdout
    assert "output: 41" in result.stdout  # 5*5 + 4*4
    manifest = yaml.safe_load(up.cli("compile", str(source)).stdout)
    assert manifest["kind"] == "Pipeline"
    assert [s["name"] for s in manifest["spec"]["steps"]] == ["square", "square-2", "total"]
    # The compiled manifest is a real Pipeline: apply it and run it by reference.
    assert up.cli("compile", str(source), "-o", str(tmp_path / "squares.yaml")).returncode == 0
    assert up.cli("apply", "-f", str(tmp_path / "squares.yaml")).returncode == 0
    by_ref = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": "squares-by-ref"},
        "spec": {"pipelineRef": {"name": "squares"}, "params": [{"name": "y", "value": 10}]},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(by_ref))
    assert up.cli("apply", "-f", str(tmp_path / "run.yaml")).returncode == 0

    def outputs() -> list[dict[str, object]]:
        got = json.loads(up.cli("get", "pr", "squares-by-ref", "-o", "json").stdout)
        return got.get("status", {}).get("outputs") or []

    assert wait_for(outputs, what="the run by reference")[0]["value"] == 109  # 3*3 + 10*10
    charged = up.cli("usage", "-A").stdout.splitlines()
    assert charged[0].split() == [
        "NAMESPACE",
        "USER",
        "RUNS",
        "STEPS",
        "CPU-HOURS",
        "GPU-HOURS",
        "STORAGE",
    ]
    assert charged[1].split()[:4] == ["default", "admin", "2", "6"]
    failing = tmp_path / "failing.py"
    failing.write_text(
        textwrap.dedent("""
        from mlkube.sdk import pipeline, step

        @step
        def explode() -> None:
            raise ValueError("bad input data")

        @pipeline
        def doomed() -> None:
            explode()
    """)
    )
    failed = up.cli("run", str(failing))
    assert failed.returncode == 1
    assert "ValueError: bad input data" in failed.stdout


def test_logs_follow_streams_until_the_step_ends(up: UpProcess, tmp_path: Path) -> None:
    script = "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done"
    run = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": "chatty"},
        "spec": {"pipelineSpec": {"steps": [{"name": "talk", "command": ["sh", "-c", script]}]}},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    assert up.cli("apply", "-f", str(tmp_path / "run.yaml")).returncode == 0

    def started() -> bool:
        out = up.cli("get", "pr", "chatty", "-o", "json").stdout
        steps = json.loads(out).get("status", {}).get("steps", [])
        return bool(steps) and steps[0]["phase"] in ("Running", "Succeeded")

    wait_for(started, what="the step to start")
    followed = up.cli("logs", "chatty", "--step", "talk", "-f")
    assert followed.returncode == 0
    assert followed.stdout.splitlines() == [f"line {i}" for i in range(1, 6)]


def test_tokens_and_role_bindings_from_the_cli(up: UpProcess, tmp_path: Path) -> None:
    assert up.cli("create", "namespace", "team-a").returncode == 0
    assert up.cli("create", "namespace", "team-b").returncode == 0
    granted = up.cli(
        "create",
        "rolebinding",
        "alice-edit",
        "--clusterrole",
        "edit",
        "--user",
        "alice",
        "-n",
        "team-a",
    )
    assert granted.stdout == "rolebinding.rbac.authorization.k8s.io/alice-edit created\n"
    alice_config = tmp_path / "alice.config"
    minted = up.cli("token", "create", "alice", "--write-config", str(alice_config), "-n", "team-a")
    assert minted.returncode == 0, minted.stderr
    assert stat.S_IMODE(os.stat(alice_config).st_mode) == 0o600
    as_alice = ["--config", str(alice_config)]
    assert up.cli("get", "pipelineruns", *as_alice).stderr.startswith("No resources found")
    refused = up.cli("get", "pipelineruns", "-n", "team-b", *as_alice)
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "Error from server (Forbidden): pipelineruns.mlkube.io is forbidden"
    )
    bad_role = up.cli("create", "rolebinding", "x", "--clusterrole", "root", "--user", "eve")
    assert bad_role.returncode == 1 and "unknown role 'root'" in bad_role.stderr
