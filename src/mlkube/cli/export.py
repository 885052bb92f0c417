"""`mlkube export -f FILE --kubernetes`: preview what our resources become on a cluster.

Prints, as one YAML stream, the Kubernetes objects the operator would create for each
resource in the files (see `mlkube.runtime.kubernetes`). Offline: nothing is sent anywhere,
and no operator applies these objects yet. Objects that need the apiserver's answers get
stand-ins: the zero uid in owner references, attempt 1 of each step, and step inputs that
come from other steps left as `{fromStep, output}` references (the controller resolves them
when the upstream step finishes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
import yaml

from mlkube.api.errors import ApiError
from mlkube.api.kinds import validate
from mlkube.api.meta import Model
from mlkube.api.namespace import Namespace
from mlkube.api.pipeline import Pipeline, PipelineSpec, StepSpec
from mlkube.api.pipelinerun import PipelineRun
from mlkube.api.queueing import ClusterQueue
from mlkube.api.rbac import RoleBinding
from mlkube.api.resourcequota import NamespaceResourceQuota
from mlkube.api.serving import InferenceService
from mlkube.api.trainingjob import TrainingJob
from mlkube.cli.cluster_options import gpu_products as gpu_products_of
from mlkube.cli.common import err
from mlkube.cli.resources import kind_of, read_manifests
from mlkube.install import to_yaml
from mlkube.runtime.kubernetes import (
    DEFAULT_IMAGE,
    ClusterSettings,
    Revision,
    StepAttemptJob,
    TeamNamespace,
    TranslationError,
    namespace_objects,
    serving_objects,
    step_job,
    training_objects,
)
from mlkube.runtime.kubernetes.namespaces import resource_quota, role_binding

PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"
HEADER = (
    "# What mlkube's operator would create on a cluster (a preview: the operator is not built\n"
    f"# yet; owner references carry the stand-in uid {PLACEHOLDER_UID}).\n"
)
_NOTHING_TO_BUILD = {
    "Pipeline": "a template: its runs become Jobs",
    "ClusterQueue": "admission settings the operator reads: namespaces' ResourceQuotas show it",
    "ResourceFlavor": "admission settings the operator reads",
    "Node": "Kubernetes' own nodes are used on a cluster",
    "ClusterRoleBinding": "a Kubernetes kind already: apply it as it is",
    "PriorityClass": "a Kubernetes kind already: apply it as it is",
}


class _Manifests:
    """The validated objects of the files, and what a translation needs from the others."""

    def __init__(self, models: list[Model]) -> None:
        self.models = models
        self.queues = [m for m in models if isinstance(m, ClusterQueue)]
        self.namespaces = {m.metadata.name for m in models if isinstance(m, Namespace)}

    def pipeline(self, run: PipelineRun) -> PipelineSpec:
        if run.spec.pipeline_spec is not None:
            return run.spec.pipeline_spec
        assert run.spec.pipeline_ref is not None
        wanted = (run.metadata.namespace, run.spec.pipeline_ref.name)
        for m in self.models:
            if isinstance(m, Pipeline) and (m.metadata.namespace, m.metadata.name) == wanted:
                return m.spec
        raise TranslationError(
            "spec.pipelineRef",
            f"pipeline {wanted[1]!r} is not in the files: add it, or use pipelineSpec",
        )

    def in_namespace(self, kind: type[Model], namespace: str | None) -> list[Any]:
        return [
            m
            for m in self.models
            if isinstance(m, kind) and getattr(m, "metadata").namespace == namespace  # noqa: B009
        ]


@click.command(name="export")
@click.option(
    "-f", "--filename", "files", multiple=True, required=True, help="Manifest file(s), or -."
)
@click.option(
    "--kubernetes", is_flag=True, help="Target Kubernetes. Required: the only target so far."
)
@click.option(
    "--image",
    default=DEFAULT_IMAGE,
    show_default=True,
    help="Image of steps, workers and model servers.",
)
@click.option(
    "--artifact-store",
    default=None,
    help="Object store steps exchange artifacts through: s3://BUCKET[/PREFIX].",
)
@click.option(
    "--gpu-product",
    "gpu_products",
    multiple=True,
    help="GPU model to node label value(s), MODEL=NAME[,NAME] (repeatable).",
)
@click.option(
    "--suspend/--no-suspend",
    default=True,
    show_default=True,
    help="Create TrainingJob Jobs suspended until admitted.",
)
@click.option(
    "--vpa",
    is_flag=True,
    help="Also build a VerticalPodAutoscaler (recommendations only) per model service.",
)
def export(
    files: tuple[str, ...],
    kubernetes: bool,
    image: str,
    artifact_store: str | None,
    gpu_products: tuple[str, ...],
    suspend: bool,
    vpa: bool,
) -> None:
    """Print the Kubernetes objects the resources in the files would become.

    PipelineRun: a Job per step; TrainingJob: a headless Service and an Indexed Job;
    InferenceService: Deployment, Service, HorizontalPodAutoscaler (and --vpa); Namespace:
    the Namespace, ResourceQuotas from the ClusterQueues and ResourceQuotas in the files, and
    RoleBindings. Nothing is applied and no server is needed.
    """
    if not kubernetes:
        raise click.UsageError("say what to export for: --kubernetes (the only target so far)")
    try:
        settings = ClusterSettings(
            image=image, artifact_store=artifact_store, gpu_products=gpu_products_of(gpu_products)
        )
        manifests = _Manifests([_validated(doc) for path in files for doc in read_manifests(path)])
    except (ApiError, TranslationError, OSError, ValueError, yaml.YAMLError) as e:
        raise click.ClickException(_hint(str(e), e)) from None
    objs = [
        obj
        for model in manifests.models
        for obj in _build(model, manifests, settings, suspend=suspend, vpa=vpa)
    ]
    sys.stdout.write(HEADER + to_yaml(objs))


def _validated(doc: dict[str, Any]) -> Model:
    doc.setdefault("metadata", {}).setdefault("uid", PLACEHOLDER_UID)
    kind = kind_of(doc)
    if kind.namespaced:
        doc["metadata"]["namespace"] = doc["metadata"].get("namespace") or "default"
    return validate(kind, doc)


def _hint(message: str, error: Exception) -> str:
    """The message, naming the option to use when a setting is missing."""
    if isinstance(error, TranslationError) and error.field == "artifactStore":
        return f"{message} (--artifact-store)"
    return message


def _build(
    model: Model, manifests: _Manifests, settings: ClusterSettings, *, suspend: bool, vpa: bool
) -> list[dict[str, Any]]:
    builders: dict[type[Model], Callable[[Any], list[dict[str, Any]]]] = {
        PipelineRun: lambda run: _run_jobs(run, manifests.pipeline(run), settings),
        TrainingJob: lambda job: training_objects(job, settings, suspend=suspend),
        InferenceService: lambda isvc: serving_objects(isvc, _revision(isvc), settings, vpa=vpa),
        Namespace: lambda ns: namespace_objects(_team(ns, manifests)),
        NamespaceResourceQuota: lambda q: _unless_team(q, manifests, resource_quota),
        RoleBinding: lambda b: _unless_team(b, manifests, role_binding),
    }
    meta = getattr(model, "metadata")  # noqa: B009 - every kind has metadata
    kind = str(getattr(model, "kind"))  # noqa: B009
    builder = builders.get(type(model))
    if builder is None:
        err.print(
            f"{kind} {meta.name}: nothing to build ({_NOTHING_TO_BUILD.get(kind, '')})",
            highlight=False,
            markup=False,
        )
        return []
    try:
        return builder(model)
    except TranslationError as e:
        raise click.ClickException(_hint(f"{kind} {meta.name!r}: {e}", e)) from None


def _run_jobs(
    run: PipelineRun, pipeline: PipelineSpec, settings: ClusterSettings
) -> list[dict[str, Any]]:
    params = {p.name: p.default for p in pipeline.params} | {
        p.name: p.value for p in run.spec.params
    }
    return [
        step_job(StepAttemptJob(run, step, 1, _inputs(step, params)), settings)
        for step in pipeline.steps
    ]


def _inputs(step: StepSpec, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Literal and parameter inputs resolved; those of other steps left as references."""
    inputs: dict[str, dict[str, Any]] = {}
    for source in step.inputs:
        if source.from_step is not None:
            inputs[source.name] = {"fromStep": source.from_step, "output": source.output}
        elif source.param is not None:
            inputs[source.name] = {"value": params.get(source.param)}
        else:
            inputs[source.name] = {"value": source.value}
    return inputs


def _revision(isvc: InferenceService) -> Revision:
    """The newest revision the status knows, else the first one the controller would make."""
    status, name = isvc.status, isvc.metadata.name or ""
    revision = status.latest_created_revision or f"{name}-predictor-00001"
    known = next((r for r in status.revisions if r.name == revision), None)
    path = known.model_path if known and known.model_path else isvc.spec.predictor.model.storage_uri
    return Revision(revision, path)


def _team(ns: Namespace, manifests: _Manifests) -> TeamNamespace:
    name = ns.metadata.name
    return TeamNamespace(
        ns,
        queues=manifests.queues,
        quotas=manifests.in_namespace(NamespaceResourceQuota, name),
        bindings=manifests.in_namespace(RoleBinding, name),
    )


def _unless_team(
    obj: Any, manifests: _Manifests, build: Callable[[Any, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """A quota or binding alone; one whose Namespace is in the files is built with it."""
    namespace = obj.metadata.namespace
    return [] if namespace in manifests.namespaces else [build(obj, namespace)]
