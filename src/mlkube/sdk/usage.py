"""CPU-hours, GPU-hours and storage per namespace and user.

A step attempt is charged for what it held (its placement: cores in millicores, GPUs, fractions
of a GPU included) for as long as it ran, or for the CPU it was measured to use when it asked for
none (best-effort steps), as chargeback tools do. Runs are charged to the user who created them
(`mlkube.io/created-by`, stamped by the API server). Pure: the time is passed in.

Finished attempts come from the server's usage records (`usagerecords`), which outlive their
runs; what the records do not hold yet (steps running now, attempts that ended before records
were kept) comes from the runs' step statuses. Storage is the bytes of the distinct artifacts
the existing runs' steps wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    storage_bytes: int = 0
    _runs: set[str] = field(default_factory=set, repr=False)
    _artifacts: set[str] = field(default_factory=set, repr=False)


def step_charge(step: dict[str, Any], now: datetime) -> tuple[float, float]:
    """(cpu-hours, gpu-hours) of one step's latest attempt; cached steps cost nothing."""
    if not step.get("startTime") or step.get("cached"):
        return 0.0, 0.0
    end = parse_time(step["finishTime"]) if step.get("finishTime") else now
    hours = max((end - parse_time(step["startTime"])).total_seconds(), 0.0) / 3600
    placement = step.get("placement") or {}
    cores = placement.get("cpuMillis", 0) / 1000 or (step.get("usage") or {}).get("cpuCoresAvg", 0)
    # gpuMillis counts shares of a GPU; placements recorded before it, whole devices.
    gpus = placement.get("gpuMillis", 1000 * len(placement.get("gpus") or [])) / 1000
    return cores * hours, gpus * hours


def record_charge(record: Mapping[str, Any]) -> tuple[float, float]:
    """(cpu-hours, gpu-hours) of one usage record (`UsageRecord.to_dict()` form)."""
    hours = max(float(record["end"]) - float(record["start"]), 0.0) / 3600
    cores = int(record.get("cpu_millis") or 0) / 1000 or float(record.get("cpu_cores_avg") or 0)
    return cores * hours, float(record.get("gpus") or 0) * hours


def _attempt_key(run_uid: str, step: str, start: float) -> tuple[str, str, float]:
    # Statuses keep microseconds; records keep the float of the same time: compare to the ms.
    return run_uid, step, round(start, 3)


def usage_rows(
    runs: Iterable[dict[str, Any]],
    *,
    now: datetime,
    records: Iterable[Mapping[str, Any]] = (),
) -> list[UsageRow]:
    """One row per (namespace, user), sorted: `records` first, then what of `runs` they lack."""
    rows: dict[tuple[str, str], UsageRow] = {}
    recorded: set[tuple[str, str, float]] = set()
    for record in records:
        key = (str(record["namespace"]), str(record["user"]))
        row = rows.setdefault(key, UsageRow(*key))
        row._runs.add(str(record["run_uid"]))
        cpu, gpu = record_charge(record)
        row.steps += 1
        row.cpu_hours += cpu
        row.gpu_hours += gpu
        recorded.add(_attempt_key(str(record["run_uid"]), str(record["step"]), record["start"]))
    for index, run in enumerate(runs):
        meta = run["metadata"]
        user = (meta.get("annotations") or {}).get(CREATED_BY, "<unknown>")
        key = (meta.get("namespace", ""), user)
        row = rows.setdefault(key, UsageRow(*key))
        uid = str(meta.get("uid") or f"#{index}")
        row._runs.add(uid)
        for step in (run.get("status") or {}).get("steps") or []:
            _charge_status(row, step, uid, recorded, now)
    for row in rows.values():
        row.runs = len(row._runs)
    return [rows[k] for k in sorted(rows)]


def _charge_status(
    row: UsageRow,
    step: dict[str, Any],
    uid: str,
    recorded: set[tuple[str, str, float]],
    now: datetime,
) -> None:
    """Charge a step's latest attempt unless a record has it; count its artifacts' bytes."""
    for output in step.get("outputs") or []:
        artifact = output.get("artifact") or {}
        if artifact.get("digest") and artifact["digest"] not in row._artifacts:
            row._artifacts.add(artifact["digest"])
            row.storage_bytes += int(artifact.get("size") or 0)
    if not step.get("startTime") or step.get("cached"):
        return
    start = parse_time(step["startTime"]).timestamp()
    if _attempt_key(uid, str(step.get("name", "")), start) in recorded:
        return
    cpu, gpu = step_charge(step, now)
    row.steps += 1
    row.cpu_hours += cpu
    row.gpu_hours += gpu
