"""Other projects' custom resources (`resources.ADDONS`, e.g. the VerticalPodAutoscaler),
served by the fake kube-apiserver only while their CustomResourceDefinition is stored.

As on a cluster where an admin installs the CRD: before, its URLs answer 404 (so an operator
can be tested both where the CRD is installed and where it is not); after, objects are
validated against the schema of the stored CRD's version (`openAPIV3Schema`, with
`jsonschema`: types, enums, required fields; unknown fields are kept, not pruned).
Discovery (`/apis`) lists these kinds whether or not the CRD is stored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from mlkube.api.errors import ApiError, Cause
from mlkube.store.base import ResourceStore
from mlkube.testing.kube.resources import Served
from mlkube.testing.kube.validation import field_path, invalid

__all__ = ["CRD_RESOURCE", "crd_name", "served_version_schema", "validate_addon"]

CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


def crd_name(served: Served) -> str:
    """The name a CRD defining `served` has: `<plural>.<group>`."""
    return f"{served.plural}.{served.group}"


def served_version_schema(store: ResourceStore, served: Served) -> dict[str, Any] | None:
    """The stored CRD's schema for `served.version` when the CRD exists and serves that
    version (an empty schema when it gives none); None when it is not installed."""
    try:
        crd = store.get(CRD_RESOURCE, "", crd_name(served))
    except ApiError:
        return None
    for version in (crd.get("spec") or {}).get("versions") or []:
        if version.get("name") == served.version and version.get("served"):
            schema: dict[str, Any] = (version.get("schema") or {}).get("openAPIV3Schema") or {}
            return schema
    return None


def validate_addon(
    schema: Mapping[str, Any], served: Served, obj: Mapping[str, Any]
) -> dict[str, Any]:
    """The object to store, or `Invalid` naming the first field `schema` refuses."""
    candidate = copy.deepcopy(dict(obj))
    errors = sorted(
        jsonschema.Draft7Validator(dict(schema)).iter_errors(candidate), key=lambda e: list(e.path)
    )
    if errors:
        err = errors[0]
        name = str((candidate.get("metadata") or {}).get("name") or "")
        cause = Cause(field_path(err.path), f"Invalid value: {err.message}", "FieldValueInvalid")
        raise invalid(served, name, [cause])
    return candidate
