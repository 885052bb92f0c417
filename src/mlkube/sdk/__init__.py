"""The Python SDK: write pipelines with `@step` and `@pipeline`, talk to the API with `Client`."""

from mlkube.sdk.dsl import DslError, OutputRef, ParamRef, Pipeline, Step, StepCall, pipeline, step
from mlkube.sdk.volumes import VolumeError, claim, mount, scratch, volume_path

__all__ = [
    "DslError",
    "OutputRef",
    "ParamRef",
    "Pipeline",
    "Step",
    "StepCall",
    "VolumeError",
    "claim",
    "mount",
    "pipeline",
    "scratch",
    "step",
    "volume_path",
]
