"""Kubernetes REST paths → which kind, namespace, name and subresource a request is about.

Pure functions over strings and the kind table, so the URL grammar is unit-tested without
sockets:

    /api/v1/namespaces[/NAME[/status]]                           core, cluster-scoped
    /apis/GROUP/VERSION/PLURAL                                   all namespaces (or cluster kind)
    /apis/GROUP/VERSION/PLURAL/NAME[/SUB]                        cluster-scoped kind
    /apis/GROUP/VERSION/namespaces/NS/PLURAL[/NAME[/SUB]]        namespaced kind
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

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


class Addressable(Protocol):
    """What the URL grammar needs of a served resource (our `Kind`, or a fake's entry)."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...


R = TypeVar("R", bound=Addressable)
# (resource, namespace, name, subresource): namespace "" for cluster-scoped resources and None
# for a namespaced collection across all namespaces.
Match = tuple[R, str | None, str | None, str | None]


def match_resource_path(
    path: str, served: Iterable[R], subresources_of: Callable[[R], Collection[str]]
) -> Match[R] | None:
    """Which of `served` a Kubernetes REST path addresses, or None when it names none.

    The one URL grammar, shared by our API server and the fake kube-apiserver in testing."""
    segments = path.strip("/").split("/")
    if segments[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    if not rest or any(not s for s in rest):
        return None
    by_plural = {r.plural: r for r in served if r.group == group and r.version == version}
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in by_plural:
        found = by_plural[rest[2]]
        return _below(found, rest[1], rest[3:], subresources_of) if found.namespaced else None
    found_or_none = by_plural.get(rest[0])
    if found_or_none is None:
        return None
    if found_or_none.namespaced:
        return (found_or_none, None, None, None) if len(rest) == 1 else None
    return _below(found_or_none, "", rest[1:], subresources_of)


def _below(
    found: R, namespace: str, rest: list[str], subresources_of: Callable[[R], Collection[str]]
) -> Match[R] | None:
    if not rest:
        return found, namespace, None, None
    if len(rest) == 1:
        return found, namespace, rest[0], None
    if len(rest) == 2 and rest[1] in subresources_of(found):
        return found, namespace, rest[0], rest[1]
    return None


def parse_resource_path(path: str, kinds: Sequence[Kind] = KINDS) -> ResourcePath | None:
    """The resource a URL path addresses, or None when it names none (→ 404)."""
    match = match_resource_path(path, kinds, subresources)
    return None if match is None else ResourcePath(*match)
