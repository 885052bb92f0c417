"""The Python SDK: write pipelines with `@step` and `@pipeline`, talk to the API with `Client`."""

from mlkube.sdk.dsl import DslError, OutputRef, ParamRef, Pipeline, Step, StepCall, pipeline, step

__all__ = [
    "DslError",
    "OutputRef",
    "ParamRef",
    "Pipeline",
    "Step",
    "StepCall",
    "pipeline",
    "step",
]
