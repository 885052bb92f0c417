"""An InferenceService revision → Deployment + Service + HorizontalPodAutoscaler (+ VPA).

- The Deployment runs the revision's replicas, `python -m mlkube.serving.replica`, as the
  embedded controller starts them, listening on port 8080; the kubelet checks them with the
  Open Inference Protocol's `/v2/health/ready` (readiness) and `/v2/health/live` (liveness,
  after a startup probe that gives the model time to load).
- The Service (`<service>`, port 80) selects every ready replica of the InferenceService.
  Splitting traffic between revisions by `canaryTrafficPercent` needs our router or a Gateway
  API HTTPRoute with weights: not built.
- The HorizontalPodAutoscaler (`autoscaling/v2`) scales on a Pods metric per replica, served
  through a custom-metrics adapter (e.g. prometheus-adapter) from the replica's Prometheus
  series: `scaleMetric: rps` → `mlkube_model_requests_per_second` (the adapter's rate of
  the replica's `mlkube_model_requests_total`), `scaleMetric: concurrency` →
  `mlkube_model_in_flight` (the replica's gauge of requests being handled). The target is
  `scaleTarget` per replica, averaged, as our own autoscaler does. `minReplicas` is at least 1:
  an HPA cannot scale to zero; `minReplicas: 0` needs KEDA or Knative, not built.
  `scaleDownDelaySeconds` becomes the scale-down stabilization window.
- A VerticalPodAutoscaler (`autoscaling.k8s.io/v1`, a CRD that may not be installed) is built
  only when asked, with `updateMode` `Off` (recommendations only) or `Initial` (applied to
  pods as they are created): never evictions, so it never restarts a serving replica.

Where the model comes from (`Revision`): a path inside the pod (`--model PATH`), or an
artifact of a pipeline run that the replica fetches when it starts: the pod gets
`MLKUBE_MODEL_ARTIFACT_URI` and `MLKUBE_MODEL_ARTIFACT_DIGEST`, and `MLKUBE_ARTIFACT_STORE`
(with the credentials Secret as its environment) when the platform has an object store. Every
replica gets the URI the user wrote as `MLKUBE_MODEL_URI`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mlkube.api.pipelinerun import ArtifactRef
from mlkube.api.serving import InferenceService
from mlkube.runtime.kubernetes.errors import TranslationError
from mlkube.runtime.kubernetes.gpus import gpu_choice, gpu_scheduling
from mlkube.runtime.kubernetes.names import dns1035_label, dns_label
from mlkube.runtime.kubernetes.pods import (
    container,
    container_resources,
    labels,
    object_meta,
    owner_reference,
    pod_spec,
    selector,
)
from mlkube.runtime.kubernetes.settings import ClusterSettings

HTTP_PORT = 8080
MAX_STABILIZATION_SECONDS = 3600
SCALE_METRICS = {
    "rps": "mlkube_model_requests_per_second",
    "concurrency": "mlkube_model_in_flight",
}
VPA_UPDATE_MODES = ("Off", "Initial")  # the modes that never evict a running replica
_REVISION_NUMBER = re.compile(r"-(\d+)$")


@dataclass(frozen=True)
class Revision:
    """Which revision to build: its name (`<service>-predictor-00002`) and its model: a path
    inside the pod (`model_path`), or a run's output artifact the replica fetches (`artifact`,
    then `model_path` is "")."""

    name: str
    model_path: str
    artifact: ArtifactRef | None = None

    @property
    def number(self) -> int:
        """The counter at the end of the name (`...-00002` → 2); 0 when there is none."""
        match = _REVISION_NUMBER.search(self.name)
        return int(match.group(1)) if match else 0


def serving_objects(
    isvc: InferenceService,
    revision: Revision,
    settings: ClusterSettings,
    *,
    vpa: bool = False,
    vpa_update_mode: str = "Off",
) -> list[dict[str, Any]]:
    """Deployment, Service, HorizontalPodAutoscaler, and the VPA when `vpa` (in
    `vpa_update_mode`, one of `VPA_UPDATE_MODES`). `TranslationError` names what cannot be
    built."""
    parts = _Parts(isvc, revision)
    objs = [
        deployment(isvc, revision, parts, settings),
        service(parts),
        horizontal_autoscaler(isvc, parts),
    ]
    if vpa:
        objs.append(vertical_autoscaler(parts, vpa_update_mode))
    return objs


class _Parts:
    """Names, labels and the owner every object of the revision shares."""

    def __init__(self, isvc: InferenceService, revision: Revision) -> None:
        meta = isvc.metadata
        if not revision.name or bool(revision.model_path) == (revision.artifact is not None):
            raise TranslationError(
                "revision", "a revision needs a name and either a model path or an artifact"
            )
        self.isvc_name = meta.name or ""
        self.namespace = meta.namespace or "default"
        self.owner = owner_reference("InferenceService", meta)
        self.deployment = dns_label(revision.name)
        self.service = dns1035_label(self.isvc_name)
        self.service_labels = labels(
            "model-server", self.isvc_name, inferenceservice=self.isvc_name
        )
        self.pod_labels = {**self.service_labels, "mlkube.io/revision": dns_label(revision.name)}

    def meta(self, name: str, labels: dict[str, str]) -> dict[str, Any]:
        return object_meta(name, self.namespace, labels=labels, owner=self.owner)

    def target(self) -> dict[str, str]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.deployment}


def deployment(
    isvc: InferenceService, revision: Revision, parts: _Parts, settings: ClusterSettings
) -> dict[str, Any]:
    predictor, where = isvc.spec.predictor, "spec.predictor.resources"
    gpus = gpu_scheduling(
        gpu_choice(predictor.resources, alternative=0, where=where),
        settings.gpu_products,
        where=where,
    )
    env = {
        "MLKUBE_NAMESPACE": parts.namespace,
        "MLKUBE_INFERENCE_SERVICE": parts.isvc_name,
        "MLKUBE_REVISION": revision.name,
        "MLKUBE_MODEL_URI": predictor.model.storage_uri,
        **model_fetch_env(revision, settings),
        **gpus.env,
    }
    main = container(
        "model",
        command=replica_command(isvc, revision),
        env=env,
        resources=container_resources(predictor.resources, gpus, settings),
        settings=settings,
    )
    main["ports"] = [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
    main.update(_probes())
    pod = pod_spec(main, gpus, settings, restart_policy="Always")
    # On SIGTERM the replica finishes requests in flight; give the slowest one time to end.
    pod["terminationGracePeriodSeconds"] = math.ceil(predictor.timeout_seconds) + 5
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": parts.meta(parts.deployment, parts.pod_labels),
        "spec": {
            "replicas": max(predictor.min_replicas, 1),
            "selector": {"matchLabels": selector(parts.pod_labels)},
            "template": {"metadata": {"labels": dict(parts.pod_labels)}, "spec": pod},
        },
    }


def model_fetch_env(revision: Revision, settings: ClusterSettings) -> dict[str, str]:
    """What a replica needs to fetch its model artifact at start (nothing for a path). An
    artifact outside the pod's reach (not `file://` and no object store set) is refused."""
    artifact = revision.artifact
    if artifact is None:
        return {}
    env = {
        "MLKUBE_MODEL_ARTIFACT_URI": artifact.uri,
        "MLKUBE_MODEL_ARTIFACT_DIGEST": artifact.digest,
    }
    if settings.artifact_store is not None:
        env["MLKUBE_ARTIFACT_STORE"] = settings.store_root()
    elif not artifact.uri.startswith("file://"):
        raise TranslationError(
            "spec.predictor.model.storageUri",
            f"the model artifact {artifact.uri} is in an object store, and the operator has "
            "no artifactStore setting to give the replica",
        )
    return env


def replica_command(isvc: InferenceService, revision: Revision) -> list[str]:
    """The model server as the embedded controller starts it, on a fixed port for probes;
    without `--model` when the replica fetches an artifact (`model_fetch_env`)."""
    predictor = isvc.spec.predictor
    batching = predictor.batching
    model = ["--model", revision.model_path] if revision.model_path else []
    return [
        "python",
        "-m",
        "mlkube.serving.replica",
        "--name",
        isvc.metadata.name or "",
        "--version",
        str(revision.number),
        *model,
        "--format",
        predictor.model.model_format.name,
        "--host",
        "0.0.0.0",
        "--port",
        str(HTTP_PORT),
        "--max-batch-size",
        str(batching.max_batch_size),
        "--max-batch-delay-ms",
        f"{batching.max_latency_ms:g}",
    ]


def _probes() -> dict[str, Any]:
    def probe(path: str, **extra: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 10, **extra}

    return {
        # Up to five minutes to load the model before liveness starts counting.
        "startupProbe": probe("/v2/health/live", failureThreshold=30),
        "readinessProbe": probe("/v2/health/ready", failureThreshold=3),
        "livenessProbe": probe("/v2/health/live", failureThreshold=3),
    }


def service(parts: _Parts) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": parts.meta(parts.service, parts.service_labels),
        "spec": {
            "selector": selector(parts.service_labels),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def horizontal_autoscaler(isvc: InferenceService, parts: _Parts) -> dict[str, Any]:
    predictor = isvc.spec.predictor
    metric = {
        "type": "Pods",
        "pods": {
            "metric": {"name": SCALE_METRICS[predictor.scale_metric]},
            "target": {"type": "AverageValue", "averageValue": _quantity(predictor.scale_target)},
        },
    }
    # The HPA allows a window of at most an hour.
    window = min(math.ceil(predictor.scale_down_delay_seconds), MAX_STABILIZATION_SECONDS)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": parts.meta(parts.deployment, parts.pod_labels),
        "spec": {
            "scaleTargetRef": parts.target(),
            # An HPA cannot scale to zero (see the module docstring).
            "minReplicas": max(predictor.min_replicas, 1),
            "maxReplicas": predictor.max_replicas,
            "metrics": [metric],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": window}},
        },
    }


def vertical_autoscaler(parts: _Parts, update_mode: str = "Off") -> dict[str, Any]:
    if update_mode not in VPA_UPDATE_MODES:
        raise TranslationError(
            "vpaUpdateMode",
            f"must be one of {', '.join(VPA_UPDATE_MODES)} (modes that never evict a serving "
            f"replica), not {update_mode!r}",
        )
    return {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": parts.meta(parts.deployment, parts.pod_labels),
        "spec": {
            "targetRef": parts.target(),
            "updatePolicy": {"updateMode": update_mode},
            "resourcePolicy": {
                "containerPolicies": [
                    {"containerName": "model", "controlledResources": ["cpu", "memory"]}
                ]
            },
        },
    }


def _quantity(value: float) -> str:
    """A float as a Kubernetes quantity: `4.0` → `4`, `2.5` → `2.5`."""
    return format(Decimal(str(value)).normalize(), "f")
