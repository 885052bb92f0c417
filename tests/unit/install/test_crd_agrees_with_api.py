"""The CRD schemas accept what the embedded API accepts and refuse what it refuses.

Both sides see the same objects: `mlkube.api.kinds.validate` (the API) and Draft 4 JSON Schema
over the generated `openAPIV3Schema` (what the apiserver checks). Where they differ on purpose,
a test below names the difference.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mlkube.api.errors import Invalid
from mlkube.api.kinds import KINDS, PIPELINE_RUN, Kind, by_api_version_kind, validate
from mlkube.api.meta import API_GROUP, Condition
from mlkube.api.pipelinerun import (
    ArtifactRef,
    OutputValue,
    PipelineRunStatus,
    Placement,
    StepStatus,
    StepUsage,
)
from mlkube.install.crds import crd_schema
from tests.unit.install.structural import as_jsonschema

EXAMPLES = sorted((Path(__file__).parents[3] / "examples").rglob("*.yaml"))


def _crd_accepts(obj: dict[str, Any], *, strict: bool = True) -> bool:
    kind = by_api_version_kind(obj["apiVersion"], obj["kind"])
    schema = as_jsonschema(crd_schema(kind), strict=strict)
    return jsonschema.Draft4Validator(schema).is_valid(obj)


def _api_accepts(obj: dict[str, Any]) -> bool:
    try:
        validate(by_api_version_kind(obj["apiVersion"], obj["kind"]), obj)
    except Invalid:
        return False
    return True


def _ours(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["apiVersion"].startswith(f"{API_GROUP}/")]


def _step(**extra: Any) -> dict[str, Any]:
    return {"name": "train", "python": {"module": "train.py", "function": "main"}, **extra}


def _pipeline(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "p", "namespace": "ml-team"},
        "spec": {"steps": [_step()], **spec},
    }


def _run(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": "r", "namespace": "ml-team", "labels": {"team": "ml"}},
        "spec": spec or {"pipelineRef": {"name": "p"}},
    }


FULL_STEP = _step(
    args=["--epochs", "3"],
    env=[{"name": "SEED", "value": "1"}],
    inputs=[
        {"name": "data", "fromStep": "prepare", "output": "dataset"},
        {"name": "lr", "param": "lr"},
        {"name": "config", "value": {"layers": [64, 32], "dropout": 0.1}},
    ],
    outputs=["model", "metrics"],
    dependsOn=["prepare"],
    resources={"cpu": 2, "memory": "4Gi", "nvidia.com/gpu": 1, "gpuModel": "H100"},
    retries={"limit": 3, "backoffSeconds": 0.5, "backoffFactor": 2, "maxBackoffSeconds": 60},
    timeoutSeconds=3600,
    cache=False,
    isolation="process",
    workingDir="/work",
)
PREPARE = {"name": "prepare", "command": ["python", "prep.py"], "outputs": ["dataset"]}
INLINE = {
    "params": [{"name": "lr", "default": 0.01, "description": "learning rate"}, {"name": "n"}],
    "steps": [PREPARE, FULL_STEP],
    "outputs": [{"name": "model", "fromStep": "train", "output": "model"}],
    "description": "train a model",
}


def _run_with_status() -> dict[str, Any]:
    obj = _run(pipelineSpec=INLINE, params=[{"name": "n", "value": [1, 2]}], cache=False)
    now = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    status = PipelineRunStatus(
        phase="Running",
        conditions=[Condition(type="Admitted", status="True", last_transition_time=now)],
        start_time=now,
        priority=100,
        queue="team-a",
        steps=[
            StepStatus(
                name="prepare",
                phase="Succeeded",
                attempts=1,
                exit_code=0,
                start_time=now,
                finish_time=now,
                outputs=[
                    OutputValue(name="summary", value={"rows": 1797}),
                    OutputValue(
                        name="dataset",
                        artifact=ArtifactRef(uri="file:///a", digest="sha256:ab", size=10),
                    ),
                ],
                usage=StepUsage(cpu_cores_avg=0.5, memory_bytes_max=1 << 20, samples=3),
                placement=Placement(node="local", cpus=[0, 1], cpu_millis=2000),
            )
        ],
    )
    obj["status"] = status.to_dict()
    return obj


VALID = [
    _pipeline(),
    _pipeline(**INLINE),
    _run(),
    _run(pipelineRef={"name": "p"}, params=[{"name": "lr", "value": 0.1}], priorityClassName="x"),
    _run(pipelineSpec=INLINE, params=[{"name": "n", "value": {"a": None}}]),
    _run_with_status(),
    {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "ResourceFlavor",
        "metadata": {"name": "h100"},
        "spec": {"gpuModel": "H100"},
    },
]
EXAMPLE_DOCS = [d for p in EXAMPLES for d in _ours(list(yaml.safe_load_all(p.read_text())))]
QUEUE_DOC = next(d for d in reversed(EXAMPLE_DOCS) if d["kind"] == "ClusterQueue")


def _with(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `obj` with the dotted `path` (list indices as numbers) set to `value`."""
    obj = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node: Any = obj
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return obj


BOTH_REFUSE = {
    "no steps": _with(_pipeline(), "spec.steps", []),
    "steps missing": {**_pipeline(), "spec": {"description": "x"}},
    "bad isolation": _with(_pipeline(), "spec.steps.0.isolation", "thread"),
    "negative retries": _with(_pipeline(), "spec.steps.0.retries", {"limit": -1}),
    "too many retries": _with(_pipeline(), "spec.steps.0.retries", {"limit": 101}),
    "zero timeout": _with(_pipeline(), "spec.steps.0.timeoutSeconds", 0),
    "bad env name": _with(_pipeline(), "spec.steps.0.env", [{"name": "1X"}]),
    "step name too long": _with(_pipeline(), "spec.steps.0.name", "s" * 64),
    "negative gpus": _with(_pipeline(), "spec.steps.0.resources", {"nvidia.com/gpu": -1}),
    "bad quantity": _with(_pipeline(), "spec.steps.0.resources", {"memory": "lots"}),
    "bad param name": _with(_pipeline(), "spec.params", [{"name": "a-b"}]),
    "args not strings": _with(_pipeline(), "spec.steps.0.args", [{"a": 1}]),
    "run param without name": _run(pipelineRef={"name": "p"}, params=[{"value": 1}]),
    "empty ref name": _run(pipelineRef={"name": ""}),
    "unknown spec field": _with(_run(), "spec.pipelinRef", {"name": "p"}),
    "unknown step field": _with(_pipeline(), "spec.steps.0.retry", 3),
    "bad run phase": {**_run(), "status": {"phase": "Done"}},
    "bad queue resource": _with(
        QUEUE_DOC, "spec.resourceGroups.0.flavors.0.resources.0.name", "tpu"
    ),
    "no namespaces": _with(QUEUE_DOC, "spec.namespaces", []),
    "bad strategy": _with(QUEUE_DOC, "spec.queueingStrategy", "LIFO"),
}


def test_examples_hold_our_kinds() -> None:
    assert {d["kind"] for d in EXAMPLE_DOCS} >= {"ResourceFlavor", "ClusterQueue"}
    assert QUEUE_DOC["kind"] == "ClusterQueue"


@pytest.mark.parametrize("obj", EXAMPLE_DOCS + VALID, ids=lambda o: o["kind"])
def test_both_accept(obj: dict[str, Any]) -> None:
    assert _api_accepts(obj)
    assert _crd_accepts(obj)


@pytest.mark.parametrize("obj", list(BOTH_REFUSE.values()), ids=list(BOTH_REFUSE))
def test_both_refuse(obj: dict[str, Any]) -> None:
    assert not _api_accepts(obj)
    assert not _crd_accepts(obj)


def test_unknown_fields_are_pruned_not_refused_without_strict_field_validation() -> None:
    # Kubernetes forbids `additionalProperties: false` next to `properties`: the apiserver drops
    # unknown fields, and refuses them only under strict field validation (kubectl's default).
    obj = _with(_run(), "spec.pipelinRef", {"name": "p"})
    assert _crd_accepts(_run(), strict=False)
    assert _crd_accepts(obj, strict=False)


# Deliberate differences: the API is stricter on rules across fields, the CRD on JSON types.
API_ONLY_REFUSES = {
    "python and command": _with(_pipeline(), "spec.steps.0.command", ["true"]),
    "ref and spec": _run(pipelineRef={"name": "p"}, pipelineSpec=INLINE),
    "value and param": _with(
        _pipeline(), "spec.steps.0.inputs", [{"name": "a", "value": 1, "param": "p"}]
    ),
    "cycle": _with(_pipeline(), "spec.steps.0.dependsOn", ["train"]),
    "two gpu vendors": _with(
        _pipeline(), "spec.steps.0.resources", {"nvidia.com/gpu": 1, "amd.com/gpu": 1}
    ),
    "negative cpu": _with(_pipeline(), "spec.steps.0.resources", {"cpu": "-1"}),
}
CRD_ONLY_REFUSES = {
    "float quantity": _with(_pipeline(), "spec.steps.0.resources", {"cpu": 0.5}),
    "string for a bool": _with(_pipeline(), "spec.steps.0.cache", "yes"),
    "string for an int": _with(_pipeline(), "spec.steps.0.retries", {"limit": "3"}),
}


@pytest.mark.parametrize("obj", list(API_ONLY_REFUSES.values()), ids=list(API_ONLY_REFUSES))
def test_cross_field_rules_are_checked_by_the_api_only(obj: dict[str, Any]) -> None:
    assert not _api_accepts(obj)
    assert _crd_accepts(obj)


@pytest.mark.parametrize("obj", list(CRD_ONLY_REFUSES.values()), ids=list(CRD_ONLY_REFUSES))
def test_crd_refuses_what_the_api_coerces(obj: dict[str, Any]) -> None:
    assert _api_accepts(obj)
    assert not _crd_accepts(obj)


@pytest.mark.parametrize("kind", [k for k in KINDS if k.group == API_GROUP], ids=str)
def test_what_the_api_stores_the_crd_accepts(kind: Kind) -> None:
    """An object as the embedded store keeps it (defaults filled in) fits the CRD too."""
    sample = next((o for o in EXAMPLE_DOCS + VALID if o["kind"] == kind.kind), None)
    assert sample is not None
    stored = validate(kind, sample).to_dict()
    assert _crd_accepts(stored)


def test_run_status_round_trips() -> None:
    assert _crd_accepts(validate(PIPELINE_RUN, _run_with_status()).to_dict())
