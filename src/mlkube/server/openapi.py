"""OpenAPI v3 documents (`GET /openapi/v3` and `/openapi/v3/api/v1`, `/openapi/v3/apis/G/V`).

kubectl reads them before `apply`/`create`/`replace` (kubectl 1.32 asks for v3 first, and for
v2 only as protobuf, which we do not serve). What it looks for, and what these documents give:

- per kind, a PATCH operation tagged `x-kubernetes-group-version-kind` with a `fieldValidation`
  query parameter: kubectl then leaves validation to the server (`?fieldValidation=Strict`)
  instead of downloading schemas to validate on the client. Our models always refuse unknown
  fields, so every `fieldValidation` value is served as Strict;
- the PATCH body's media types: only `application/merge-patch+json`. Listing
  `application/strategic-merge-patch+json` would make kubectl compute strategic merge patches
  from these schemas; without it, custom kinds get a JSON merge patch and built-in kinds
  (Namespace) a strategic merge patch from kubectl's own Go types (see `writes.patch`);
- the schemas of our kinds, from the pydantic models (`kubectl explain`, other clients).

Everything is built by pure functions from the kind table; `hash` makes the per-group URLs
cacheable, as in Kubernetes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from pydantic.json_schema import models_json_schema

from mlkube.api.kinds import KINDS, Kind
from mlkube.server.discovery import KUBE_MAJOR, KUBE_MINOR

REF = "#/components/schemas/{model}"
STATUS_REF = "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Status"
_QUERY = ("fieldValidation", "dryRun", "fieldManager")
# A minimal `Status` schema: every error body is one (see `mlkube.server.errors`).
_STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "status": {"type": "string"},
        "message": {"type": "string"},
        "reason": {"type": "string"},
        "code": {"type": "integer", "format": "int32"},
        "details": {"type": "object"},
        "metadata": {"type": "object"},
    },
}


def group_version_path(group: str, version: str) -> str:
    """The index key of a group version: `api/v1` or `apis/GROUP/VERSION` (no leading /)."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def served_group_versions(kinds: Sequence[Kind] = KINDS) -> list[tuple[str, str]]:
    """Every (group, version) with at least one kind, in kind-table order."""
    seen: list[tuple[str, str]] = []
    for kind in kinds:
        if (kind.group, kind.version) not in seen:
            seen.append((kind.group, kind.version))
    return seen


def index(kinds: Sequence[Kind] = KINDS) -> dict[str, Any]:
    """`GET /openapi/v3`: where each group version's document is, with its content hash."""
    paths = {
        key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={document_hash(doc)}"}
        for key, doc in _documents(tuple(kinds)).items()
    }
    return {"paths": paths}


@functools.cache
def _documents(kinds: tuple[Kind, ...]) -> dict[str, dict[str, Any]]:
    """Every group version's document by index key, built once per kind table: generating
    the schemas takes tens of milliseconds, and kubectl asks before every `apply`. Callers
    share the cached documents and must not modify them."""
    return {
        group_version_path(group, version): document(group, version, kinds)
        for group, version in served_group_versions(kinds)
    }


def document_hash(doc: dict[str, Any]) -> str:
    """A stable hash of a document (upper-case hex, as Kubernetes writes it)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha512(text.encode()).hexdigest()[:128].upper()


def document_for_path(path: str, kinds: Sequence[Kind] = KINDS) -> dict[str, Any] | None:
    """The document at `/openapi/v3/PATH` (`api/v1`, `apis/G/V`), or None when none is."""
    return _documents(tuple(kinds)).get(path.strip("/"))


def document(group: str, version: str, kinds: Sequence[Kind] = KINDS) -> dict[str, Any]:
    """The OpenAPI v3 document of one group version: its kinds' paths and schemas."""
    served = [k for k in kinds if k.group == group and k.version == version]
    paths: dict[str, Any] = {}
    for kind in served:
        paths.update(kind_paths(kind))
    return {
        "openapi": "3.0.0",
        "info": {"title": "mlkube", "version": f"v{KUBE_MAJOR}.{KUBE_MINOR}.0"},
        "paths": paths,
        "components": {"schemas": schemas(served)},
    }


def schema_name(kind: Kind) -> str:
    """A kind's schema name, Kubernetes style: `io.mlkube.v1alpha1.Pipeline`."""
    reversed_group = ".".join(reversed(kind.group.split("."))) if kind.group else "io.k8s.api.core"
    return f"{reversed_group}.{kind.version}.{kind.kind}"


def schemas(kinds: Sequence[Kind]) -> dict[str, Any]:
    """The kinds' JSON schemas (from the models, by alias) and the `Status` schema."""
    out: dict[str, Any] = {STATUS_REF.rsplit("/", 1)[1]: _STATUS_SCHEMA}
    if not kinds:
        return out
    keyed, defs = models_json_schema(
        [(k.model, "validation") for k in kinds], by_alias=True, ref_template=REF
    )
    out.update({name: openapi_30(body) for name, body in defs.get("$defs", {}).items()})
    for kind in kinds:
        ref = keyed[(kind.model, "validation")]["$ref"]
        body = dict(out.pop(ref.rsplit("/", 1)[1]))
        body["x-kubernetes-group-version-kind"] = [_gvk(kind)]
        out[schema_name(kind)] = body
    return out


def openapi_30(schema: Any) -> Any:
    """A pydantic (JSON Schema 2020-12) schema in the OpenAPI 3.0 dialect kubectl parses:
    numeric `exclusiveMinimum`/`exclusiveMaximum` become a bound plus a boolean flag,
    `const` becomes a one-value `enum`, and `anyOf [X, null]` becomes X with `nullable`."""
    if isinstance(schema, list):
        return [openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: openapi_30(value) for key, value in schema.items()}
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[bound], out[exclusive] = value, True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        out.pop("anyOf")
        out["nullable"] = True
        if len(rest) == 1:
            out.update({k: v for k, v in rest[0].items() if k not in out})
        else:
            out["anyOf"] = rest
    return out


def kind_paths(kind: Kind) -> dict[str, Any]:
    """The collection and item paths of one kind, with get/post and get/put/patch/delete."""
    prefix = "/apis/" + kind.api_version if kind.group else "/api/" + kind.version
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    collection = f"{prefix}{scope}/{kind.plural}"
    ref = {"$ref": REF.format(model=schema_name(kind))}
    return {
        collection: {
            "get": _operation(kind, "list", {"type": "object"}),
            "post": _operation(kind, "post", ref, body={"application/json": ref}),
        },
        collection + "/{name}": {
            "get": _operation(kind, "get", ref),
            "put": _operation(kind, "put", ref, body={"application/json": ref}),
            "patch": _operation(
                kind, "patch", ref, body={"application/merge-patch+json": {"type": "object"}}
            ),
            "delete": _operation(kind, "delete", {"type": "object"}),
        },
    }


def _operation(
    kind: Kind, action: str, answer: dict[str, Any], *, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{action}{kind.kind}",
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": answer}}},
            "default": {
                "description": "a Status",
                "content": {"application/json": {"schema": {"$ref": STATUS_REF}}},
            },
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(kind),
    }
    if body is not None:
        op["requestBody"] = {"content": {t: {"schema": s} for t, s in body.items()}}
        op["parameters"] = [
            {"name": name, "in": "query", "schema": {"type": "string"}} for name in _QUERY
        ]
    return op


def _gvk(kind: Kind) -> dict[str, str]:
    return {"group": kind.group, "version": kind.version, "kind": kind.kind}
