from typing import Any

import pytest

from mlkube.api.kinds import PIPELINE, validate
from mlkube.sdk import DslError, pipeline, step
from mlkube.testing import steps


@step(cpu="2", memory="1Gi", outputs=("train", "test"))
def split(rows: int) -> tuple[list[int], list[int]]:
    data = list(range(rows))
    return data[: rows // 2], data[rows // 2 :]


@step(gpu=1, gpu_model="A100", retries=2, timeout_seconds=60)
def fit(data: list[int], lr: float = 0.1) -> float:
    return sum(data) * lr


@step
def report(**scores: float) -> dict[str, float]:
    return scores


@pipeline(name="toy")
def toy(rows: int = 10) -> Any:
    parts = split(rows=rows)
    a = fit(data=parts["train"], lr=0.5).named("fit-a")
    b = fit(data=parts["test"])
    return report(a=a, b=b)


def test_outside_a_pipeline_a_step_is_the_plain_function() -> None:
    assert split(4) == ([0, 1], [2, 3])
    assert fit([1, 2], lr=1.0) == 3.0


def test_compile_wires_outputs_params_and_resources() -> None:
    spec = toy.compile()
    by_name = {s.name: s for s in spec.steps}
    assert list(by_name) == ["split", "fit-a", "fit-2", "report"]
    assert [p.name for p in spec.params] == ["rows"]
    assert spec.params[0].default == 10
    split_spec = by_name["split"]
    assert split_spec.inputs[0].param == "rows"
    assert split_spec.outputs == ["train", "test"]
    assert split_spec.resources.request().cpu_millis == 2000
    fit_a = by_name["fit-a"]
    assert (fit_a.inputs[0].from_step, fit_a.inputs[0].output) == ("split", "train")
    assert fit_a.inputs[1].value == 0.5
    assert fit_a.resources.request().gpu_count == 1
    assert fit_a.retries.limit == 2 and fit_a.timeout_seconds == 60
    assert [i.name for i in by_name["report"].inputs] == ["a", "b"]
    assert spec.outputs[0].from_step == "report"


def test_compiled_spec_passes_server_validation() -> None:
    manifest = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "toy"},
        "spec": toy.compile().to_dict(),
    }
    validate(PIPELINE, manifest)


def test_steps_defined_in_files_are_referenced_by_path_installed_ones_by_module() -> None:
    assert split.module_ref().endswith("tests/unit/sdk/test_dsl.py")
    assert step(steps.noop).module_ref() == "mlkube.testing.steps"


def test_a_step_from_a_file_ships_the_files_text_and_an_installed_one_does_not() -> None:
    spec = toy.compile()
    python = {s.name: s.python for s in spec.steps}
    assert python["split"] is not None and python["split"].source is not None
    with open(__file__, encoding="utf-8") as handle:
        assert python["split"].source == handle.read()

    @pipeline
    def installed() -> None:
        step(steps.noop)()

    [noop] = installed.compile().steps
    assert noop.python is not None and noop.python.source is None


def test_a_multi_output_step_must_be_indexed() -> None:
    @pipeline
    def bad() -> None:
        fit(data=split(rows=3))

    with pytest.raises(DslError, match="pick one"):
        bad.compile()


def test_unknown_output_and_bad_arguments() -> None:
    @pipeline
    def missing() -> None:
        fit(data=split(rows=3)["validation"])

    with pytest.raises(DslError, match="no output 'validation'"):
        missing.compile()

    @pipeline
    def wrong_args() -> None:
        fit(1, 2, 3)  # type: ignore[call-arg]

    with pytest.raises(DslError, match="too many positional"):
        wrong_args.compile()


def test_duplicate_names_are_refused() -> None:
    @pipeline
    def dup() -> None:
        fit(data=[1]).named("x")
        fit(data=[2]).named("x")

    with pytest.raises(DslError, match="two steps are named 'x'"):
        dup.compile()


def test_after_adds_an_ordering_edge() -> None:
    @pipeline
    def ordered() -> None:
        first = fit(data=[1])
        fit(data=[2]).after(first)

    spec = ordered.compile()
    assert spec.steps[1].depends_on == ["fit"]
