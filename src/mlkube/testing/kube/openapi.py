"""Minimal OpenAPI v3 documents, only so that kubectl leaves validation to the server.

Before `apply`/`create`, kubectl 1.32 reads `/openapi/v3` and each group version's document
looking for a PATCH operation tagged with the kind's `x-kubernetes-group-version-kind` that
takes a `fieldValidation` query parameter; finding one, it sends `?fieldValidation=Strict`
and lets the server refuse unknown fields (which the fake always does). The documents carry
no schemas, and list only `application/merge-patch+json` as a PATCH body, so kubectl
computes strategic merge patches for built-in kinds from its own Go types (see
`mlkube.server.openapi`, which documents the same behaviour for the embedded API server).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mlkube.testing.kube.resources import SERVED, Served, in_group_version


def _key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index() -> dict[str, Any]:
    """`GET /openapi/v3`: where each group version's document is."""
    keys = {_key(s.group, s.version): (s.group, s.version) for s in SERVED}
    paths = {}
    for key, (group, version) in keys.items():
        digest = hashlib.sha256(json.dumps(document(group, version), sort_keys=True).encode())
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest.hexdigest()[:16]}"}
    return {"paths": paths}


def document_for_path(path: str) -> dict[str, Any] | None:
    """The document at `/openapi/v3/{path}`, or None."""
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[:1] == ["apis"] and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    return document(group, version) if in_group_version(group, version) else None


def document(group: str, version: str) -> dict[str, Any]:
    """One group version's document: an item path with a PATCH operation per resource."""
    paths = {}
    for served in in_group_version(group, version):
        root = f"/{_key(group, version)}"
        namespace = "/namespaces/{namespace}" if served.namespaced else ""
        paths[f"{root}{namespace}/{served.plural}/{{name}}"] = {"patch": _patch(served)}
    title = "Kubernetes (fake)"
    return {"openapi": "3.0.0", "info": {"title": title, "version": "v1"}, "paths": paths}


def _patch(served: Served) -> dict[str, Any]:
    return {
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string"}}
            for name in ("fieldValidation", "dryRun", "fieldManager")
        ],
        "requestBody": {
            "content": {"application/merge-patch+json": {"schema": {"type": "object"}}}
        },
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": served.group,
            "version": served.version,
            "kind": served.kind,
        },
    }
