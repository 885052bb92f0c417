"""URL grammar of the fake kube-apiserver (pure): which resource, namespace, name, subresource.

/api/v1/PLURAL[/NAME[/SUB]]                          cluster-scoped, or all namespaces
/api/v1/namespaces/NS/PLURAL[/NAME[/SUB]]            namespaced
/apis/GROUP/VERSION/...                              the same below a named group
"""

from __future__ import annotations

from dataclasses import dataclass

from mlkube.server.routing import match_resource_path
from mlkube.testing.kube.resources import SERVED, Served

COLLECTION = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}
ITEM = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
SUBRESOURCE = {"GET": "get", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class Target:
    """What a request addresses. `namespace` is "" for cluster-scoped resources and None
    for a namespaced collection across all namespaces."""

    served: Served
    namespace: str | None
    name: str | None = None
    subresource: str | None = None

    def verb(self, method: str) -> str | None:
        """The Kubernetes verb for an HTTP method here, or None when it is not allowed."""
        if self.subresource is not None:
            if self.subresource == "log":
                return "get" if method == "GET" else None
            return SUBRESOURCE.get(method)
        if self.name is None:
            verb = COLLECTION.get(method)
            if self.served.namespaced and self.namespace is None and verb != "list":
                return None  # the all-namespaces collection is read-only
            return verb
        return ITEM.get(method)


def parse(path: str) -> Target | None:
    """The target of a resource URL, or None when the path names no served resource."""
    match = match_resource_path(path, SERVED, lambda served: served.subresources)
    return None if match is None else Target(*match)
