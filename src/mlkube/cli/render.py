"""How the CLI prints objects: kubectl-like tables, `describe` pages, YAML and JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from mlkube.api.columns import age, columns_for, duration, elapsed
from mlkube.api.kinds import Kind
from mlkube.api.quantity import human_bytes

__all__ = [
    "age",
    "as_list",
    "describe_generic",
    "describe_outputs",
    "describe_run",
    "dump",
    "duration",
    "elapsed",
    "steps_table",
    "table",
]


def table(
    kind: Kind,
    items: list[dict[str, Any]],
    *,
    all_namespaces: bool = False,
    now: datetime | None = None,
) -> Table:
    """The `get` table for `items` of `kind`."""
    headers, row = columns_for(kind.kind)
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    if all_namespaces:
        grid.add_column("NAMESPACE")
    for header in headers:
        grid.add_column(header)
    for obj in items:
        cells = row(obj, now)
        if all_namespaces:
            cells = [obj["metadata"].get("namespace", ""), *cells]
        grid.add_row(*cells)
    return grid


def dump(obj: Any, fmt: str) -> str:
    """`-o yaml` / `-o json` output."""
    if fmt == "json":
        return json.dumps(obj, indent=2)
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """`-o yaml|json` of several objects: a `v1` `List`, as kubectl prints it."""
    # A plain list: the client's list type (a list subclass) is not something YAML can write.
    return {"apiVersion": "v1", "kind": "List", "items": list(items), "metadata": {}}


def _value_text(out: dict[str, Any]) -> str:
    artifact = out.get("artifact")
    if artifact:
        size = human_bytes(artifact["size"])
        return f"artifact {artifact['digest'][:19]} ({size}, {artifact.get('type', '')})"
    text = json.dumps(out.get("value"))
    return text if len(text) <= 80 else text[:77] + "..."


def describe_run(obj: dict[str, Any], console: Console, *, now: datetime | None = None) -> None:
    """`mlkube describe pipelinerun X`."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    source = spec.get("pipelineRef", {}).get("name") or "(inline)"
    lines = [
        ("Name", meta["name"]),
        ("Namespace", meta.get("namespace", "")),
        (
            "Labels",
            ", ".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items()) or "<none>",
        ),
        ("Pipeline", source),
        (
            "Params",
            ", ".join(
                f"{p['name']}={json.dumps(p.get('value'))}" for p in status.get("params") or []
            )
            or "<none>",
        ),
        ("Phase", status.get("phase", "Pending")),
        ("Started", status.get("startTime", "-")),
        (
            "Duration",
            elapsed(status.get("startTime"), status.get("completionTime"), now=now) or "-",
        ),
    ]
    width = max(len(k) for k, _ in lines) + 2
    for key, value in lines:
        console.print(f"{key + ':':<{width}}{value}", highlight=False, markup=False)
    conditions = Table(box=None, pad_edge=False, header_style="bold")
    for header in ("TYPE", "STATUS", "REASON", "MESSAGE"):
        conditions.add_column(header)
    for cond in status.get("conditions") or []:
        conditions.add_row(
            cond["type"], cond["status"], cond.get("reason", ""), cond.get("message", "")
        )
    console.print("Conditions:")
    console.print(conditions)
    console.print("Steps:")
    console.print(steps_table(status.get("steps") or [], now=now))
    describe_outputs(obj, console)


def steps_table(steps: list[dict[str, Any]], *, now: datetime | None = None) -> Table:
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for header in ("STEP", "PHASE", "REASON", "ATTEMPTS", "DURATION", "CPUS", "MAX MEM", "MESSAGE"):
        grid.add_column(header, overflow="fold")
    for st in steps:
        placement = st.get("placement") or {}
        usage = st.get("usage") or {}
        grid.add_row(
            st["name"],
            st.get("phase", "Pending"),
            st.get("reason", ""),
            str(st.get("attempts", 0)),
            elapsed(st.get("startTime"), st.get("finishTime"), now=now)
            if st.get("startTime")
            else "-",
            ",".join(str(c) for c in placement.get("cpus", [])) or "-",
            human_bytes(usage["memoryBytesMax"]) if usage.get("memoryBytesMax") else "-",
            st.get("message", ""),
        )
    return grid


def describe_generic(obj: dict[str, Any], console: Console) -> None:
    """Any other kind: its YAML, which says everything."""
    console.print(dump(obj, "yaml"), highlight=False, markup=False)


def describe_outputs(obj: dict[str, Any], console: Console) -> None:
    """The run's outputs, one per line (used after `mlkube run`)."""
    outputs = (obj.get("status") or {}).get("outputs") or []
    if outputs:
        console.print("Outputs:")
    for out in outputs:
        console.print(f"  {out['name']}: {_value_text(out)}", highlight=False, markup=False)
