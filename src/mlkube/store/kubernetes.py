"""`KubernetesStore`: the `ResourceStore` seam over a Kubernetes-style API server, through the
official `kubernetes` client (what the operator uses against a real kube-apiserver).

Each method is one REST call (or a few): create = POST, get/list = GET, update = PUT,
update_status = PUT `/status`, patch = PATCH `application/merge-patch+json`, delete = DELETE
with `DeleteOptions.preconditions`. Server-side semantics (validation, admission, finalizers,
generation, no-op writes) are the server's; this class only maps calls and errors.

Differences from the embedded stores, all inherent to talking to a server:
- resource versions are the server's: the counter is shared with every other client;
- `events_since` is a short watch per resource read until quiet, so it costs a round trip
  (and about `quiet` seconds) per resource; with `resource_version=0` it follows Kubernetes
  and sends the current objects as ADDED instead of the full history;
- `subscribe` hears this object's own writes at once (in the writer's thread) and everyone
  else's writes from a per-subscriber thread polling the server's resource version; either
  way each version once.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes.client import ApiClient

from mlkube.api.errors import BadRequest, Invalid, MethodNotAllowed, NotFound, ServiceUnavailable
from mlkube.api.labels import parse_selector
from mlkube.store.base import Watch, WatchEvent
from mlkube.store.kube_http import (
    MERGE_PATCH,
    KubeHttp,
    ResourceInfo,
    Target,
    default_resources,
    namespace_of,
    sorted_by_name,
    version_of,
)
from mlkube.store.kube_watch import VersionPoller, read_watch

__all__ = ["KubernetesStore"]


class KubernetesStore:
    """A `ResourceStore` backed by an API server reached through `api_client`.

    `resources` maps the store's resource keys (`pipelineruns.mlkube.io`, `namespaces`) to
    `(group, version, plural, namespaced)`; by default every kind in `mlkube.api.kinds`.
    The caller owns `api_client` and closes it after `close()`.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        resources: Mapping[str, ResourceInfo] | None = None,
        quiet_seconds: float = 0.25,
        poll_interval: float = 1.0,
    ) -> None:
        table = default_resources() if resources is None else dict(resources)
        self._targets = {key: Target(*info) for key, info in table.items()}
        self._http = KubeHttp(api_client)
        self._quiet = quiet_seconds
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._pollers: dict[int, VersionPoller] = {}  # one per subscriber
        self._next_id = 0
        self._announced = 0
        self._closed = False

    # ---- reads ------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        """GET one object (see `ResourceStore.get`)."""
        target = self._target(resource)
        return self._fill(target, self._http.request("GET", target.path(namespace, name)))

    def list(
        self, resource: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """GET the collection; items get `apiVersion`/`kind`, sorted by (namespace, name)."""
        target = self._target(resource)
        query = {"labelSelector": label_selector} if label_selector else {}
        body = self._http.request("GET", target.path(namespace), query=query)
        return self._items(target, body), version_of(body)

    def current_resource_version(self) -> int:
        """The resource version of a list of the cheapest resource (namespaces if served)."""
        key = "namespaces" if "namespaces" in self._targets else next(iter(self._targets))
        target = self._target(key)
        return version_of(self._http.request("GET", target.path(None), query={"limit": "1"}))

    # ---- writes -----------------------------------------------------------------------

    def create(self, resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """POST to the collection (see `ResourceStore.create`)."""
        target = self._target(resource)
        body = self._http.request("POST", target.path(namespace_of(target, obj)), body=dict(obj))
        return self._wrote(target, body)

    def update(self, resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the object (see `ResourceStore.update`)."""
        return self._put(resource, obj, None)

    def update_status(self, resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the `/status` subresource (see `ResourceStore.update_status`)."""
        return self._put(resource, obj, "status")

    def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """PATCH with a JSON merge patch (see `ResourceStore.patch`)."""
        target = self._target(resource)
        if subresource not in (None, "status"):
            raise BadRequest(f'subresource "{subresource}" is not supported for {resource}')
        path = target.path(namespace, name, subresource)
        answer = self._http.request("PATCH", path, body=dict(patch), content_type=MERGE_PATCH)
        return self._wrote(target, answer)

    def delete(
        self, resource: str, namespace: str, name: str, *, resource_version: str | None = None
    ) -> dict[str, Any]:
        """DELETE with a resourceVersion precondition (see `ResourceStore.delete`)."""
        target = self._target(resource)
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if resource_version:
            options["preconditions"] = {"resourceVersion": resource_version}
        answer = self._http.request("DELETE", target.path(namespace, name), body=options)
        return self._wrote(target, answer)

    def delete_collection(
        self, resource: str, namespace: str | None, *, label_selector: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """DELETE the collection; where the server refuses (namespaces, or every namespace of
        a namespaced resource on a real apiserver), list and delete each. Unlike the embedded
        stores this is not atomic against a real server."""
        target = self._target(resource)
        query = {"labelSelector": label_selector} if label_selector else {}
        try:
            body = self._http.request("DELETE", target.path(namespace), query=query)
        except MethodNotAllowed:
            return self._delete_each(resource, namespace, label_selector)
        items = self._items(target, body)
        if items:
            self._announce(max(version_of(i) for i in items))
        return items

    def _delete_each(
        self, resource: str, namespace: str | None, label_selector: str | None
    ) -> builtins.list[dict[str, Any]]:
        results = []
        for item in self.list(resource, namespace, label_selector=label_selector)[0]:
            meta = item["metadata"]
            try:
                results.append(self.delete(resource, meta.get("namespace", ""), meta["name"]))
            except NotFound:
                continue  # deleted meanwhile by someone else: nothing left to do
        return results

    def _put(
        self, resource: str, obj: Mapping[str, Any], subresource: str | None
    ) -> dict[str, Any]:
        target = self._target(resource)
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise Invalid(
                f"{resource} is invalid: metadata.name: Required value: name is required",
                kind=target.plural,
                group=target.group,
            )
        body = dict(obj)
        if meta.get("resourceVersion") in (None, ""):
            # An absent version makes the update unconditional; JSON null is not absent.
            body["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
        path = target.path(namespace_of(target, obj), name, subresource)
        return self._wrote(target, self._http.request("PUT", path, body=body))

    # ---- events -----------------------------------------------------------------------

    def events_since(
        self,
        resource_version: int,
        *,
        resource: str | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[WatchEvent]:
        """Watch each matching resource from `resource_version` until quiet, merge by version.

        Raises `Expired` when the server has compacted that version away (HTTP 410).
        """
        if limit < 1:
            raise BadRequest(f"invalid limit {limit}: must be at least 1")
        self._check_open()

        def read(target: Target) -> builtins.list[WatchEvent]:
            return read_watch(
                self._http,
                target,
                namespace,
                resource_version=resource_version,
                label_selector=label_selector,
                quiet=self._quiet,
                connect_timeout=10.0,
                server_timeout=max(1, int(self._quiet * 4)),
            )

        targets = self._watch_targets(resource, namespace)
        if len(targets) == 1:
            events = read(targets[0])
        else:  # one watch per resource, side by side: each ends only after `quiet` seconds
            with ThreadPoolExecutor(len(targets), thread_name_prefix="kube-store-watch") as pool:
                events = [e for batch in pool.map(read, targets) for e in batch]
        events.sort(key=lambda e: e.resource_version)
        return events[:limit]

    def _watch_targets(self, resource: str | None, namespace: str | None) -> builtins.list[Target]:
        if resource is not None:
            return [self._target(resource)]
        # A namespace filter excludes cluster-scoped objects (their namespace is "").
        return [t for t in self._targets.values() if t.namespaced or not namespace]

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """Call `callback(version)` after each write by this object (in the writer's thread)
        and, from a background thread, when the server's version rises through others' writes.
        Returns an idempotent unsubscribe that also stops the thread."""
        self._check_open()
        poller = VersionPoller(
            self.current_resource_version,
            callback,
            interval=self._poll_interval,
            start_version=self._announced,
        )
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._pollers[key] = poller

        def unsubscribe() -> None:
            with self._lock:
                found = self._pollers.pop(key, None)
            if found is not None:
                found.stop()

        return unsubscribe

    def watch(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        resource_version: int,
        label_selector: str | None = None,
    ) -> Watch:
        """A blocking `Watch` over `events_since`; a bad selector raises `BadRequest` at once."""
        self._target(resource)
        if label_selector:
            parse_selector(label_selector)
        return Watch(
            self,
            resource,
            namespace,
            resource_version=resource_version,
            label_selector=label_selector,
        )

    def close(self) -> None:
        """Stop every subscriber thread; later calls raise `ServiceUnavailable`. Idempotent.
        The `ApiClient` stays open: it belongs to the caller."""
        with self._lock:
            self._closed = True
            pollers = builtins.list(self._pollers.values())
            self._pollers.clear()
        for poller in pollers:
            poller.stop()

    # ---- helpers ----------------------------------------------------------------------

    def _target(self, resource: str) -> Target:
        self._check_open()
        target = self._targets.get(resource)
        if target is None:
            raise BadRequest(f'the server doesn\'t have a resource type "{resource}"')
        return target

    def _check_open(self) -> None:
        if self._closed:
            raise ServiceUnavailable("the store is closed")

    def _fill(self, target: Target, obj: dict[str, Any], kind: str = "") -> dict[str, Any]:
        obj.setdefault("apiVersion", target.api_version)
        if kind:
            obj.setdefault("kind", kind)
        return obj

    def _items(self, target: Target, body: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        """A list answer's items, filled in and sorted as the contract lists them."""
        kind = str(body.get("kind", "")).removesuffix("List")
        return sorted_by_name([self._fill(target, item, kind) for item in body.get("items") or []])

    def _wrote(self, target: Target, obj: dict[str, Any]) -> dict[str, Any]:
        """Fill in the answer of a write and announce its version if it is a new one."""
        self._announce(version_of(obj))
        return self._fill(target, obj)

    def _announce(self, version: int) -> None:
        # A write that changed nothing answers with an old version: no announcement.
        with self._lock:
            if version <= self._announced:
                return
            self._announced = version
            pollers = builtins.list(self._pollers.values())
        for poller in pollers:
            poller.deliver(version)  # here, in the writer's thread; its poll then skips it
