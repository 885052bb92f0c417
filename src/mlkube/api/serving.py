"""`InferenceService`: a model served over the Open Inference Protocol, after KServe v1beta1.

```yaml
apiVersion: mlkube.io/v1alpha1
kind: InferenceService
metadata: {name: digits, namespace: ml-team}
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}          # sklearn | xgboost | onnx | pytorch
      storageUri: pipelinerun://digits-x7k2/model   # RUN/OUTPUT, RUN/STEP/OUTPUT, file:///p, /p
    minReplicas: 0                          # 0 allows scale to zero
    maxReplicas: 4
    scaleMetric: concurrency                # or rps
    scaleTarget: 4                          # per replica
    canaryTrafficPercent: 10                # new revision's share until promoted
    resources: {cpu: "1", memory: 512Mi}
    batching: {maxBatchSize: 32, maxLatencyMs: 0}
```

Every change of the predictor's model, resources or batching makes a new *revision*. Without
`canaryTrafficPercent` the newest ready revision takes all traffic (the old one serves until
then); with it, the newest takes that share and the previously rolled-out one the rest.
Promote by removing the field (or setting 100); roll back by setting 0.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from mlkube.api.meta import Condition, Model, ObjectMeta, Time
from mlkube.api.pipelinerun import StepUsage
from mlkube.api.resources import Resources

ModelFormatName = Literal["sklearn", "xgboost", "onnx", "pytorch"]
MODEL_FORMATS: tuple[str, ...] = get_args(ModelFormatName)
STORAGE_SCHEMES = ("pipelinerun://", "file://", "/")


class ModelFormat(Model):
    name: ModelFormatName
    version: str | None = None


class ModelSpec(Model):
    model_format: ModelFormat = Field(alias="modelFormat")
    storage_uri: str = Field(alias="storageUri", min_length=1)

    @model_validator(mode="after")
    def _known_scheme(self) -> ModelSpec:
        if self.storage_uri.startswith("s3://"):
            raise ValueError("storageUri: s3:// is not supported yet; use a file or a run output")
        if not self.storage_uri.startswith(STORAGE_SCHEMES):
            raise ValueError(
                "storageUri: must be pipelinerun://RUN/[STEP/]OUTPUT, file:///PATH or an "
                f"absolute path, not {self.storage_uri!r}"
            )
        if self.storage_uri.startswith("pipelinerun://"):
            parts = self.storage_uri.removeprefix("pipelinerun://").split("/")
            if len(parts) not in (2, 3) or not all(parts):
                raise ValueError(
                    "storageUri: pipelinerun:// needs RUN/OUTPUT or RUN/STEP/OUTPUT, "
                    f"got {self.storage_uri!r}"
                )
        return self


class Batching(Model):
    """Adaptive batching: requests that arrive while the model is busy run together."""

    max_batch_size: int = Field(default=32, alias="maxBatchSize", ge=1, le=4096)
    max_latency_ms: float = Field(default=0.0, alias="maxLatencyMs", ge=0, le=10_000)


class PredictorSpec(Model):
    model: ModelSpec
    min_replicas: int = Field(default=1, alias="minReplicas", ge=0, le=1000)
    max_replicas: int = Field(default=1, alias="maxReplicas", ge=1, le=1000)
    scale_metric: Literal["concurrency", "rps"] = Field(default="concurrency", alias="scaleMetric")
    scale_target: float = Field(default=4.0, alias="scaleTarget", gt=0)
    scale_to_zero_after_seconds: float = Field(default=60.0, alias="scaleToZeroAfterSeconds", ge=0)
    scale_down_delay_seconds: float = Field(default=30.0, alias="scaleDownDelaySeconds", ge=0)
    canary_traffic_percent: int | None = Field(
        default=None, alias="canaryTrafficPercent", ge=0, le=100
    )
    resources: Resources = Field(default_factory=Resources)
    batching: Batching = Field(default_factory=Batching)
    timeout_seconds: float = Field(default=60.0, alias="timeoutSeconds", gt=0)

    @model_validator(mode="after")
    def _replica_bounds(self) -> PredictorSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas ({self.min_replicas}) must not exceed maxReplicas "
                f"({self.max_replicas})"
            )
        return self


class InferenceServiceSpec(Model):
    predictor: PredictorSpec


class RevisionStatus(Model):
    """One revision: what it serves, its share of traffic, and its replicas."""

    name: str
    fingerprint: str = ""
    storage_uri: str = Field(alias="storageUri")
    model_format: str = Field(alias="modelFormat")
    model_path: str | None = Field(default=None, alias="modelPath")
    # What its replicas run with: a revision keeps them when the spec moves on.
    resources: Resources = Field(default_factory=Resources)
    batching: Batching = Field(default_factory=Batching)
    percent: int = 0
    replicas: int = 0
    ready_replicas: int = Field(default=0, alias="readyReplicas")
    desired_replicas: int = Field(default=0, alias="desiredReplicas")
    restarts: int = 0
    ready: bool = False
    message: str = ""
    # CPU and memory its replicas used, sampled while they ran (for right-sizing).
    usage: StepUsage | None = None


class InferenceServiceStatus(Model):
    url: str | None = None
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    latest_created_revision: str | None = Field(default=None, alias="latestCreatedRevision")
    latest_ready_revision: str | None = Field(default=None, alias="latestReadyRevision")
    previous_rolledout_revision: str | None = Field(default=None, alias="previousRolledoutRevision")
    revisions: list[RevisionStatus] = Field(default_factory=list)
    replicas: int = 0
    ready_replicas: int = Field(default=0, alias="readyReplicas")
    conditions: list[Condition] = Field(default_factory=list)
    last_scale_time: Time | None = Field(default=None, alias="lastScaleTime")
    scale_reason: str | None = Field(default=None, alias="scaleReason")


class InferenceService(Model):
    api_version: Literal["mlkube.io/v1alpha1"] = Field(
        default="mlkube.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["InferenceService"] = "InferenceService"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: InferenceServiceSpec
    status: InferenceServiceStatus = Field(default_factory=InferenceServiceStatus)
