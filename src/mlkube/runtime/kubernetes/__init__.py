"""What our resources become on a Kubernetes cluster: pure builders, dicts out.

Each builder takes our validated objects (the `mlkube.api` models) and the platform's
`ClusterSettings`, and returns the Kubernetes objects, as the plain dicts `kubectl apply`
reads. Nothing here talks to a cluster, reads a clock or the environment: the operator (not
built yet) decides when to create, update or delete what these return.

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
