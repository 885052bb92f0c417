"""API discovery documents, so `kubectl` and the official `kubernetes` client find our kinds.

`GET /api`, `/api/v1`, `/apis`, `/apis/GROUP`, `/apis/GROUP/VERSION` and `/version`, built
from the kind table by pure functions (legacy discovery; clients that ask for the aggregated
form fall back to it when the answer is plain JSON).
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from typing import Any

from mlkube import __version__
from mlkube.api.kinds import KINDS, Kind
from mlkube.api.meta import API_GROUP
from mlkube.server.routing import subresources, verbs

# The Kubernetes API level whose conventions we follow; kubectl compares it for version skew.
KUBE_MAJOR, KUBE_MINOR = "1", "30"


def api_versions(server_address: str) -> dict[str, Any]:
    """`GET /api`: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        # Required by the kubernetes client's model, even if it says nothing useful here.
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def groups(kinds: Sequence[Kind] = KINDS) -> dict[str, list[str]]:
    """Named API groups (not the core "") → their versions, preferred first."""
    out: dict[str, list[str]] = {}
    for kind in kinds:
        if kind.group and kind.version not in out.setdefault(kind.group, []):
            out[kind.group].append(kind.version)
    return out


def api_group(name: str, versions: Sequence[str]) -> dict[str, Any]:
    """`GET /apis/GROUP`: one `APIGroup`."""
    return {"kind": "APIGroup", "apiVersion": "v1", **group_entry(name, versions)}


def group_entry(name: str, versions: Sequence[str]) -> dict[str, Any]:
    """A group as `/apis` lists it: an `APIGroup` without its envelope; the first version
    is the preferred one."""
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(kinds: Sequence[Kind] = KINDS) -> dict[str, Any]:
    """`GET /apis`: every named group."""
    items = [group_entry(name, versions) for name, versions in groups(kinds).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}


def api_resource_list(group: str, version: str, kinds: Sequence[Kind] = KINDS) -> dict[str, Any]:
    """`GET /api/v1` or `/apis/GROUP/VERSION`: the resources served, with their subresources."""
    resources: list[dict[str, Any]] = []
    for kind in kinds:
        if kind.group == group and kind.version == version:
            resources.append(_resource(kind))
            resources += [_subresource(kind, sub, v) for sub, v in subresources(kind).items()]
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _resource(kind: Kind) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": kind.plural,
        "singularName": kind.singular,
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": list(verbs(kind)),
    }
    if kind.short_names:
        entry["shortNames"] = list(kind.short_names)
    if kind.group == API_GROUP:
        entry["categories"] = ["mlkube"]  # `kubectl get mlkube` lists our own kinds
    return entry


def _subresource(kind: Kind, name: str, sub_verbs: Sequence[str]) -> dict[str, Any]:
    return {
        "name": f"{kind.plural}/{name}",
        "singularName": "",
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": list(sub_verbs),
    }


def version_info() -> dict[str, str]:
    """`GET /version`: a `version.Info`, with mlkube's own version as build metadata."""
    return {
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": f"v{KUBE_MAJOR}.{KUBE_MINOR}.0+mlkube-{__version__}",
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "",
        "platform": f"{platform.system().lower()}/{platform.machine().lower()}",
    }
