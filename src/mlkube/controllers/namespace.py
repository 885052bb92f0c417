"""The Namespace controller: deleting a namespace deletes everything in it, then the namespace.

The API server gives every namespace the finalizer `mlkube.io/namespace`; when one is deleted,
this controller deletes each namespaced collection (their own finalizers stop running work
first) and removes the finalizer once nothing is left, as Kubernetes' namespace controller does.
"""

from __future__ import annotations

from mlkube.api.errors import Conflict, NotFound
from mlkube.api.kinds import KINDS, NAMESPACE
from mlkube.store.base import ResourceStore

FINALIZER = "mlkube.io/namespace"


class NamespaceController:
    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def reconcile(self, name: str) -> float | None:
        """Finish deleting namespace `name` if it is being deleted; returns a requeue delay."""
        try:
            obj = self.store.get(NAMESPACE.resource, "", name)
        except NotFound:
            return None
        if not obj["metadata"].get("deletionTimestamp"):
            return None
        if (obj.get("status") or {}).get("phase") != "Terminating":
            obj["status"] = {"phase": "Terminating"}
            obj = self.store.update_status(NAMESPACE.resource, obj)
        remaining = 0
        for kind in KINDS:
            if kind.namespaced:
                self.store.delete_collection(kind.resource, name)
                remaining += len(self.store.list(kind.resource, name)[0])
        if remaining:
            return 0.5
        obj["metadata"]["finalizers"] = [
            f for f in obj["metadata"].get("finalizers", []) if f != FINALIZER
        ]
        try:
            self.store.update(NAMESPACE.resource, obj)
        except Conflict:
            return 0.0
        except NotFound:
            pass
        return None
