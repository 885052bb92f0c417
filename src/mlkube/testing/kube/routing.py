"""URL grammar of the fake kube-apiserver (pure): which resource, namespace, name, subresource.

/api/v1/PLURAL[/NAME[/SUB]]                          cluster-scoped, or all namespaces
/api/v1/namespaces/NS/PLURAL[/NAME[/SUB]]            namespaced
/apis/GROUP/VERSION/...                              the same below a named group
"""

from __future__ import annotations

from dataclasses import dataclass

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
    segments = path.strip("/").split("/")
    if segments[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    if not rest or any(not s for s in rest):
        return None
    served = {s.plural: s for s in SERVED if s.group == group and s.version == version}
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in served:
        found = served[rest[2]]
        return _below(found, rest[1], rest[3:]) if found.namespaced else None
    found_or_none = served.get(rest[0])
    if found_or_none is None:
        return None
    if found_or_none.namespaced:
        return Target(found_or_none, None) if len(rest) == 1 else None
    return _below(found_or_none, "", rest[1:])


def _below(served: Served, namespace: str, rest: list[str]) -> Target | None:
    if not rest:
        return Target(served, namespace)
    if len(rest) == 1:
        return Target(served, namespace, rest[0])
    if len(rest) == 2 and rest[1] in served.subresources:
        return Target(served, namespace, rest[0], rest[1])
    return None
