"""Admission checks the API runs before storing: refuse work this machine can never run."""

from __future__ import annotations

from collections.abc import Callable

from mlkube.api.errors import Cause
from mlkube.api.kinds import Kind
from mlkube.api.meta import Model
from mlkube.api.pipeline import Pipeline, PipelineSpec
from mlkube.api.pipelinerun import PipelineRun
from mlkube.scheduling.node_fit import NodeCapacity, never_fits

AdmissionCheck = Callable[[Kind, Model, str], list[Cause]]


def capacity_check(node: NodeCapacity) -> AdmissionCheck:
    """A check that names each step asking for more than `node` has in all."""

    def check(kind: Kind, obj: Model, operation: str) -> list[Cause]:
        if isinstance(obj, Pipeline):
            return _steps_beyond(obj.spec, node, field="spec")
        if isinstance(obj, PipelineRun) and obj.spec.pipeline_spec is not None:
            return _steps_beyond(obj.spec.pipeline_spec, node, field="spec.pipelineSpec")
        return []

    return check


def _steps_beyond(spec: PipelineSpec, node: NodeCapacity, *, field: str) -> list[Cause]:
    causes = []
    for i, step in enumerate(spec.steps):
        reason = never_fits(step.resources.request(), node)
        if reason:
            causes.append(
                Cause(
                    f"{field}.steps[{i}].resources", f"step {step.name!r} {reason}", "Unschedulable"
                )
            )
    return causes
