"""Discovery documents of the fake kube-apiserver, built from its resource table (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlkube.api.meta import API_GROUP
from mlkube.server.discovery import api_group, group_entry
from mlkube.testing.kube.resources import Served, groups, in_group_version

__all__ = [
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "groups",
    "version_info",
]

COLLECTION_VERBS = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
]
ALL_CATEGORY = ("Pod", "Service", "Deployment", "ReplicaSet", "Job", "HorizontalPodAutoscaler")
SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
}


def version_info(minor: str) -> dict[str, str]:
    """`GET /version`, claiming the Kubernetes version whose schemas validate objects."""
    return {
        "major": "1",
        "minor": minor,
        "gitVersion": f"v1.{minor}.0-fake",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "",
        "platform": "linux/amd64",
    }


def api_versions(address: str) -> dict[str, Any]:
    """`GET /api`."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_group_list(extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """`GET /apis`; `extra`: entries of groups served beside the resource table (metrics)."""
    items = [group_entry(name, versions) for name, versions in groups().items()]
    items += extra
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """`GET /api/v1` or `/apis/GROUP/VERSION`; None when nothing is served there."""
    served = in_group_version(group, version)
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for s in served:
        resources.append(_resource(s))
        resources += [_subresource(s, sub) for sub in s.subresources]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _resource(s: Served) -> dict[str, Any]:
    verbs = COLLECTION_VERBS
    if s.kind == "Namespace":
        verbs = [v for v in verbs if v != "deletecollection"]
    entry: dict[str, Any] = {
        "name": s.plural,
        "singularName": s.singular,
        "namespaced": s.namespaced,
        "kind": s.kind,
        "verbs": verbs,
    }
    if s.short_names:
        entry["shortNames"] = list(s.short_names)
    if s.group == API_GROUP:
        entry["categories"] = ["mlkube"]  # `kubectl get mlkube`
    elif s.kind in ALL_CATEGORY:
        entry["categories"] = ["all"]  # `kubectl get all`, as upstream lists them
    return entry


def _subresource(s: Served, sub: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{s.plural}/{sub}",
        "singularName": "",
        "namespaced": s.namespaced,
        "kind": s.kind,
        "verbs": SUBRESOURCE_VERBS[sub],
    }
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale")
    return entry
