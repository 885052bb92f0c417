"""The table of kinds the API serves, and the one function that validates any object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mlkube.api.errors import BadRequest, Cause, Invalid
from mlkube.api.labels import validate_labels
from mlkube.api.meta import API_GROUP, API_VERSION, Model
from mlkube.api.namespace import Namespace
from mlkube.api.node import Node
from mlkube.api.pipeline import Pipeline, PipelineSpec
from mlkube.api.pipelinerun import PipelineRun, PipelineRunSpec
from mlkube.api.queueing import ClusterQueue, PriorityClass, ResourceFlavor
from mlkube.api.rbac import RBAC_GROUP, ClusterRoleBinding, RoleBinding
from mlkube.api.resourcequota import NamespaceResourceQuota
from mlkube.api.serving import InferenceService
from mlkube.api.trainingjob import TrainingJob
from mlkube.api.validation import causes_from_validation_error, name_causes, pipeline_causes
from mlkube.api.volumes import PersistentVolumeClaim, volume_causes


@dataclass(frozen=True)
class Kind:
    """One resource type: how it is named in URLs, manifests and the CLI."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    namespaced: bool
    model: type[Model]
    semantic_checks: Callable[[Any], list[Cause]] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """The store's key: `pipelineruns.mlkube.io`, or `namespaces` in the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _pipeline_checks(obj: Any) -> list[Cause]:
    assert isinstance(obj, Pipeline)
    return pipeline_causes(obj.spec, field="spec") + _volume_causes(obj.spec, field="spec")


def _volume_causes(spec: PipelineSpec, *, field: str) -> list[Cause]:
    mounts = [step.volume_mounts for step in spec.steps]
    return volume_causes(spec.volumes, mounts, field=field)


def _run_checks(obj: Any) -> list[Cause]:
    assert isinstance(obj, PipelineRun)
    if obj.spec.pipeline_spec is None:
        return []
    causes = pipeline_causes(obj.spec.pipeline_spec, field="spec.pipelineSpec")
    causes += _volume_causes(obj.spec.pipeline_spec, field="spec.pipelineSpec")
    return causes + param_causes(obj.spec.pipeline_spec, obj.spec, field="spec.params")


def param_causes(pipeline: PipelineSpec, run: PipelineRunSpec, *, field: str) -> list[Cause]:
    """Run parameters must be declared by the pipeline; those without a default must be given."""
    declared = {p.name: p for p in pipeline.params}
    given = {p.name for p in run.params}
    causes = [
        Cause(f"{field}[{i}].name", f"pipeline has no parameter {p.name!r}")
        for i, p in enumerate(run.params)
        if p.name not in declared
    ]
    causes += [
        Cause(field, f"parameter {name!r} has no default and needs a value", "FieldValueRequired")
        for name, spec in declared.items()
        if spec.default is None and name not in given
    ]
    return causes


NAMESPACE = Kind("", "v1", "Namespace", "namespaces", "namespace", ("ns",), False, Namespace)
PIPELINE = Kind(
    API_GROUP,
    API_VERSION,
    "Pipeline",
    "pipelines",
    "pipeline",
    ("pl",),
    True,
    Pipeline,
    _pipeline_checks,
)
PIPELINE_RUN = Kind(
    API_GROUP,
    API_VERSION,
    "PipelineRun",
    "pipelineruns",
    "pipelinerun",
    ("pr", "plr"),
    True,
    PipelineRun,
    _run_checks,
)
NODE = Kind("", "v1", "Node", "nodes", "node", ("no",), False, Node)
ROLE_BINDING = Kind(
    RBAC_GROUP, "v1", "RoleBinding", "rolebindings", "rolebinding", (), True, RoleBinding
)
CLUSTER_ROLE_BINDING = Kind(
    RBAC_GROUP,
    "v1",
    "ClusterRoleBinding",
    "clusterrolebindings",
    "clusterrolebinding",
    (),
    False,
    ClusterRoleBinding,
)
RESOURCE_FLAVOR = Kind(
    API_GROUP,
    API_VERSION,
    "ResourceFlavor",
    "resourceflavors",
    "resourceflavor",
    ("rf",),
    False,
    ResourceFlavor,
)
CLUSTER_QUEUE = Kind(
    API_GROUP,
    API_VERSION,
    "ClusterQueue",
    "clusterqueues",
    "clusterqueue",
    ("cq",),
    False,
    ClusterQueue,
)
PRIORITY_CLASS = Kind(
    "scheduling.k8s.io",
    "v1",
    "PriorityClass",
    "priorityclasses",
    "priorityclass",
    ("pc",),
    False,
    PriorityClass,
)
INFERENCE_SERVICE = Kind(
    API_GROUP,
    API_VERSION,
    "InferenceService",
    "inferenceservices",
    "inferenceservice",
    ("isvc",),
    True,
    InferenceService,
)
TRAINING_JOB = Kind(
    API_GROUP,
    API_VERSION,
    "TrainingJob",
    "trainingjobs",
    "trainingjob",
    ("tj",),
    True,
    TrainingJob,
)
RESOURCE_QUOTA = Kind(
    "",
    "v1",
    "ResourceQuota",
    "resourcequotas",
    "resourcequota",
    ("quota",),
    True,
    NamespaceResourceQuota,
)
PERSISTENT_VOLUME_CLAIM = Kind(
    "",
    "v1",
    "PersistentVolumeClaim",
    "persistentvolumeclaims",
    "persistentvolumeclaim",
    ("pvc",),
    True,
    PersistentVolumeClaim,
)
KINDS: tuple[Kind, ...] = (
    NAMESPACE,
    NODE,
    PIPELINE,
    PIPELINE_RUN,
    ROLE_BINDING,
    CLUSTER_ROLE_BINDING,
    RESOURCE_FLAVOR,
    CLUSTER_QUEUE,
    PRIORITY_CLASS,
    INFERENCE_SERVICE,
    TRAINING_JOB,
    RESOURCE_QUOTA,
    PERSISTENT_VOLUME_CLAIM,
)


def lookup(name: str) -> Kind:
    """Find a kind the way kubectl does: plural, singular, Kind, short name, or `plural.group`."""
    key = name.lower()
    for kind in KINDS:
        names = {kind.plural, kind.singular, kind.kind.lower(), kind.resource, *kind.short_names}
        if key in names:
            return kind
    raise BadRequest(f'the server doesn\'t have a resource type "{name}"')


def by_group_plural(group: str, plural: str) -> Kind | None:
    """The kind served at `/apis/GROUP/VERSION/.../PLURAL` (group "" is the core `/api/v1`)."""
    return next((k for k in KINDS if k.group == group and k.plural == plural), None)


def by_api_version_kind(api_version: str, kind_name: str) -> Kind:
    """The kind a manifest declares, or `BadRequest` naming what is unknown."""
    for kind in KINDS:
        if kind.api_version == api_version and kind.kind == kind_name:
            return kind
    raise BadRequest(
        f'no matches for kind "{kind_name}" in version "{api_version}"',
        kind=kind_name,
    )


def validate(kind: Kind, obj: dict[str, Any]) -> Model:
    """Parse and check an object of `kind`, or raise `Invalid` listing every bad field.

    Checks the envelope (apiVersion, kind, name, labels), the schema (unknown fields, types,
    quantities) and the semantics (references between steps, cycles, parameters).
    """
    name = str((obj.get("metadata") or {}).get("name") or "")
    causes: list[Cause] = []
    if obj.get("apiVersion", kind.api_version) != kind.api_version:
        causes.append(Cause("apiVersion", f"must be {kind.api_version!r} for {kind.plural}"))
    if obj.get("kind", kind.kind) != kind.kind:
        causes.append(Cause("kind", f"must be {kind.kind!r} for {kind.plural}"))
    model: Model | None = None
    try:
        model = kind.model.model_validate(obj)
    except ValidationError as err:
        causes += causes_from_validation_error(err)
    if model is not None:
        meta = getattr(model, "metadata")  # noqa: B009 - every kind has metadata
        if meta.name or not meta.generate_name:
            causes += name_causes(meta.name, field="metadata.name")
        causes += validate_labels(meta.labels)
        if kind.semantic_checks:
            causes += kind.semantic_checks(model)
    if causes:
        raise invalid(kind, name, causes)
    assert model is not None
    return model


def invalid(kind: Kind, name: str, causes: list[Cause]) -> Invalid:
    """The 422 for an object of `kind` named `name`: every cause, in one message and listed."""
    summary = "; ".join(f"{c.field}: {c.message}" for c in causes)
    return Invalid(
        f'{kind.kind} "{name}" is invalid: {summary}',
        kind=kind.kind,
        name=name,
        group=kind.group,
        causes=causes,
    )
