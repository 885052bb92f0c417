"""`Table` answers for `kubectl get` (pure): NAME, a few columns per kind, AGE.

kubectl asks for `application/json;as=Table;g=meta.k8s.io;v=v1` and prints whatever columns
come back; these are the columns kubectl users expect for the workload kinds, and NAME and
AGE for everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Row = Callable[[Mapping[str, Any]], list[Any]]


def _pod(obj: Mapping[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    total = len((obj.get("spec") or {}).get("containers") or [])
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    phase = status.get("phase", "")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        phase = "Terminating"
    return [f"{ready}/{total}", phase, restarts]


def _deployment(obj: Mapping[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    wanted = (obj.get("spec") or {}).get("replicas", 0)
    return [
        f"{status.get('readyReplicas', 0)}/{wanted}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
    ]


def _job(obj: Mapping[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    done = [c["type"] for c in status.get("conditions") or [] if c.get("status") == "True"]
    state = "Complete" if "Complete" in done else "Failed" if "Failed" in done else "Running"
    if (obj.get("spec") or {}).get("suspend"):
        state = "Suspended"
    completions = (obj.get("spec") or {}).get("completions")
    return [state, f"{status.get('succeeded', 0)}/{completions if completions else 1}"]


COLUMNS: dict[str, tuple[tuple[str, ...], Row]] = {
    "Pod": (("Ready", "Status", "Restarts"), _pod),
    "Deployment": (("Ready", "Up-to-date", "Available"), _deployment),
    "Job": (("Status", "Completions"), _job),
}


def table(
    kind: str,
    items: Iterable[Mapping[str, Any]],
    *,
    version: str,
    resource_version: str,
    include: str,
    now: datetime,
) -> dict[str, Any]:
    """A `meta.k8s.io` Table of `items`; each row carries the object as `include` asks."""
    headers, row = COLUMNS.get(kind, ((), lambda _obj: []))
    names = ("Name", *headers, "Age")
    rows = []
    for obj in items:
        meta = obj.get("metadata") or {}
        entry: dict[str, Any] = {"cells": [meta.get("name", ""), *row(obj), _age(meta, now)]}
        if include == "Object":
            entry["object"] = obj
        elif include == "Metadata":
            entry["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": f"meta.k8s.io/{version}",
                "metadata": meta,
            }
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": n,
                "type": "string",
                "format": "name" if n == "Name" else "",
                "description": n,
                "priority": 0,
            }
            for n in names
        ],
        "rows": rows,
    }


def _age(meta: Mapping[str, Any], now: datetime) -> str:
    created = meta.get("creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = int(
        (now - datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)).total_seconds()
    )
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"
