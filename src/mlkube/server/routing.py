"""Kubernetes REST paths → which kind, namespace, name and subresource a request is about.

Pure functions over strings and the kind table, so the URL grammar is unit-tested without
sockets:

    /api/v1/namespaces[/NAME[/status]]                           core, cluster-scoped
    /apis/GROUP/VERSION/PLURAL                                   all namespaces (or cluster kind)
    /apis/GROUP/VERSION/PLURAL/NAME[/SUB]                        cluster-scoped kind
    /apis/GROUP/VERSION/namespaces/NS/PLURAL[/NAME[/SUB]]        namespaced kind
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mlkube.api.kinds import KINDS, PIPELINE_RUN, TRAINING_JOB, Kind

Scope = Literal["collection", "item", "subresource"]

# Verbs as discovery names them; the HTTP method each maps to is in `METHODS`.
COLLECTION_VERBS = ("list", "watch", "create", "deletecollection")
ITEM_VERBS = ("get", "update", "patch", "delete")
METHODS = {
    ("collection", "GET"): "list",
    ("collection", "POST"): "create",
    ("collection", "DELETE"): "deletecollection",
    ("item", "GET"): "get",
    ("item", "PUT"): "update",
    ("item", "PATCH"): "patch",
    ("item", "DELETE"): "delete",
}


@dataclass(frozen=True)
class ResourcePath:
    """What a resource URL addresses.

    `namespace` is the store's namespace: the URL's for a namespaced kind, `""` for a
    cluster-scoped kind, and None for a namespaced kind listed across all namespaces.
    """

    kind: Kind
    namespace: str | None
    name: str | None = None
    subresource: str | None = None

    @property
    def scope(self) -> Scope:
        if self.subresource:
            return "subresource"
        return "item" if self.name else "collection"


def subresources(kind: Kind) -> dict[str, tuple[str, ...]]:
    """The subresources a kind serves, with their verbs: `status` when the kind has one, `log`
    for pipeline runs (a step's) and training jobs (a worker's)."""
    subs: dict[str, tuple[str, ...]] = {}
    if "status" in kind.model.model_fields:
        subs["status"] = ("get", "patch", "update")
    if kind is PIPELINE_RUN or kind is TRAINING_JOB:
        subs["log"] = ("get",)
    return subs


def verbs(kind: Kind) -> tuple[str, ...]:
    """The verbs of a kind's main resource, as discovery lists them.

    Namespaces have no `deletecollection`, as in Kubernetes: one request must not be able to
    wipe out every team.
    """
    collection = COLLECTION_VERBS if kind.namespaced else COLLECTION_VERBS[:3]
    return (*collection, *ITEM_VERBS)


def verb_for(path: ResourcePath, method: str) -> str | None:
    """The verb a request performs, or None when the resource does not allow the method."""
    if path.subresource:
        allowed = subresources(path.kind).get(path.subresource, ())
        verb = METHODS.get(("item", method))
        return verb if verb in allowed else None
    verb = METHODS.get((path.scope, method))
    if path.scope == "collection" and path.kind.namespaced and path.namespace is None:
        return verb if verb == "list" else None  # the all-namespaces list is read-only
    return verb if verb in verbs(path.kind) else None


def parse_resource_path(path: str, kinds: Sequence[Kind] = KINDS) -> ResourcePath | None:
    """The resource a URL path addresses, or None when it names none (→ 404)."""
    segments = path.strip("/").split("/")
    if segments[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    if not rest or any(not s for s in rest):
        return None
    served = {k.plural: k for k in kinds if k.group == group and k.version == version}
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in served:
        kind = served[rest[2]]
        return _below_plural(kind, rest[1], rest[3:]) if kind.namespaced else None
    kind_or_none = served.get(rest[0])
    if kind_or_none is None:
        return None
    if kind_or_none.namespaced:
        return ResourcePath(kind_or_none, None) if len(rest) == 1 else None
    return _below_plural(kind_or_none, "", rest[1:])


def _below_plural(kind: Kind, namespace: str, rest: list[str]) -> ResourcePath | None:
    if not rest:
        return ResourcePath(kind, namespace)
    if len(rest) == 1:
        return ResourcePath(kind, namespace, rest[0])
    if len(rest) == 2 and rest[1] in subresources(kind):
        return ResourcePath(kind, namespace, rest[0], rest[1])
    return None
