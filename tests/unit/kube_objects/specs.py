"""Terse builders of our objects for the translation tests (validated like the API does)."""

from __future__ import annotations

from typing import Any

from mlkube.api.namespace import Namespace
from mlkube.api.pipelinerun import PipelineRun
from mlkube.api.queueing import ClusterQueue
from mlkube.api.rbac import RoleBinding
from mlkube.api.resourcequota import NamespaceResourceQuota
from mlkube.api.serving import InferenceService
from mlkube.api.trainingjob import TrainingJob
from mlkube.runtime.kubernetes import ClusterSettings, Revision, StepAttemptJob

UID = "5f0c1f7e-3c2a-4a57-9d61-0a8c7c1d2e3f"
STORE = "s3://ml-artifacts/team"
SETTINGS = ClusterSettings(image="registry.example/mlkube:1", artifact_store=STORE)


def meta(name: str, namespace: str = "team-a", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "uid": UID, **extra}


def run(steps: list[dict[str, Any]], *, name: str = "train-1", **spec: Any) -> PipelineRun:
    body = {"metadata": meta(name), "spec": {"pipelineSpec": {"steps": steps}, **spec}}
    return PipelineRun.model_validate(body)


def python_step(name: str = "fit", **fields: Any) -> dict[str, Any]:
    return {"name": name, "python": {"module": "train.py", "function": "fit"}, **fields}


def attempt(
    step: dict[str, Any] | None = None,
    *,
    attempt_number: int = 1,
    inputs: dict[str, Any] | None = None,
    **run_spec: Any,
) -> StepAttemptJob:
    """Attempt `attempt_number` of one step (a python step by default) of its own run."""
    the_run = run([step or python_step()], **run_spec)
    assert the_run.spec.pipeline_spec is not None
    return StepAttemptJob(
        the_run, the_run.spec.pipeline_spec.steps[0], attempt_number, inputs or {}
    )


def training(name: str = "ddp", *, workers: int = 4, **spec: Any) -> TrainingJob:
    program = spec.pop("program", {"python": {"module": "train.py", "function": "main"}})
    body = {"metadata": meta(name), "spec": {"workers": workers, **program, **spec}}
    return TrainingJob.model_validate(body)


def isvc(name: str = "digits", **predictor: Any) -> InferenceService:
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": "pipelinerun://train-1/model"}
    body = {"metadata": meta(name), "spec": {"predictor": {"model": model, **predictor}}}
    return InferenceService.model_validate(body)


def revision(name: str = "digits-predictor-00002") -> Revision:
    return Revision(name, "/models/digits")


def namespace(name: str = "team-a", **labels: str) -> Namespace:
    return Namespace.model_validate({"metadata": {"name": name, "labels": labels}})


def queue(
    name: str, namespaces: list[str], resources: list[dict[str, Any]], *, cohort: str | None = None
) -> ClusterQueue:
    flavor = {"name": f"{name}-flavor", "resources": resources}
    spec: dict[str, Any] = {"namespaces": namespaces, "resourceGroups": [{"flavors": [flavor]}]}
    if cohort is not None:
        spec["cohort"] = cohort
    return ClusterQueue.model_validate({"metadata": {"name": name}, "spec": spec})


def quota(hard: dict[str, str], namespace_name: str = "team-a") -> NamespaceResourceQuota:
    body = {"metadata": {"name": "team-quota", "namespace": namespace_name}, "spec": {"hard": hard}}
    return NamespaceResourceQuota.model_validate(body)


def binding(role: str, *subjects: dict[str, str], namespace_name: str = "team-a") -> RoleBinding:
    return RoleBinding.model_validate(
        {
            "metadata": {"name": f"{role}-binding", "namespace": namespace_name},
            "roleRef": {"name": role},
            "subjects": list(subjects),
        }
    )


def container(obj: dict[str, Any]) -> dict[str, Any]:
    """The one container of a Job's or Deployment's pod template."""
    (only,) = obj["spec"]["template"]["spec"]["containers"]
    return dict(only)


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def env(obj: dict[str, Any]) -> dict[str, Any]:
    """The container's environment: name → value, or the `valueFrom` source."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(obj)["env"]}
