"""`mlkube describe trainingjob NAME`: the job's spec in brief, its state, and a row per worker."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from mlkube.cli.render import elapsed
from mlkube.cli.why import job_start_estimate


def describe_job(obj: dict[str, Any], console: Console, *, now: datetime) -> None:
    """Print the page: fields, then conditions, then the workers of the latest start."""
    lines = job_fields(obj, now=now)
    width = max(len(k) for k, _ in lines) + 2
    for key, value in lines:
        console.print(f"{key + ':':<{width}}{value}", highlight=False, markup=False)
    status = obj.get("status") or {}
    console.print("Conditions:")
    console.print(_table(("TYPE", "STATUS", "REASON", "MESSAGE"), _condition_rows(status)))
    console.print("Workers:")
    console.print(workers_table(status.get("workers") or []))


def job_fields(obj: dict[str, Any], *, now: datetime) -> list[tuple[str, str]]:
    """The `Key: value` lines of the page, in order (waiting lines only while it waits)."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    policy = spec.get("runPolicy") or {}
    limit = int(policy.get("backoffLimit") or 0)
    deadline = policy.get("activeDeadlineSeconds")
    labels = ", ".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items())
    lines = [
        ("Name", meta["name"]),
        ("Namespace", meta.get("namespace", "")),
        ("Labels", labels or "<none>"),
        ("Program", _program(spec)),
        ("Workers", f"{spec.get('workers', 1)} x {_resources(spec.get('resources') or {})}"),
        ("Priority Class", spec.get("priorityClassName") or "<default>"),
        ("Run Policy", f"backoffLimit={limit}, activeDeadlineSeconds={deadline or '<none>'}"),
        ("Phase", status.get("phase", "Pending")),
        ("Queue", status.get("queue") or "<none>"),
        ("Priority", str(status.get("priority", "-"))),
        ("Started", status.get("startTime", "-")),
        (
            "Duration",
            elapsed(status.get("startTime"), status.get("completionTime"), now=now) or "-",
        ),
        ("Starts", str(status.get("starts", 0))),
        ("Restarts", f"{status.get('restarts', 0)} of {limit}"),
        ("Master Port", str(status.get("masterPort") or "-")),
    ]
    if status.get("waitReason"):
        lines.append(("Waiting For", status["waitReason"]))
    if status.get("queuePosition"):
        lines.append(("Queue Position", str(status["queuePosition"])))
    if status.get("estimatedStart"):
        lines.append(("Estimated Start", job_start_estimate(status["estimatedStart"], now)))
    return lines


def workers_table(workers: list[dict[str, Any]]) -> Table:
    """A row per worker: rank, phase, pid, exit code, cores, reason, message."""
    rows = [
        [
            str(w.get("rank", "")),
            w.get("phase", "Pending"),
            _or_dash(w.get("pid")),
            _or_dash(w.get("exitCode")),
            ",".join(str(c) for c in (w.get("placement") or {}).get("cpus") or []) or "-",
            w.get("reason", ""),
            w.get("message", ""),
        ]
        for w in workers
    ]
    return _table(("RANK", "PHASE", "PID", "EXIT", "CPUS", "REASON", "MESSAGE"), rows)


def _program(spec: dict[str, Any]) -> str:
    args = [str(a) for a in spec.get("args") or []]
    python = spec.get("python")
    if python:
        target = f"{python.get('module', '')}:{python.get('function', '')}"
        return " ".join([target, *(shlex.quote(a) for a in args)])
    return shlex.join([*(spec.get("command") or []), *args])


def _resources(resources: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in resources.items() if v not in (None, "", [], {}))
    return f"{{{shown}}}" if shown else "{best effort}"


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _condition_rows(status: dict[str, Any]) -> list[list[str]]:
    return [
        [c["type"], c["status"], c.get("reason", ""), c.get("message", "")]
        for c in status.get("conditions") or []
    ]


def _table(headers: tuple[str, ...], rows: list[list[str]]) -> Table:
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*row)
    return grid
