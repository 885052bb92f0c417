from typing import Any

import pytest

from mlkube.api.errors import BadRequest, Invalid
from mlkube.api.kinds import PIPELINE, PIPELINE_RUN, by_api_version_kind, lookup, validate
from mlkube.api.validation import find_cycle, topological_order


def step(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "python": {"module": "mlkube.testing.steps", "function": "noop"}, **extra}


def pipeline(*steps: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"steps": list(steps), **spec},
    }


def causes(obj: dict[str, Any], kind: Any = PIPELINE) -> dict[str, str]:
    with pytest.raises(Invalid) as info:
        validate(kind, obj)
    return {c.field: c.message for c in info.value.causes}


def test_a_valid_pipeline_parses() -> None:
    obj = pipeline(step("a"), step("b", inputs=[{"name": "x", "fromStep": "a"}]))
    model = validate(PIPELINE, obj)
    assert model.to_dict()["spec"]["steps"][1]["inputs"][0]["fromStep"] == "a"


def test_unknown_field_is_named() -> None:
    found = causes(pipeline(step("a", colour="blue")))
    assert found == {"spec.steps[0].colour": "unknown field"}


def test_bad_quantity_is_named_with_the_reason() -> None:
    found = causes(pipeline(step("a", resources={"cpu": "2Gx"})))
    assert list(found) == ["spec.steps[0].resources.cpu"]
    assert "must match the regular expression" in found["spec.steps[0].resources.cpu"]


def test_wrong_type_is_named() -> None:
    found = causes(pipeline(step("a", retries={"limit": "many"})))
    assert "spec.steps[0].retries.limit" in found


def test_cycle_is_reported_as_a_path() -> None:
    obj = pipeline(step("a", dependsOn=["b"]), step("b", dependsOn=["a"]))
    assert causes(obj) == {"spec.steps": "cycle in step dependencies: a -> b -> a"}


def test_missing_upstream_and_missing_output_are_named() -> None:
    obj = pipeline(
        step("a", outputs=["model"]),
        step("b", inputs=[{"name": "x", "fromStep": "ghost"}]),
        step("c", inputs=[{"name": "y", "fromStep": "a", "output": "metrics"}]),
    )
    found = causes(obj)
    assert found["spec.steps[1].inputs[0].fromStep"] == "no step named 'ghost'"
    assert "has no output 'metrics'" in found["spec.steps[2].inputs[0].output"]


def test_python_or_command_exactly_one() -> None:
    both = {"name": "a", "python": {"module": "m", "function": "f"}, "command": ["true"]}
    assert "exactly one of python or command" in causes(pipeline(both))["spec.steps[0]"]


def test_names_follow_kubernetes_rules() -> None:
    obj = pipeline(step("Bad_Name"))
    obj["metadata"]["name"] = "Also Bad"
    found = causes(obj)
    assert "RFC 1123 subdomain" in found["metadata.name"]
    assert "RFC 1123 label" in found["spec.steps[0].name"]


def test_a_trailing_newline_is_not_part_of_a_valid_name() -> None:
    obj = pipeline(step("a\n"))
    obj["metadata"]["name"] = "p\n"
    found = causes(obj)
    assert "RFC 1123 subdomain" in found["metadata.name"]
    assert "RFC 1123 label" in found["spec.steps[0].name"]


def test_duplicate_step_names() -> None:
    assert "duplicate step name 'a'" in causes(pipeline(step("a"), step("a")))["spec.steps[1].name"]


def test_unknown_param_reference() -> None:
    obj = pipeline(step("a", inputs=[{"name": "x", "param": "lr"}]))
    assert causes(obj) == {"spec.steps[0].inputs[0].param": "pipeline has no parameter 'lr'"}


def test_run_params_must_match_the_pipeline() -> None:
    spec = {"params": [{"name": "lr"}], "steps": [step("a", inputs=[{"name": "x", "param": "lr"}])]}
    run = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": "r"},
        "spec": {"pipelineSpec": spec, "params": [{"name": "epochs", "value": 3}]},
    }
    found = causes(run, PIPELINE_RUN)
    assert found["spec.params[0].name"] == "pipeline has no parameter 'epochs'"
    assert "'lr' has no default" in found["spec.params"]


def test_run_needs_ref_or_spec() -> None:
    run = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": "r"},
        "spec": {},
    }
    assert "exactly one of pipelineRef or pipelineSpec" in causes(run, PIPELINE_RUN)["spec"]


def test_wrong_kind_for_the_endpoint() -> None:
    obj = pipeline(step("a"))
    obj["kind"] = "PipelineRun"
    assert "kind" in causes(obj)


def test_gpu_requests() -> None:
    ok = validate(
        PIPELINE, pipeline(step("a", resources={"nvidia.com/gpu": 2, "gpuModel": "A100"}))
    )
    request = ok.spec.steps[0].resources.request()  # type: ignore[attr-defined]
    assert (request.gpu_count, request.gpu_vendor, request.gpu_model) == (2, "nvidia", "A100")
    both = pipeline(step("a", resources={"nvidia.com/gpu": 1, "amd.com/gpu": 1}))
    assert "not both" in causes(both)["spec.steps[0].resources"]
    model_only = pipeline(step("a", resources={"gpuModel": "A100"}))
    assert "needs a GPU count" in causes(model_only)["spec.steps[0].resources"]


def test_lookup_like_kubectl() -> None:
    assert lookup("pr") is PIPELINE_RUN
    assert lookup("PipelineRuns") is PIPELINE_RUN
    assert lookup("pipelines.mlkube.io") is PIPELINE
    with pytest.raises(BadRequest):
        lookup("pods")
    with pytest.raises(BadRequest):
        by_api_version_kind("mlkube.io/v1", "Pipeline")


def test_graph_helpers() -> None:
    assert find_cycle({"a": [], "b": ["a"]}) == []
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert topological_order({"c": ["b"], "b": ["a"], "a": []}) == ["a", "b", "c"]
