"""Pure rules for how a stored object changes: stamping, preconditions, update, deletion.

Shared by every `ResourceStore` backend so that they agree exactly. Nothing here does I/O or
reads a clock: the time, the uid and the resource version come in as arguments. No function
mutates its arguments; results are new top-level and `metadata` dicts that may share deeper
values with the inputs (the engine serializes them at once, so sharing is safe there).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlkube.api.errors import AlreadyExists, BadRequest, Conflict, Expired, Invalid, NotFound

Obj = dict[str, Any]

# Fields of metadata that only the store writes; a client's values for them are ignored.
_SERVER_OWNED = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
)


def not_found(resource: str, name: str) -> NotFound:
    """`pipelineruns.mlkube.io "x" not found`, with details naming the resource."""
    plural, _, group = resource.partition(".")
    return NotFound(f'{resource} "{name}" not found', kind=plural, name=name, group=group)


def already_exists(resource: str, name: str) -> AlreadyExists:
    """`pipelineruns.mlkube.io "x" already exists`."""
    plural, _, group = resource.partition(".")
    return AlreadyExists(f'{resource} "{name}" already exists', kind=plural, name=name, group=group)


def conflict(resource: str, name: str, reason: str | None = None) -> Conflict:
    """Kubernetes' optimistic-concurrency message, or `reason` after the same prefix."""
    plural, _, group = resource.partition(".")
    reason = reason or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    message = f'Operation cannot be fulfilled on {resource} "{name}": {reason}'
    return Conflict(message, kind=plural, name=name, group=group)


def expired(requested: int, compacted: int) -> Expired:
    """The watch-cache message: the version asked for, and the newest one discarded."""
    return Expired(f"too old resource version: {requested} ({compacted})")


def to_json(obj: Mapping[str, Any]) -> str:
    """Serialize compactly; raises `BadRequest` for values JSON cannot hold (NaN, objects)."""
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"object is not valid JSON: {exc}") from exc


def from_json(text: str) -> Obj:
    """Parse a stored object (always a JSON object)."""
    value: Obj = json.loads(text)
    return value


def format_time(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes timestamps."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata_of(obj: Mapping[str, Any], resource: str) -> Mapping[str, Any]:
    """`obj["metadata"]`, or `Invalid` when it is not an object."""
    meta = obj.get("metadata", {})
    if not isinstance(meta, Mapping):
        raise Invalid(f"{resource} is invalid: metadata must be an object")
    return meta


def namespace_of(obj: Mapping[str, Any], resource: str) -> str:
    """The object's namespace, `""` when absent; `Invalid` when it is not a string."""
    namespace = metadata_of(obj, resource).get("namespace") or ""
    if not isinstance(namespace, str):
        raise Invalid(f"{resource} is invalid: metadata.namespace: must be a string")
    return namespace


def key_of(obj: Mapping[str, Any], resource: str) -> tuple[str, str]:
    """(namespace, name) of an object; `Invalid` when the name is missing or not a string."""
    namespace, name = namespace_of(obj, resource), metadata_of(obj, resource).get("name")
    if not isinstance(name, str) or not name:
        raise Invalid(f"{resource} is invalid: metadata.name: Required value: name is required")
    return namespace, name


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """`metadata.labels`, {} when absent."""
    labels: dict[str, str] = obj.get("metadata", {}).get("labels") or {}
    return labels


def check_preconditions(
    resource: str, stored: Obj, *, resource_version: object = None, uid: object = None
) -> None:
    """Raise `Conflict` if a given uid or resourceVersion is not the stored one."""
    meta = stored["metadata"]
    if uid and uid != meta["uid"]:
        reason = (
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta['uid']}"
        )
        raise conflict(resource, meta["name"], reason)
    if resource_version and str(resource_version) != meta["resourceVersion"]:
        raise conflict(resource, meta["name"])


def new_object(
    obj: Mapping[str, Any], *, name: str, resource_version: int, now: datetime, uid: str
) -> Obj:
    """`obj` as first stored: server-owned metadata set, deletion markers dropped."""
    meta = {k: v for k, v in metadata_of(obj, "").items() if k not in _SERVER_OWNED}
    namespace = obj.get("metadata", {}).get("namespace")
    meta["name"] = name
    if namespace:  # cluster-scoped objects carry no namespace key at all
        meta["namespace"] = namespace
    meta.update(
        uid=uid,
        creationTimestamp=format_time(now),
        resourceVersion=str(resource_version),
        generation=1,
    )
    return {**obj, "metadata": meta}


def updated_object(stored: Obj, incoming: Mapping[str, Any]) -> Obj:
    """The result of replacing `stored` by `incoming`: status and server-owned metadata kept
    from storage, generation + 1 if anything outside metadata and status changed."""
    old_meta = stored["metadata"]
    meta = {k: v for k, v in incoming.get("metadata", {}).items() if k not in _SERVER_OWNED}
    meta.update({k: old_meta[k] for k in _SERVER_OWNED if k in old_meta})
    doc = {k: v for k, v in incoming.items() if k != "status"}
    doc["metadata"] = meta
    if "status" in stored:
        doc["status"] = stored["status"]
    if _content(doc) != _content(stored):
        meta["generation"] = old_meta.get("generation", 1) + 1
    return doc


def with_status(stored: Obj, status: object) -> Obj:
    """`stored` with its status replaced; `None` removes it."""
    doc = {k: v for k, v in stored.items() if k != "status"}
    if status is not None:
        doc["status"] = status
    return doc


def marked_for_deletion(stored: Obj, now: datetime) -> Obj:
    """`stored` with deletionTimestamp set, as Kubernetes marks an object with finalizers."""
    meta = dict(stored["metadata"])
    meta.update(
        deletionTimestamp=format_time(now),
        deletionGracePeriodSeconds=0,
        generation=meta.get("generation", 1) + 1,
    )
    return {**stored, "metadata": meta}


def with_resource_version(doc: Obj, resource_version: int) -> Obj:
    """`doc` stamped with `resource_version` (a string, as Kubernetes sends it)."""
    return {**doc, "metadata": {**doc["metadata"], "resourceVersion": str(resource_version)}}


def is_finalized(doc: Mapping[str, Any]) -> bool:
    """Marked for deletion with no finalizers left: the object must now be removed."""
    meta = doc.get("metadata", {})
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")


def unchanged(stored: Obj, candidate: Obj) -> bool:
    """Whether writing `candidate` would change nothing.

    Dict equality alone treats `1`, `1.0` and `true` as equal; the sorted-JSON check (run only
    when the dicts compare equal, which is the rare case) tells them apart.
    """
    if candidate != stored:
        return False
    return json.dumps(candidate, sort_keys=True) == json.dumps(stored, sort_keys=True)


def _content(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What generation tracks: everything but metadata and status (the CRD rule)."""
    return {k: v for k, v in doc.items() if k not in ("metadata", "status")}
