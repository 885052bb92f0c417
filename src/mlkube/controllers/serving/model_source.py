"""Turn a predictor's `storageUri` into a file the replicas load.

- `/abs/path` and `file:///abs/path`: that file or folder, which must exist;
- `pipelinerun://RUN/STEP/OUTPUT`: the artifact that output of a succeeded step of a run in
  the service's namespace points to (a pickled model, as a `@step` returning an estimator
  writes it, or a file the step saved);
- `pipelinerun://RUN/OUTPUT`: an output of the whole (succeeded) run.

`run_output_artifact` is the run-output half on its own, for the operator: there the artifact
is fetched by the replica pod (it may be in an object store), not read from this machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlkube.api.errors import NotFound
from mlkube.api.kinds import PIPELINE_RUN
from mlkube.api.pipelinerun import ArtifactRef, OutputValue, PipelineRun
from mlkube.store.base import ResourceStore

__all__ = ["ModelNotReady", "ModelSource", "resolve_model", "run_output_artifact"]


class ModelNotReady(Exception):
    """The model cannot be found (yet); the message says what is missing."""


@dataclass(frozen=True)
class ModelSource:
    """Where a replica finds its model: `path` on this machine, or `artifact`, a run's output
    in an object store (`mlkube up --artifact-store`), which the replica fetches when it
    starts (`mlkube.serving.fetch`) so that a large download never holds up a controller."""

    path: str
    artifact: ArtifactRef | None = None


def resolve_model(store: ResourceStore, namespace: str, uri: str) -> ModelSource:
    """The model behind `uri`, or `ModelNotReady` saying why not."""
    if uri.startswith("pipelinerun://"):
        value, what = _run_output(store, namespace, uri)
        if value.artifact is not None and not value.artifact.uri.startswith("file://"):
            return ModelSource(value.artifact.uri, value.artifact)
        return ModelSource(_artifact_path(value, what))
    path = uri.removeprefix("file://")
    if not os.path.isabs(path):
        raise ModelNotReady(f"storageUri {uri!r} is not an absolute path")
    if not os.path.exists(path):
        raise ModelNotReady(f"storageUri {uri!r}: no such file or folder")
    return ModelSource(path)


def run_output_artifact(store: ResourceStore, namespace: str, uri: str) -> ArtifactRef:
    """The artifact behind `pipelinerun://RUN/[STEP/]OUTPUT` in `namespace`, wherever it is
    stored; `ModelNotReady` when the run or step is missing or has not succeeded, the output
    is missing, or it is an inline value."""
    value, what = _run_output(store, namespace, uri)
    if value.artifact is None:
        raise ModelNotReady(f"{what} is an inline value, not a model artifact")
    return value.artifact


def _run_output(store: ResourceStore, namespace: str, uri: str) -> tuple[OutputValue, str]:
    """The output `uri` names and how to name it in a message."""
    parts = uri.removeprefix("pipelinerun://").split("/")
    run_name, output = parts[0], parts[-1]
    try:
        run = PipelineRun.model_validate(store.get(PIPELINE_RUN.resource, namespace, run_name))
    except NotFound:
        raise ModelNotReady(f"pipelinerun {namespace}/{run_name} not found") from None
    if len(parts) == 2:
        if run.status.phase != "Succeeded":
            raise ModelNotReady(
                f"pipelinerun {run_name} has not succeeded (phase {run.status.phase})"
            )
        found = next((o for o in run.status.outputs if o.name == output), None)
        if found is None:
            names = ", ".join(o.name for o in run.status.outputs) or "none"
            raise ModelNotReady(f"pipelinerun {run_name} has no output {output!r} ({names})")
        return found, f"output {output!r} of pipelinerun {run_name}"
    step_name = parts[1]
    step = next((s for s in run.status.steps if s.name == step_name), None)
    if step is None:
        raise ModelNotReady(f"pipelinerun {run_name} has no step {step_name!r}")
    if step.phase != "Succeeded":
        raise ModelNotReady(
            f"step {step_name!r} of pipelinerun {run_name} has not succeeded (phase {step.phase})"
        )
    value = next((o for o in step.outputs if o.name == output), None)
    if value is None:
        names = ", ".join(o.name for o in step.outputs) or "none"
        raise ModelNotReady(f"step {step_name!r} has no output {output!r} (outputs: {names})")
    return value, f"output {output!r} of step {step_name!r}"


def _artifact_path(value: OutputValue, what: str) -> str:
    if value.artifact is None or not value.artifact.uri.startswith("file://"):
        raise ModelNotReady(f"{what} is an inline value, not a model artifact")
    path = value.artifact.uri.removeprefix("file://")
    if not os.path.exists(path):
        raise ModelNotReady(f"the artifact of {what} is missing at {path}")
    return path
