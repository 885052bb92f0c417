"""CustomResourceDefinitions (`apiextensions.k8s.io/v1`) for every kind of the `mlkube.io` group.

Kinds of other groups (core `v1`, `rbac.authorization.k8s.io`, `scheduling.k8s.io`) are
Kubernetes' own and get no CRD. Names, scope and short names come from the kind table
(`mlkube.api.kinds.KINDS`); the schema from the kind's pydantic model (see `schema`).
"""

from __future__ import annotations

from typing import Any

from mlkube.api.kinds import KINDS, Kind
from mlkube.api.meta import API_GROUP
from mlkube.install.schema import structural_schema

CATEGORY = "mlkube"
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

# Columns `kubectl get` shows; priority 1 only with `-o wide`. Age last, as kubectl does.
PRINTER_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "Pipeline": [
        {"name": "Description", "type": "string", "jsonPath": ".spec.description", "priority": 1},
    ],
    "PipelineRun": [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Pipeline", "type": "string", "jsonPath": ".spec.pipelineRef.name"},
        {"name": "Queue", "type": "string", "jsonPath": ".status.queue", "priority": 1},
        {"name": "Started", "type": "date", "jsonPath": ".status.startTime", "priority": 1},
    ],
    "TrainingJob": [
        {"name": "Workers", "type": "integer", "jsonPath": ".spec.workers"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Restarts", "type": "integer", "jsonPath": ".status.restarts"},
        {"name": "Queue", "type": "string", "jsonPath": ".status.queue", "priority": 1},
    ],
    "ResourceFlavor": [
        {"name": "GPU Model", "type": "string", "jsonPath": ".spec.gpuModel"},
    ],
    "ClusterQueue": [
        {"name": "Cohort", "type": "string", "jsonPath": ".spec.cohort"},
        {"name": "Strategy", "type": "string", "jsonPath": ".spec.queueingStrategy", "priority": 1},
        {"name": "Admitted", "type": "integer", "jsonPath": ".status.admittedWorkloads"},
        {"name": "Pending", "type": "integer", "jsonPath": ".status.pendingWorkloads"},
    ],
}


def crd_kinds() -> list[Kind]:
    """The kinds that need a CRD: those of our own API group, in the kind table's order."""
    return [kind for kind in KINDS if kind.group == API_GROUP]


def custom_resource_definitions() -> list[dict[str, Any]]:
    """One CRD per kind of `crd_kinds()`."""
    return [custom_resource_definition(kind) for kind in crd_kinds()]


def custom_resource_definition(kind: Kind) -> dict[str, Any]:
    """The CRD for `kind`: one served and stored version, status as a subresource if any."""
    schema = crd_schema(kind)
    version: dict[str, Any] = {
        "name": kind.version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "additionalPrinterColumns": [*PRINTER_COLUMNS.get(kind.kind, []), _AGE],
    }
    if "status" in schema["properties"]:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.resource,
            "labels": {"app.kubernetes.io/part-of": "mlkube"},
        },
        "spec": {
            "group": kind.group,
            "names": _names(kind),
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "versions": [version],
        },
    }


def crd_schema(kind: Kind) -> dict[str, Any]:
    """The `openAPIV3Schema` of `kind`: the model's schema with the CRD envelope at the top.

    `apiVersion` and `kind` are plain strings and `metadata` is `type: object`: the apiserver
    checks and fills those itself.
    """
    schema = structural_schema(kind.model)
    envelope = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
    }
    body = {k: v for k, v in schema["properties"].items() if k not in envelope}
    schema["properties"] = {**envelope, **body}
    required = [name for name in schema.get("required", []) if name in body]
    schema.pop("required", None)
    if required:
        schema["required"] = required
    return schema


def _names(kind: Kind) -> dict[str, Any]:
    names: dict[str, Any] = {
        "plural": kind.plural,
        "singular": kind.singular,
        "kind": kind.kind,
        "listKind": f"{kind.kind}List",
    }
    if kind.short_names:
        names["shortNames"] = list(kind.short_names)
    names["categories"] = [CATEGORY]
    return names
