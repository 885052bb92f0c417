"""The fake cluster's garbage collector: dependents whose owner is gone, and the content of
deleted namespaces, are deleted (background cascading; `Foreground` is treated the same)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mlkube.api.errors import ApiError
from mlkube.store.base import ResourceStore
from mlkube.testing.kube.resources import NAMESPACE, SERVED, by_kind

log = logging.getLogger(__name__)


class GarbageCollector:
    """Deletes orphaned dependents and namespaced objects of deleted namespaces."""

    def __init__(self, store: ResourceStore) -> None:
        self._store = store

    def reconcile(self) -> None:
        """One pass over every served resource."""
        namespaces = {n["metadata"]["name"] for n in self._store.list(NAMESPACE.resource)[0]}
        for served in SERVED:
            for obj in self._store.list(served.resource)[0]:
                meta = obj["metadata"]
                gone_namespace = served.namespaced and meta.get("namespace") not in namespaces
                if gone_namespace or self._orphaned(obj):
                    try:
                        self._store.delete(served.resource, meta.get("namespace", ""), meta["name"])
                    except ApiError as err:
                        log.debug("collecting %s: %s", meta["name"], err)

    def _orphaned(self, obj: Mapping[str, Any]) -> bool:
        """Whether every owner the object names is gone (an object with none is not)."""
        refs = obj["metadata"].get("ownerReferences") or []
        return bool(refs) and not any(self._exists(obj, ref) for ref in refs)

    def _exists(self, obj: Mapping[str, Any], ref: Mapping[str, Any]) -> bool:
        served = by_kind(str(ref.get("apiVersion")), str(ref.get("kind")))
        if served is None:
            return True  # an owner of a kind the fake does not serve: leave the object alone
        namespace = obj["metadata"].get("namespace", "") if served.namespaced else ""
        try:
            owner = self._store.get(served.resource, namespace, str(ref.get("name")))
        except ApiError:
            return False
        return bool(owner["metadata"].get("uid") == ref.get("uid"))
