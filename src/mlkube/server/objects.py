"""From a request body to the object that gets validated and stored (pure functions).

The server owns some metadata (uid, resourceVersion, generation, timestamps); users own the
rest. These helpers fill the envelope, reconcile the URL with `metadata`, drop what a user may
not set, and build the candidate object of a status write or a merge patch, so that every
write path validates exactly the object it is about to store.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from mlkube.api.errors import BadRequest
from mlkube.api.kinds import Kind, validate
from mlkube.api.meta import Model
from mlkube.store.merge_patch import apply_merge_patch

# Set by the store on create; a client's values (say, from `get -o yaml`) are ignored.
_SERVER_SET_ON_CREATE = ("uid", "generation", "creationTimestamp", "deletionTimestamp")
# Server-managed metadata the models do not declare: kept aside while validating, put back.
_UNMODELLED = ("deletionGracePeriodSeconds",)
# Kubernetes metadata we do not serve; clients (kubectl) may send them back, so drop them.
_IGNORED = ("selfLink", "managedFields")


def parse_json_object(raw: bytes, *, what: str = "request body") -> dict[str, Any]:
    """The JSON object in `raw`, or `BadRequest` saying why it is not one."""
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadRequest(f"the {what} is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"the {what} must be a JSON object, not {type(value).__name__}")
    return value


def for_create(kind: Kind, body: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The object a create request asks for: envelope filled, namespace from the URL, no
    `status` (the system writes it) and no server-set metadata."""
    obj = _enveloped(kind, body, namespace)
    meta = obj["metadata"]
    if meta.get("resourceVersion"):
        raise BadRequest("resourceVersion should not be set on objects to be created")
    for key in _SERVER_SET_ON_CREATE + _UNMODELLED:
        meta.pop(key, None)
    obj.pop("status", None)
    return obj


def for_update(kind: Kind, body: Mapping[str, Any], namespace: str, name: str) -> dict[str, Any]:
    """The object a PUT of the main resource asks for; `status` is dropped (the store keeps
    the stored one), `metadata.resourceVersion` stays as the precondition."""
    obj = _enveloped(kind, body, namespace)
    _check_name(obj["metadata"], name)
    obj.pop("status", None)
    return obj


def status_candidate(
    kind: Kind, current: Mapping[str, Any], body: Mapping[str, Any], namespace: str, name: str
) -> dict[str, Any]:
    """The object a PUT of `/status` would leave: the stored object with the body's status,
    and the body's `resourceVersion` / `uid` as preconditions (absent: unconditional)."""
    sent = _enveloped(kind, body, namespace)
    _check_name(sent["metadata"], name)
    candidate = copy.deepcopy(dict(current))
    _set_status(candidate, sent.get("status"))
    meta = candidate["metadata"]
    meta.pop("resourceVersion", None)
    for key in ("resourceVersion", "uid"):
        if sent["metadata"].get(key):
            meta[key] = sent["metadata"][key]
    return candidate


def patch_candidate(
    current: Mapping[str, Any], patch: Mapping[str, Any], *, status_only: bool
) -> dict[str, Any]:
    """The object a merge patch would leave.

    The main resource ignores changes to `status`, the status subresource ignores changes to
    anything else (as in Kubernetes). A `metadata.resourceVersion` in the patch is the
    precondition; otherwise the current one is. Renaming is refused.
    """
    base = copy.deepcopy(dict(current))
    merged = apply_merge_patch(base, copy.deepcopy(dict(patch)))
    if not isinstance(merged.get("metadata"), dict):
        raise BadRequest("a patch must not remove metadata")
    if status_only:
        candidate = copy.deepcopy(dict(current))
        _set_status(candidate, merged.get("status"))
    else:
        candidate = merged
        _set_status(candidate, current.get("status"))
    meta, old = candidate["metadata"], current["metadata"]
    for key in ("name", "namespace"):
        if meta.get(key) != old.get(key):
            raise BadRequest(f"metadata.{key} cannot be changed by a patch")
    patch_meta = patch.get("metadata")
    wanted = patch_meta.get("resourceVersion") if isinstance(patch_meta, dict) else None
    meta["resourceVersion"] = wanted or old.get("resourceVersion")
    return candidate


def validated(kind: Kind, obj: Mapping[str, Any]) -> tuple[Model, dict[str, Any]]:
    """Validate `obj` as `kind` (raises `Invalid`) and return the model and the normalized
    object to store: `model.to_dict()` plus the server-managed metadata the model lacks."""
    candidate = copy.deepcopy(dict(obj))
    meta = candidate.get("metadata")
    kept = {}
    if isinstance(meta, dict):
        kept = {k: meta.pop(k) for k in _UNMODELLED if k in meta}
        for key in _IGNORED:
            meta.pop(key, None)
    model = validate(kind, candidate)
    stored = model.to_dict()
    stored["metadata"].update(kept)
    return model, stored


def list_body(kind: Kind, items: list[dict[str, Any]], resource_version: int) -> dict[str, Any]:
    """A Kubernetes list (`PipelineRunList`) holding `items`, taken at `resource_version`."""
    return {
        "apiVersion": kind.api_version,
        "kind": f"{kind.kind}List",
        "metadata": {"resourceVersion": str(resource_version)},
        "items": items,
    }


def _enveloped(kind: Kind, body: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """A copy of `body` with apiVersion/kind filled and the URL's namespace checked and set."""
    obj = copy.deepcopy(dict(body))
    obj.setdefault("apiVersion", kind.api_version)
    obj.setdefault("kind", kind.kind)
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise BadRequest("metadata must be a JSON object")
    if not kind.namespaced:
        meta.pop("namespace", None)  # cluster-scoped: Kubernetes clears it
        return obj
    if meta.get("namespace") not in (None, "", namespace):
        raise BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["namespace"] = namespace
    return obj


def _check_name(meta: dict[str, Any], name: str) -> None:
    sent = meta.setdefault("name", name)
    if sent != name:
        raise BadRequest(
            f"the name of the object ({sent}) does not match the name on the URL ({name})"
        )


def _set_status(obj: dict[str, Any], status: Any) -> None:
    if status is None:
        obj.pop("status", None)
    else:
        obj["status"] = status
