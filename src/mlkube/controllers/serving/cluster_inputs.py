"""What the operator decides an InferenceService's objects from, besides its spec: where the
model is (`locate_model`, which reads the PipelineRun a `pipelinerun://` URI names) and whether
it asks for a VerticalPodAutoscaler (`vpa_update_mode`, the `mlkube.io/vpa` annotation).

The annotation, absent: no VPA. `Off`: a VPA that only recommends (`kubectl describe vpa`).
`Initial`: its recommendations are applied to replicas as they are created. Modes that evict
running replicas (`Recreate`, `Auto`) are refused: they would restart a serving model.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlkube.api.pipelinerun import ArtifactRef
from mlkube.api.serving import InferenceService
from mlkube.controllers.serving.model_source import ModelNotReady, run_output_artifact
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.serving import VPA_UPDATE_MODES
from mlkube.store.base import ResourceStore

__all__ = ["VPA_ANNOTATION", "ModelChoice", "ModelMissing", "locate_model", "vpa_update_mode"]

VPA_ANNOTATION = "mlkube.io/vpa"


@dataclass(frozen=True)
class ModelMissing:
    """The model cannot be served (yet): `message` says what is missing."""

    message: str


# Where the model is: a run's output artifact, missing, or None for a path inside the pod
# (`file:///p` or `/p`: nothing to look up).
ModelChoice = ArtifactRef | ModelMissing | None


def locate_model(store: ResourceStore, namespace: str, uri: str) -> ModelChoice:
    """The artifact a `pipelinerun://` URI names (read from `store`), `ModelMissing` saying
    why there is none, or None for any other URI."""
    if not uri.startswith("pipelinerun://"):
        return None
    try:
        return run_output_artifact(store, namespace, uri)
    except ModelNotReady as err:
        return ModelMissing(str(err))


def vpa_update_mode(isvc: InferenceService) -> str | None:
    """The VPA update mode the service asks for, None when it asks for no VPA;
    `TranslationError` naming the annotation for a value we do not build."""
    value = (isvc.metadata.annotations or {}).get(VPA_ANNOTATION)
    if value is None:
        return None
    if value not in VPA_UPDATE_MODES:
        raise TranslationError(
            f"metadata.annotations[{VPA_ANNOTATION}]",
            f"must be {' or '.join(VPA_UPDATE_MODES)} (a VPA that never evicts a serving "
            f"replica), not {value!r}",
        )
    return value
