"""CPU-hours and GPU-hours per namespace and user, from the runs' recorded step statuses.

A step is charged for what it held (its placement: cores in millicores, GPUs) for as long as it
ran, or for the CPU it was measured to use when it asked for none (best-effort steps), as
chargeback tools do. Runs are charged to the user who created them (`mlkube.io/created-by`,
stamped by the API server). Pure: the time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlkube.api.meta import CREATED_BY, parse_time


@dataclass
class UsageRow:
    namespace: str
    user: str
    runs: int = 0
    steps: int = 0
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0


def step_charge(step: dict[str, Any], now: datetime) -> tuple[float, float]:
    """(cpu-hours, gpu-hours) of one step's latest attempt; cached steps cost nothing."""
    if not step.get("startTime") or step.get("cached"):
        return 0.0, 0.0
    end = parse_time(step["finishTime"]) if step.get("finishTime") else now
    hours = max((end - parse_time(step["startTime"])).total_seconds(), 0.0) / 3600
    placement = step.get("placement") or {}
    cores = placement.get("cpuMillis", 0) / 1000 or (step.get("usage") or {}).get("cpuCoresAvg", 0)
    return cores * hours, len(placement.get("gpus") or []) * hours


def usage_rows(runs: Iterable[dict[str, Any]], *, now: datetime) -> list[UsageRow]:
    """One row per (namespace, user), sorted."""
    rows: dict[tuple[str, str], UsageRow] = {}
    for run in runs:
        meta = run["metadata"]
        user = (meta.get("annotations") or {}).get(CREATED_BY, "<unknown>")
        key = (meta.get("namespace", ""), user)
        row = rows.setdefault(key, UsageRow(*key))
        row.runs += 1
        for step in (run.get("status") or {}).get("steps") or []:
            cpu, gpu = step_charge(step, now)
            row.steps += 1 if step.get("startTime") and not step.get("cached") else 0
            row.cpu_hours += cpu
            row.gpu_hours += gpu
    return [rows[k] for k in sorted(rows)]
