"""Follow a run live: one line per step transition, until the run finishes."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from mlkube.api.errors import ApiError
from mlkube.api.pipelinerun import FINISHED_RUN_PHASES
from mlkube.cli import render
from mlkube.sdk.client import Client

_MARK = {
    "Succeeded": "[green]✓[/]",
    "Failed": "[red]✗[/]",
    "Skipped": "[yellow]-[/]",
    "Running": "[cyan]▶[/]",
    "Retrying": "[yellow]↻[/]",
    "Waiting": "·",
    "Pending": "·",
}


def step_line(st: dict[str, Any]) -> str:
    """`✓ train-svm  Succeeded  1.2s  Completed`-style line for one step."""
    phase = st.get("phase", "Pending")
    took = render.elapsed(st.get("startTime"), st.get("finishTime")) if st.get("finishTime") else ""
    detail = st.get("reason", "")
    if phase in ("Failed", "Retrying", "Waiting", "Skipped") and st.get("message"):
        detail = f"{detail}: {st['message']}" if detail else st["message"]
    if phase == "Running" and st.get("placement", {}).get("cpus"):
        detail = f"cpus {','.join(map(str, st['placement']['cpus']))}"
    return f"  {_MARK.get(phase, ' ')} {st['name']:<22} {phase:<10} {took:>6}  {detail}".rstrip()


def follow_run(client: Client, name: str, *, namespace: str, console: Console) -> dict[str, Any]:
    """Print step transitions of run `name` as they happen; returns the finished run."""
    seen: dict[str, tuple[str, str]] = {}
    obj = client.get("pipelineruns", name, namespace=namespace)
    while True:
        _print_changes(obj, seen, console)
        status = obj.get("status") or {}
        if status.get("phase") in FINISHED_RUN_PHASES:
            conditions: list[dict[str, Any]] = status.get("conditions") or []
            cond = next((c for c in conditions if c["type"] == "Succeeded"), {})
            took = render.elapsed(status.get("startTime"), status.get("completionTime"))
            console.print(
                f"pipelinerun {name} {status['phase']} in {took}: {cond.get('message', '')}",
                highlight=False,
                markup=False,
            )
            return obj
        obj = _next_version(client, name, namespace, obj)


def _print_changes(obj: dict[str, Any], seen: dict[str, tuple[str, str]], console: Console) -> None:
    for st in (obj.get("status") or {}).get("steps") or []:
        state = (st.get("phase", "Pending"), st.get("reason", ""))
        if seen.get(st["name"]) != state and state[0] != "Pending":
            seen[st["name"]] = state
            console.print(step_line(st), highlight=False)


def _next_version(client: Client, name: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Block until the run changes (watch), falling back to a fresh get."""
    rv = obj["metadata"]["resourceVersion"]
    try:
        for event_type, changed in client.watch(
            "pipelineruns", namespace=namespace, resource_version=rv, timeout_seconds=5
        ):
            if changed.get("metadata", {}).get("name") == name:
                if event_type == "DELETED":
                    raise ApiError(f"pipelinerun {name} was deleted")
                return changed
    except ApiError as e:
        if e.reason != "Expired":
            raise
    return client.get("pipelineruns", name, namespace=namespace)
