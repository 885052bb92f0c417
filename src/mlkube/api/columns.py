"""The columns `get` shows for each kind, as plain functions of the stored object.

Shared by the CLI's tables and the API server's `Table` responses (what `kubectl get` asks
for), so `mlkube get` and `kubectl get` print the same columns. Pure: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlkube.api.meta import parse_time
from mlkube.api.pipelinerun import FINISHED_STEP_PHASES

Row = Callable[[dict[str, Any], datetime | None], list[str]]


def age(timestamp: str | None, *, now: datetime | None = None) -> str:
    """kubectl's short age: `42s`, `5m`, `3h`, `2d`."""
    if not timestamp:
        return "<unknown>"
    seconds = int(((now or datetime.now(UTC)) - parse_time(timestamp)).total_seconds())
    return duration(max(seconds, 0))


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f}s" if seconds % 1 else f"{int(seconds)}s"
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            rest = seconds % size
            sub = {"d": 3600, "h": 60, "m": 1}[unit]
            sub_unit = {"d": "h", "h": "m", "m": "s"}[unit]
            return f"{seconds // size}{unit}" + (f"{rest // sub}{sub_unit}" if rest // sub else "")
    return f"{seconds}s"


def elapsed(start: str | None, end: str | None, *, now: datetime | None = None) -> str:
    if not start:
        return ""
    stop = parse_time(end) if end else (now or datetime.now(UTC))
    return duration(max((stop - parse_time(start)).total_seconds(), 0.0))


def _run_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    status = obj.get("status") or {}
    steps = status.get("steps") or []
    done = sum(1 for s in steps if s.get("phase") in FINISHED_STEP_PHASES)
    return [
        obj["metadata"]["name"],
        status.get("phase", "Pending"),
        f"{done}/{len(steps)}" if steps else "-",
        elapsed(status.get("startTime"), status.get("completionTime"), now=now) or "-",
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


def _pipeline_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    steps = (obj.get("spec") or {}).get("steps") or []
    return [
        obj["metadata"]["name"],
        str(len(steps)),
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


def _namespace_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    phase = (obj.get("status") or {}).get("phase", "Active")
    return [obj["metadata"]["name"], phase, age(obj["metadata"].get("creationTimestamp"), now=now)]


def _generic_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    return [obj["metadata"]["name"], age(obj["metadata"].get("creationTimestamp"), now=now)]


def _queue_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    usage = "; ".join(
        f"{f['name']}: " + ",".join(f"{k}={v}" for k, v in (f.get("resources") or {}).items())
        for f in status.get("flavorsUsage") or []
    )
    return [
        obj["metadata"]["name"],
        spec.get("cohort") or "-",
        ",".join(spec.get("namespaces") or []),
        str(status.get("admittedWorkloads", 0)),
        str(status.get("pendingWorkloads", 0)),
        usage or "-",
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


def _binding_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    subjects = ",".join(f"{s.get('kind')}/{s.get('name')}" for s in obj.get("subjects") or [])
    return [
        obj["metadata"]["name"],
        (obj.get("roleRef") or {}).get("name", ""),
        subjects,
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


def _priority_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    return [
        obj["metadata"]["name"],
        str(obj.get("value", 0)),
        str(obj.get("globalDefault", False)).lower(),
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


def _node_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    status = obj.get("status") or {}
    cap, used = status.get("capacity") or {}, status.get("allocated") or {}
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    gpus = [k for k in cap if k.endswith(".com/gpu")]
    return [
        obj["metadata"]["name"],
        "Ready" if ready.get("status") == "True" else "NotReady",
        f"{used.get('cpu', '0')}/{cap.get('cpu', '?')}",
        f"{used.get('memory', '0')}/{cap.get('memory', '?')}",
        ", ".join(f"{used.get(k, '0')}/{cap[k]} {k.split('.')[0]}" for k in gpus) or "-",
        f"{status.get('running', 0)}/{status.get('waiting', 0)}",
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


def _isvc_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    status = obj.get("status") or {}
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    revisions: list[dict[str, Any]] = status.get("revisions") or []
    desired = sum(r.get("desiredReplicas", 0) for r in revisions)
    traffic = ", ".join(
        f"{r['name'].rsplit('-', 1)[-1].lstrip('0') or '0'}:{r.get('percent', 0)}%"
        for r in revisions
        if r.get("percent")
    )
    return [
        obj["metadata"]["name"],
        status.get("url") or "-",
        ready.get("status", "Unknown"),
        f"{status.get('readyReplicas', 0)}/{desired}",
        traffic or "-",
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


def _job_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    workers: list[dict[str, Any]] = status.get("workers") or []
    running = sum(1 for w in workers if w.get("phase") == "Running" and w.get("pid"))
    return [
        obj["metadata"]["name"],
        str(spec.get("workers", 1)),
        f"{running}/{spec.get('workers', 1)}",
        status.get("phase", "Pending"),
        str(status.get("restarts", 0)),
        elapsed(status.get("startTime"), status.get("completionTime"), now=now) or "-",
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _claim_row(obj: dict[str, Any], now: datetime | None) -> list[str]:
    """kubectl's: capacity and access modes are the bound volume's, blank until Bound."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    modes = [_ACCESS_MODES.get(m, m) for m in status.get("accessModes") or []]
    return [
        obj["metadata"]["name"],
        status.get("phase", "Pending"),
        spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", ""),
        ",".join(modes),
        spec.get("storageClassName", ""),
        age(obj["metadata"].get("creationTimestamp"), now=now),
    ]


COLUMNS: dict[str, tuple[list[str], Row]] = {
    "PipelineRun": (["NAME", "PHASE", "STEPS", "DURATION", "AGE"], _run_row),
    "Pipeline": (["NAME", "STEPS", "AGE"], _pipeline_row),
    "Namespace": (["NAME", "STATUS", "AGE"], _namespace_row),
    "ClusterQueue": (
        ["NAME", "COHORT", "NAMESPACES", "ADMITTED", "PENDING", "USAGE", "AGE"],
        _queue_row,
    ),
    "RoleBinding": (["NAME", "ROLE", "SUBJECTS", "AGE"], _binding_row),
    "ClusterRoleBinding": (["NAME", "ROLE", "SUBJECTS", "AGE"], _binding_row),
    "PriorityClass": (["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE"], _priority_row),
    "Node": (["NAME", "STATUS", "CPU", "MEMORY", "GPUS", "RUNNING/WAITING", "AGE"], _node_row),
    "TrainingJob": (
        ["NAME", "WORKERS", "RUNNING", "STATUS", "RESTARTS", "DURATION", "AGE"],
        _job_row,
    ),
    "PersistentVolumeClaim": (
        ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"],
        _claim_row,
    ),
    "InferenceService": (
        ["NAME", "URL", "READY", "REPLICAS", "TRAFFIC (REVISION:%)", "AGE"],
        _isvc_row,
    ),
}


def columns_for(kind: str) -> tuple[list[str], Row]:
    """The headers and the row function of `kind`; NAME and AGE for kinds without their own."""
    return COLUMNS.get(kind, (["NAME", "AGE"], _generic_row))
