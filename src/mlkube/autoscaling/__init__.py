"""Pure autoscaling policies: replica counts for services, request sizes for workloads.

Everything here takes the time and the state as arguments and returns new state; nothing
reads a clock, logs or does I/O. Controllers store the state and act on the decisions.
"""

from mlkube.autoscaling.replicas import (
    HPA_DEFAULT_SCALE_UP,
    Metric,
    Observation,
    ScaleDecision,
    ScalePolicy,
    ScaleState,
    ScaleUpLimit,
    decide,
    validate_policy,
)
from mlkube.autoscaling.rightsizing import (
    CPU_BUCKETS,
    MEMORY_BUCKETS,
    Buckets,
    DecayingHistogram,
    MiB,
    Recommendation,
    ResourceEstimate,
    RightsizingConfig,
    UsageSample,
    memory_after_oom,
    recommend,
    recommend_from,
)

__all__ = [
    "CPU_BUCKETS",
    "HPA_DEFAULT_SCALE_UP",
    "MEMORY_BUCKETS",
    "Buckets",
    "DecayingHistogram",
    "Metric",
    "MiB",
    "Observation",
    "Recommendation",
    "ResourceEstimate",
    "RightsizingConfig",
    "ScaleDecision",
    "ScalePolicy",
    "ScaleState",
    "ScaleUpLimit",
    "UsageSample",
    "decide",
    "memory_after_oom",
    "recommend",
    "recommend_from",
    "validate_policy",
]
