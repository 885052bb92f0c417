"""`mlkube export -f FILE --kubernetes`, through the command's main group as a user types it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner, Result

from mlkube.cli.main import cli

TEAM = """
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: mlkube.io/v1alpha1
kind: ClusterQueue
metadata: {name: team-a-queue}
spec:
  namespaces: [team-a]
  resourceGroups:
  - flavors:
    - name: default
      resources:
      - {name: cpu, nominalQuota: "16"}
      - {name: nvidia.com/gpu, nominalQuota: "4"}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: storage, namespace: team-a}
spec: {hard: {requests.storage: 100Gi}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-edit, namespace: team-a}
roleRef: {name: edit}
subjects: [{kind: User, name: alice}]
"""

WORK = """
apiVersion: mlkube.io/v1alpha1
kind: Pipeline
metadata: {name: hello, namespace: team-a}
spec:
  params: [{name: who, default: world}]
  steps:
  - name: greet
    command: [sh, -c, 'echo "{{inputs.who}}" > $MLKUBE_OUTPUTS_DIR/output']
    inputs: [{name: who, param: who}]
  - name: shout
    python: {module: mlkube.testing.steps, function: echo}
    inputs: [{name: value, fromStep: greet}]
    resources: {cpu: "1", memory: 1Gi, nvidia.com/gpu: 1, gpuModel: A100}
---
apiVersion: mlkube.io/v1alpha1
kind: PipelineRun
metadata: {name: hello-1, namespace: team-a}
spec:
  pipelineRef: {name: hello}
  params: [{name: who, value: mlkube}]
---
apiVersion: mlkube.io/v1alpha1
kind: TrainingJob
metadata: {name: ddp, namespace: team-a}
spec:
  workers: 2
  command: [python, train.py]
---
apiVersion: mlkube.io/v1alpha1
kind: InferenceService
metadata: {name: digits, namespace: team-a}
spec:
  predictor:
    model: {modelFormat: {name: sklearn}, storageUri: pipelinerun://hello-1/shout/output}
    minReplicas: 0
    maxReplicas: 3
"""

STORE = ["--artifact-store", "s3://ml/team-a"]


def export(tmp_path: Path, text: str, *args: str) -> Result:
    manifest = tmp_path / "work.yaml"
    manifest.write_text(text)
    return CliRunner().invoke(cli, ["export", "-f", str(manifest), *args])


def docs(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return list(yaml.safe_load_all(result.stdout))


def test_prints_what_every_resource_becomes(tmp_path: Path) -> None:
    result = export(tmp_path, TEAM + "---" + WORK, "--kubernetes", *STORE)
    objs = docs(result)
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("Namespace", "team-a"),
        ("ResourceQuota", "mlkube-queues"),
        ("ResourceQuota", "storage"),
        ("RoleBinding", "alice-edit"),
        ("Job", "hello-1-greet-1"),
        ("Job", "hello-1-shout-1"),
        ("Service", "ddp"),
        ("Job", "ddp-s0"),
        ("Deployment", "digits-predictor-00001"),
        ("Service", "digits"),
        ("HorizontalPodAutoscaler", "digits-predictor-00001"),
    ]
    assert result.stdout.startswith("# What mlkube's operator would create")
    assert "ClusterQueue team-a-queue: nothing to build" in result.stderr
    assert "Pipeline hello: nothing to build" in result.stderr
    for obj in objs:
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def test_step_inputs_are_resolved_from_params_and_left_as_references_to_steps(
    tmp_path: Path,
) -> None:
    jobs = [o for o in docs(export(tmp_path, WORK, "--kubernetes", *STORE)) if o["kind"] == "Job"]
    invocations = {}
    for job in jobs[:2]:
        env = {
            e["name"]: e.get("value")
            for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        invocations[env["MLKUBE_STEP"]] = yaml.safe_load(env["MLKUBE_INVOCATION"])
    assert invocations["greet"]["inputs"] == {"who": {"value": "mlkube"}}
    assert invocations["shout"]["inputs"] == {"value": {"fromStep": "greet", "output": "output"}}


def test_options_reach_the_objects(tmp_path: Path) -> None:
    args = ["--kubernetes", *STORE, "--image", "registry.example/ml:2", "--vpa", "--no-suspend"]
    args += ["--gpu-product", "A100=NVIDIA-A100-SXM4-80GB"]
    objs = docs(export(tmp_path, WORK, *args))
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    shout = by_name[("Job", "hello-1-shout-1")]["spec"]["template"]["spec"]
    assert shout["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert shout["containers"][0]["image"] == "registry.example/ml:2"
    assert by_name[("Job", "ddp-s0")]["spec"]["suspend"] is False
    assert ("VerticalPodAutoscaler", "digits-predictor-00001") in by_name


def test_a_binding_without_its_namespace_in_the_files_is_printed_alone(tmp_path: Path) -> None:
    binding = TEAM.split("---")[-1]
    objs = docs(export(tmp_path, binding, "--kubernetes"))
    assert [o["kind"] for o in objs] == ["RoleBinding"]


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (WORK, [], "--artifact-store"),
        (
            WORK.replace("nvidia.com/gpu: 1, gpuModel: A100", "amd.com/gpu: 0.5"),
            STORE,
            "PipelineRun 'hello-1': step 'shout': resources.amd.com/gpu: a share of an AMD GPU",
        ),
        (WORK.split("---")[1], STORE, "spec.pipelineRef: pipeline 'hello' is not in the files"),
        (
            TEAM.replace("roleRef: {name: edit}", "roleRef: {name: owner}"),
            [],
            "unknown role 'owner'",
        ),
        (WORK.replace("workers: 2", "workers: 2\n  gpus: 1"), STORE, "spec.gpus"),
        ("kind: Widget\napiVersion: v9\n", [], 'no matches for kind "Widget"'),
    ],
)
def test_bad_input_is_an_error_naming_the_field_and_prints_nothing(
    tmp_path: Path, text: str, args: list[str], message: str
) -> None:
    result = export(tmp_path, text, "--kubernetes", *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_without_kubernetes_is_a_usage_error(tmp_path: Path) -> None:
    result = export(tmp_path, WORK)
    assert result.exit_code == 2
    assert "--kubernetes" in result.stderr


def test_a_bad_gpu_product_option_is_a_usage_error(tmp_path: Path) -> None:
    result = export(tmp_path, WORK, "--kubernetes", "--gpu-product", "A100")
    assert result.exit_code == 2
    assert "MODEL=NAME" in result.stderr
