"""Owner references: how the fake controllers mark and find what they created (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The controller reference a dependent of `owner` carries."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of the object's controlling owner, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def by_controller(objects: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Objects grouped by their controlling owner's uid (those without one are left out)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        uid = controller_uid(obj)
        if uid is not None:
            grouped.setdefault(uid, []).append(obj)
    return grouped


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
