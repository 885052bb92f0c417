"""`mlkube why pipelinerun/NAME`: why its steps are not running, in one place, and when a
waiting step is expected to start (the controller's estimate in `status.steps[].estimatedStart`).

`mlkube why trainingjob/NAME` (or `tj/NAME`) says the same of a gang: its phase, what it waits
for (quota or room on the node for all its workers at once), its place in line and when it is
expected to start (`status.queuePosition`, `status.estimatedStart`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from mlkube.api.kinds import lookup
from mlkube.api.meta import parse_time
from mlkube.cli.common import (
    client_for,
    config_option,
    handle_errors,
    namespace_option,
    ns_for,
    out,
)


def explain(run: dict[str, Any], *, now: datetime) -> list[str]:
    """Lines saying, for every step not yet done, what it waits for (and, for a step waiting
    for room, when it should start, relative to `now`)."""
    status = run.get("status") or {}
    name, phase = run["metadata"]["name"], status.get("phase", "Pending")
    lines = [_head("pipelinerun", name, phase, status)]
    spec_steps = {s["name"]: s for s in (status.get("pipelineSpec") or {}).get("steps") or []}
    for st in status.get("steps") or []:
        step_phase = st.get("phase", "Pending")
        if step_phase in ("Succeeded", "Skipped", "Running"):
            continue
        if step_phase == "Pending":
            upstream = _upstream(spec_steps.get(st["name"], {}))
            detail = f"waits for {', '.join(upstream)}" if upstream else "not started yet"
        else:
            detail = f"{st.get('reason', '')}: {st.get('message', '')}".strip(": ")
        lines.append(f"  {st['name']}: {step_phase} - {detail}")
        if step_phase == "Waiting" and st.get("estimatedStart"):
            lines.append(f"    estimated start: {start_estimate(st['estimatedStart'], now)}")
    if len(lines) == 1:
        lines.append("  nothing is waiting")
    return lines


def explain_job(job: dict[str, Any], *, now: datetime) -> list[str]:
    """Lines saying what the TrainingJob's gang is doing or waits for, and when it should
    start (relative to `now`)."""
    status = job.get("status") or {}
    name, phase = job["metadata"]["name"], status.get("phase", "Pending")
    workers = (job.get("spec") or {}).get("workers", 1)
    lines = [_head("trainingjob", name, phase, status)]
    if phase == "Pending":
        reason = status.get("waitReason")
        if reason:
            short = "quota" if reason.startswith("quota: ") else "room on the node"
            lines.append(f"  waits for {short}: {reason.removeprefix('quota: ')}")
        else:
            lines.append(f"  {_condition_text(status, 'Admitted') or 'not queued yet'}")
        if status.get("queuePosition"):
            lines.append(f"  position in queue: {status['queuePosition']}")
        estimate = status.get("estimatedStart")
        shown = job_start_estimate(estimate, now) if estimate else "unknown (no estimate yet)"
        lines.append(f"  estimated start: {shown}")
    elif phase in ("Admitted", "Running"):
        lines.append(f"  all {workers} workers started together (start {status.get('starts', 0)})")
    else:
        lines.append(f"  {_condition_text(status, phase) or 'finished'}")
    return lines


def job_start_estimate(estimate: dict[str, Any], now: datetime) -> str:
    """As `start_estimate`, but an unknown time reads `unknown (why)`."""
    if not estimate.get("time"):
        return f"unknown ({estimate.get('reason') or 'no estimate'})"
    return start_estimate(estimate, now)


def _head(kind: str, name: str, phase: str, status: dict[str, Any]) -> str:
    head = f"{kind} {name} is {phase}"
    if status.get("queue"):
        head += f" in queue {status['queue']}"
    if status.get("priority") is not None:
        head += f" (priority {status['priority']})"
    return head


def _condition_text(status: dict[str, Any], type_: str) -> str:
    """`Reason: message` of the status's condition `type_` ('' when it has none)."""
    cond = next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)
    if cond is None:
        return ""
    return f"{cond.get('reason', '')}: {cond.get('message', '')}".strip(": ")


def start_estimate(estimate: dict[str, Any], now: datetime) -> str:
    """`in about 4m (when run-x/train finishes)`, `any moment now`, or `unknown: why`."""
    if not estimate.get("time"):
        return f"unknown: {estimate.get('reason') or 'no estimate'}"
    seconds = (parse_time(estimate["time"]) - now).total_seconds()
    after = f" (when {estimate['after']} finishes)" if estimate.get("after") else ""
    if seconds < 1:
        return f"any moment now{after}"
    return f"in about {_duration(seconds)}{after}"


def _duration(seconds: float) -> str:
    """A rough duration: `40s`, `4m`, `2h 5m`, `3d 4h`."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{round(s / 60)}m"
    if s < 86400:
        hours, minutes = divmod(round(s / 60), 60)
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(round(s / 3600), 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def _upstream(step: dict[str, Any]) -> list[str]:
    names = [i["fromStep"] for i in step.get("inputs") or [] if i.get("fromStep")]
    return list(dict.fromkeys([*names, *(step.get("dependsOn") or [])]))


@click.command()
@click.argument("target")
@click.argument("name", required=False)
@namespace_option
@config_option
@handle_errors
def why(target: str, name: str | None, namespace: str | None, config_path: str | None) -> None:
    """Explain why a run (or its steps) or a training job is pending: quota short, node full,
    upstream steps; and when it should start."""
    kind_name, _, slash_name = target.partition("/")
    name = name or slash_name
    if not name:
        raise click.UsageError("name the run: `mlkube why pipelinerun/NAME` or `why tj/NAME`")
    kind = lookup(kind_name)
    if kind.kind not in ("PipelineRun", "TrainingJob"):
        raise click.UsageError("`why` explains pipelineruns and trainingjobs")
    client = client_for(config_path)
    obj = client.get(kind.plural, name, namespace=ns_for(client, namespace))
    now = datetime.now(UTC)
    lines = explain_job(obj, now=now) if kind.kind == "TrainingJob" else explain(obj, now=now)
    for line in lines:
        out.print(line, highlight=False, markup=False)
