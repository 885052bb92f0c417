"""Server-side printing: `Table` responses, as `kubectl get` asks for them.

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io, application/json` and
prints whatever columns the server returns. Answering with a `meta.k8s.io/v1` `Table` built
from the same column functions as `mlkube get` (`mlkube.api.columns`) makes both show the
same columns; a client that does not ask gets plain objects, as before.

Each row carries the object as `includeObject` asks: `Metadata` (the default, a
`PartialObjectMetadata`, enough for kubectl's NAMESPACE column and `--show-labels`), `Object`
(the whole object) or `None`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from mlkube.api.columns import columns_for
from mlkube.api.errors import BadRequest
from mlkube.api.kinds import Kind

TABLE_VERSIONS = ("v1", "v1beta1")  # meta.k8s.io versions of Table; both have this shape
INCLUDE_OBJECT = ("None", "Metadata", "Object")

_DESCRIPTIONS = {
    "NAME": "Name must be unique within a namespace.",
    "AGE": "Time since the object was created (metadata.creationTimestamp).",
}


def table_version(accept: str) -> str | None:
    """The `meta.k8s.io` Table version the client prefers, or None when it asks for objects.

    The first media range we can serve wins, in the order given (kubectl lists its Table
    ranges first and plain JSON last, as the fallback)."""
    for media_range in accept.split(","):
        media, *params = (part.strip() for part in media_range.split(";"))
        if media not in ("application/json", "*/*", "application/*"):
            continue
        values = dict(p.split("=", 1) for p in params if "=" in p)
        if "as" not in values:
            return None  # plain objects are acceptable
        wanted = (values["as"], values.get("g"), values.get("v"))
        if wanted[:2] == ("Table", "meta.k8s.io") and wanted[2] in TABLE_VERSIONS:
            return values["v"]
    return None


def include_object(params: Mapping[str, str]) -> str:
    value = params.get("includeObject") or "Metadata"
    if value not in INCLUDE_OBJECT:
        raise BadRequest(
            f"includeObject: unsupported value {value!r}; supported: {', '.join(INCLUDE_OBJECT)}"
        )
    return value


def column_definitions(kind: Kind) -> list[dict[str, Any]]:
    headers, _ = columns_for(kind.kind)
    return [
        {
            "name": header.capitalize() if header.isalpha() else header,
            "type": "string",
            "format": "name" if header == "NAME" else "",
            "description": _DESCRIPTIONS.get(header, header.capitalize()),
            "priority": 0,
        }
        for header in headers
    ]


def table(
    kind: Kind,
    items: Iterable[Mapping[str, Any]],
    *,
    version: str,
    resource_version: str,
    include: str,
    now: datetime | None = None,
    headers: bool = True,
) -> dict[str, Any]:
    """A `Table` of `items`; without `headers` the column definitions are left out, as the
    API server does for watch events after the first."""
    _, row = columns_for(kind.kind)
    rows = []
    for obj in items:
        entry: dict[str, Any] = {"cells": row(dict(obj), now)}
        if include == "Object":
            entry["object"] = obj
        elif include == "Metadata":
            entry["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": f"meta.k8s.io/{version}",
                "metadata": obj.get("metadata") or {},
            }
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions(kind) if headers else [],
        "rows": rows,
    }
