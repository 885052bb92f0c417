"""Pure decisions about a run's graph: which steps are ready, skipped, finished.

No I/O here: everything is computed from the pipeline spec and the step statuses.
"""

from __future__ import annotations

from typing import Any

from mlkube.api.pipeline import PipelineSpec, StepSpec
from mlkube.api.pipelinerun import OutputValue, StepStatus


class MissingInput(Exception):
    """An input refers to an output its upstream step did not produce."""


def skip_reason(step: StepSpec, statuses: dict[str, StepStatus]) -> str | None:
    """Why `step` can never run because an upstream failed or was skipped, else None."""
    for name in step.upstream():
        upstream = statuses[name]
        if upstream.phase == "Failed":
            return f"upstream step {name!r} failed"
        if upstream.phase == "Skipped":
            return f"upstream step {name!r} was skipped"
    return None


def is_ready(step: StepSpec, statuses: dict[str, StepStatus]) -> bool:
    """All upstream steps succeeded."""
    return all(statuses[name].phase == "Succeeded" for name in step.upstream())


def output_of(status: StepStatus, output: str) -> OutputValue | None:
    return next((o for o in status.outputs if o.name == output), None)


def resolve_inputs(
    step: StepSpec, statuses: dict[str, StepStatus], params: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each input as `{"value": ...}` or `{"artifact": {...}}`, ready for the executor."""
    resolved: dict[str, dict[str, Any]] = {}
    for source in step.inputs:
        if source.param is not None:
            resolved[source.name] = {"value": params.get(source.param)}
        elif source.from_step is not None:
            out = output_of(statuses[source.from_step], source.output)
            if out is None:
                raise MissingInput(
                    f"input {source.name!r}: step {source.from_step!r} produced no output "
                    f"{source.output!r}"
                )
            resolved[source.name] = (
                {"artifact": out.artifact.to_dict()} if out.artifact else {"value": out.value}
            )
        else:
            resolved[source.name] = {"value": source.value}
    return resolved


def run_outcome(statuses: list[StepStatus]) -> tuple[str, str, str] | None:
    """(phase, reason, message) once every step finished, else None."""
    if not all(s.finished for s in statuses):
        return None
    failed = [s for s in statuses if s.phase == "Failed"]
    if not failed:
        return "Succeeded", "Succeeded", f"all {len(statuses)} steps succeeded"
    first = failed[0]
    names = ", ".join(s.name for s in failed)
    return (
        "Failed",
        "StepFailed",
        f"step {first.name} failed ({first.reason}: {first.message})"
        + (f"; failed steps: {names}" if len(failed) > 1 else ""),
    )


def pipeline_outputs(spec: PipelineSpec, statuses: dict[str, StepStatus]) -> list[OutputValue]:
    """The run's declared outputs, taken from the steps that produced them."""
    outputs = []
    for decl in spec.outputs:
        out = output_of(statuses[decl.from_step], decl.output)
        if out is not None:
            outputs.append(out.model_copy(update={"name": decl.name}))
    return outputs


def resolved_params(spec: PipelineSpec, given: dict[str, Any]) -> dict[str, Any]:
    """Parameter values: what the run gave, else the pipeline's default."""
    return {p.name: given.get(p.name, p.default) for p in spec.params}
