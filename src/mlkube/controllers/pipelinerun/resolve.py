"""What a new run will run, resolved once when it starts: the pipeline (inline or stored), its
parameters with the defaults filled in, and its priority. The run's status keeps the result, so
later changes to the stored Pipeline or PriorityClass do not change a run already going."""

from __future__ import annotations

from typing import Any

from mlkube.api.errors import NotFound
from mlkube.api.kinds import PIPELINE, PRIORITY_CLASS, param_causes
from mlkube.api.pipeline import Pipeline, PipelineSpec
from mlkube.api.pipelinerun import ParamValue, PipelineRun
from mlkube.api.queueing import PriorityClass
from mlkube.controllers.pipelinerun import progress
from mlkube.store.base import ResourceStore


def pipeline_spec(store: ResourceStore, run: PipelineRun) -> tuple[PipelineSpec | None, str, str]:
    """The spec to run, or None with a reason and a message."""
    spec = run.spec.pipeline_spec
    if spec is None:
        assert run.spec.pipeline_ref is not None
        ref = run.spec.pipeline_ref.name
        namespace = run.metadata.namespace or ""
        try:
            stored = store.get(PIPELINE.resource, namespace, ref)
        except NotFound:
            return None, "PipelineNotFound", f'pipeline "{ref}" not found in {namespace}'
        spec = Pipeline.model_validate(stored).spec
        causes = param_causes(spec, run.spec, field="spec.params")
        if causes:
            return None, "InvalidParams", "; ".join(f"{c.field}: {c.message}" for c in causes)
    return spec, "", ""


def priority(store: ResourceStore, run: PipelineRun) -> int | None:
    """The run's priority: its class's value, else the global default's, else 0; None when
    the class it names does not exist."""
    objects = store.list(PRIORITY_CLASS.resource)[0]
    classes = [PriorityClass.model_validate(o) for o in objects]
    wanted = run.spec.priority_class_name
    if wanted is not None:
        return next((c.value for c in classes if c.metadata.name == wanted), None)
    return next((c.value for c in classes if c.global_default), 0)


def params_with_defaults(run: PipelineRun, spec: PipelineSpec) -> list[ParamValue]:
    """Every parameter of `spec`: the run's value, else the pipeline's default."""
    given: dict[str, Any] = {p.name: p.value for p in run.spec.params}
    values = progress.resolved_params(spec, given)
    return [ParamValue(name=k, value=v) for k, v in values.items()]
