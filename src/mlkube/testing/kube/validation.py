"""Validating what the fake kube-apiserver stores, as a kube-apiserver would refuse it.

Built-in objects are checked by `kubernetes_validate` (the upstream OpenAPI schemas, strict:
unknown fields are errors); our custom resources by `mlkube.api.kinds.validate`, the same
models the CRD schemas are generated from. A refusal is a 422 `Invalid` whose message and
`details.causes` follow the kube-apiserver's shape:
`Deployment.apps "web" is invalid: spec.replicas: Invalid value: "x": ...`.

`kubernetes_validate` stops at the first schema error, so a built-in refusal names one field;
the checks upstream makes in code are in `semantics`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]

from mlkube.api.errors import Cause, Invalid
from mlkube.api.validation import name_causes
from mlkube.server.objects import validated
from mlkube.testing.kube.resources import RBAC, Served
from mlkube.testing.kube.semantics import semantic_causes

DEFAULT_KUBERNETES_VERSION: str = kubernetes_validate.latest_version()
# Metadata the models of our kinds do not declare but a kube-apiserver keeps on every object.
_EXTRA_METADATA = ("ownerReferences", "managedFields", "selfLink")


def validate(served: Served, obj: Mapping[str, Any], *, version: str) -> dict[str, Any]:
    """The object to store, or `Invalid` naming the offending field.

    Custom resources come back normalized by their model (defaults filled in), as the
    embedded API stores them; built-in objects come back unchanged.
    """
    if served.crd is not None:
        return _validate_custom(served, obj)
    candidate = copy.deepcopy(dict(obj))
    causes = _name_causes(served, candidate)
    if not causes:
        causes = _schema_causes(candidate, version)
    if not causes:
        causes = semantic_causes(served.kind, candidate)
    if causes:
        raise invalid(served, _name_of(candidate), causes)
    return candidate


def invalid(served: Served, name: str, causes: list[Cause]) -> Invalid:
    """The kube-apiserver's 422: `Kind.group "name" is invalid: field: message; ...`."""
    qualified = f"{served.kind}.{served.group}" if served.group else served.kind
    summary = ", ".join(f"{c.field}: {c.message}" for c in causes)
    return Invalid(
        f'{qualified} "{name}" is invalid: {summary}',
        kind=served.kind,
        name=name,
        group=served.group,
        causes=causes,
    )


def _validate_custom(served: Served, obj: Mapping[str, Any]) -> dict[str, Any]:
    assert served.crd is not None
    candidate = copy.deepcopy(dict(obj))
    meta = candidate.get("metadata")
    kept = {}
    if isinstance(meta, dict):
        kept = {k: meta.pop(k) for k in _EXTRA_METADATA if k in meta}
    _, stored = validated(served.crd, candidate)
    stored["metadata"].update(kept)
    return stored


def _name_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name") or meta.get("generateName") or "") if isinstance(meta, dict) else ""


def _name_causes(served: Served, obj: Mapping[str, Any]) -> list[Cause]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or served.group == RBAC:
        return []  # RBAC names may hold ':' (system:...); the schema still checks the rest
    name = meta.get("name")
    if not name and meta.get("generateName"):
        return []
    label = served.kind in ("Namespace", "Service")
    return name_causes(name if isinstance(name, str) else None, field="metadata.name", label=label)


def _schema_causes(obj: dict[str, Any], version: str) -> list[Cause]:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [_cause(err)]
    return []


def _cause(err: Any) -> Cause:
    """One jsonschema error as a kube-apiserver field error."""
    path = list(err.path)
    instance = err.instance
    if err.validator == "additionalProperties" and isinstance(instance, dict):
        known = err.schema.get("properties") or {}
        unknown = sorted(k for k in instance if k not in known)
        field = field_path([*path, unknown[0]] if unknown else path)
        return Cause(field, f'unknown field "{field}"', "FieldValueInvalid")
    if err.validator == "required" and isinstance(instance, dict):
        missing = [r for r in err.validator_value if r not in instance]
        return Cause(field_path([*path, *missing[:1]]), "Required value", "FieldValueRequired")
    if err.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in err.validator_value)
        message = f"Unsupported value: {json.dumps(instance)}: supported values: {allowed}"
        return Cause(field_path(path), message, "FieldValueNotSupported")
    return Cause(
        field_path(path),
        f"Invalid value: {json.dumps(instance)[:200]}: {err.message}",
        "FieldValueInvalid",
    )


def field_path(parts: Iterable[Any]) -> str:
    """`["spec", "containers", 0, "image"]` → `spec.containers[0].image`."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
