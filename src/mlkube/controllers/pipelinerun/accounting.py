"""What a finished step attempt, or TrainingJob worker, is charged: its `UsageRecord`, written
when it ends.

Plain functions from a run and a step status to a record; the controller appends the record to
its `AccountingLog` before it writes the step's new status, so a crash in between re-appends the
same attempt, which the log keeps once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlkube.api.meta import CREATED_BY, ObjectMeta
from mlkube.api.pipelinerun import PipelineRun, Placement, StepStatus, StepUsage
from mlkube.api.trainingjob import TrainingJob, WorkerStatus
from mlkube.store.accounting import UsageRecord

UNKNOWN_USER = "<unknown>"


def pipeline_id(run: PipelineRun) -> str:
    """Which pipeline a run's steps belong to, the same across runs: the referenced pipeline's
    name, or for an inline pipeline `inline:` and a digest of its spec."""
    if run.spec.pipeline_ref is not None:
        return run.spec.pipeline_ref.name
    spec = run.status.pipeline_spec or run.spec.pipeline_spec
    text = json.dumps(spec.to_dict() if spec else {}, sort_keys=True)
    return "inline:" + hashlib.sha256(text.encode()).hexdigest()[:12]


def gpu_amount(entries: Iterable[Any]) -> float:
    """GPUs a placement holds. An entry is a device index (a whole GPU) or, where GPUs are
    shared, a mapping with the held fraction (`fraction`, `share`, or `millis`/1000); an entry
    in neither form counts as a whole GPU, so a grant is never charged as free."""
    total = 0.0
    for entry in entries:
        if isinstance(entry, dict):
            if isinstance(entry.get("fraction"), int | float):
                total += float(entry["fraction"])
            elif isinstance(entry.get("share"), int | float):
                total += float(entry["share"])
            elif isinstance(entry.get("millis"), int | float):
                total += float(entry["millis"]) / 1000
            else:
                total += 1.0
        else:
            total += 1.0
    return total


def _gpus_held(placement: dict[str, Any]) -> float:
    """`gpuMillis` (thousandths held in all) where the placement has it, else its devices."""
    millis = placement.get("gpuMillis")
    if isinstance(millis, int | float) and not isinstance(millis, bool):
        return float(millis) / 1000
    return gpu_amount(placement.get("gpus") or [])


def attempt_record(
    run: PipelineRun, st: StepStatus, *, end: float, outcome: str
) -> UsageRecord | None:
    """The record of the step's latest attempt, ended at `end`; None if it never started."""
    if st.start_time is None or st.attempts < 1:
        return None
    return _record(
        run.metadata,
        pipeline=pipeline_id(run),
        part=st.name,
        attempt=st.attempts,
        held=Held(st.start_time, st.placement, st.usage),
        end=end,
        outcome=outcome,
    )


def job_id(job: TrainingJob) -> str:
    """What a TrainingJob's workers are recorded under in place of a pipeline: `trainingjob:`
    and its name (a `:` is never part of a pipeline's name, so the two never mix)."""
    return f"trainingjob:{job.metadata.name or ''}"


def worker_step(rank: int) -> str:
    """The record's step name for worker `rank`, as its log file is named."""
    return f"worker-{rank}"


def worker_record(
    job: TrainingJob, worker: WorkerStatus, *, start: int, end: float, outcome: str
) -> UsageRecord | None:
    """The record of one worker of the gang's start number `start`, ended at `end`; None if
    it never started. Charged like a step attempt to the job's namespace and creator."""
    if worker.start_time is None or start < 1:
        return None
    return _record(
        job.metadata,
        pipeline=job_id(job),
        part=worker_step(worker.rank),
        attempt=start,
        held=Held(worker.start_time, worker.placement, worker.usage),
        end=end,
        outcome=outcome,
    )


@dataclass(frozen=True)
class Held:
    """What an attempt held and used: when it started, its placement, its measured usage."""

    start: datetime
    placement: Placement | None
    usage: StepUsage | None


def _record(
    meta: ObjectMeta,
    *,
    pipeline: str,
    part: str,
    attempt: int,
    held: Held,
    end: float,
    outcome: str,
) -> UsageRecord:
    placement = held.placement.to_dict() if held.placement is not None else {}
    start = held.start.timestamp()
    return UsageRecord(
        namespace=meta.namespace or "",
        user=meta.annotations.get(CREATED_BY, UNKNOWN_USER),
        run=meta.name or "",
        run_uid=meta.uid or "",
        pipeline=pipeline,
        step=part,
        attempt=attempt,
        start=start,
        end=max(end, start),
        outcome=outcome,
        cpu_millis=int(placement.get("cpuMillis") or 0),
        gpus=_gpus_held(placement),
        cpu_cores_avg=held.usage.cpu_cores_avg if held.usage is not None else 0.0,
    )
