"""What our resources become on a Kubernetes cluster: pure builders, dicts out.

Each builder takes our validated objects (the `mlkube.api` models) and the platform's
`ClusterSettings`, and returns the Kubernetes objects, as the plain dicts `kubectl apply`
reads. The builders talk to no cluster and read no clock or environment. `KubernetesRuntime`
(`runtime.py`), which the operator (`mlkube operator`) runs workloads with, is the one part of
this package that calls the API server: one Pod per workload. The operator does not yet apply
what `step_job`, `training_objects`, `namespace_objects` and `serving_objects` return.

    step_job            a pipeline step attempt → batch/v1 Job
    training_objects    a TrainingJob → headless Service + Indexed batch/v1 Job
    namespace_objects   a team namespace → Namespace + ResourceQuotas + RoleBindings
    serving_objects     an InferenceService revision → Deployment + Service + HPA (+ VPA)

Anything that has no Kubernetes form raises `TranslationError` naming the field and why.
"""

from __future__ import annotations

from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.names import dns1035_label, dns_label, label_value, shorten
from mlkube.runtime.kubernetes.namespaces import TeamNamespace, namespace_objects
from mlkube.runtime.kubernetes.serving import Revision, serving_objects
from mlkube.runtime.kubernetes.settings import DEFAULT_IMAGE, ClusterSettings
from mlkube.runtime.kubernetes.steps import StepAttemptJob, step_job
from mlkube.runtime.kubernetes.training import training_objects

__all__ = [
    "DEFAULT_IMAGE",
    "ClusterSettings",
    "Revision",
    "StepAttemptJob",
    "TeamNamespace",
    "TranslationError",
    "dns1035_label",
    "dns_label",
    "label_value",
    "namespace_objects",
    "serving_objects",
    "shorten",
    "step_job",
    "training_objects",
]
