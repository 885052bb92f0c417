"""Finalizers, the Kubernetes way: a controller marks what it must clean up before the store
may delete an object, and unmarks it when the clean-up is done."""

from __future__ import annotations

from typing import Any

from mlkube.api.errors import Conflict, NotFound
from mlkube.store.base import ResourceStore

__all__ = ["add_finalizer", "remove_finalizer"]


def add_finalizer(
    store: ResourceStore, resource: str, obj: dict[str, Any], finalizer: str
) -> dict[str, Any]:
    """Mark `obj` with `finalizer` (a write with optimistic concurrency); returns the stored
    object. The caller checks that the mark is missing first."""
    meta = obj["metadata"]
    meta["finalizers"] = [*meta.get("finalizers", []), finalizer]
    return store.update(resource, obj)


def remove_finalizer(
    store: ResourceStore, resource: str, obj: dict[str, Any], finalizer: str
) -> bool:
    """Unmark `obj`, letting the store delete it once no finalizer is left. False when the
    write lost a race (reconcile again); an object already gone counts as done."""
    meta = obj["metadata"]
    meta["finalizers"] = [f for f in meta.get("finalizers", []) if f != finalizer]
    try:
        store.update(resource, obj)
    except Conflict:
        return False
    except NotFound:
        pass
    return True
