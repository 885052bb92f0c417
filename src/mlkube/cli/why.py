"""`mlkube why pipelinerun/NAME`: why its steps are not running, in one place."""

from __future__ import annotations

from typing import Any

import click

from mlkube.api.kinds import lookup
from mlkube.cli.common import (
    client_for,
    config_option,
    handle_errors,
    namespace_option,
    ns_for,
    out,
)


def explain(run: dict[str, Any]) -> list[str]:
    """Lines saying, for every step not yet done, what it waits for."""
    status = run.get("status") or {}
    name, phase = run["metadata"]["name"], status.get("phase", "Pending")
    queue = status.get("queue")
    head = f"pipelinerun {name} is {phase}"
    if queue:
        head += f" in queue {queue}"
    if status.get("priority") is not None:
        head += f" (priority {status['priority']})"
    lines = [head]
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
    if len(lines) == 1:
        lines.append("  nothing is waiting")
    return lines


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
    """Explain why a run (or its steps) is pending: quota short, node full, upstream steps."""
    kind_name, _, slash_name = target.partition("/")
    name = name or slash_name
    if not name:
        raise click.UsageError("name the run: `mlkube why pipelinerun/NAME`")
    kind = lookup(kind_name)
    if kind.kind != "PipelineRun":
        raise click.UsageError("`why` explains pipelineruns")
    client = client_for(config_path)
    run = client.get(kind.plural, name, namespace=ns_for(client, namespace))
    for line in explain(run):
        out.print(line, highlight=False, markup=False)
