"""`mlkube sim`: replay a trace on virtual nodes with a virtual clock and print what happened.

Runs in this process, on no server: the same quota, placement, preemption and node-group
policies the platform uses, driven by `mlkube.sim`. `--compare` runs the trace twice, with and
without node-group autoscaling, and prints the two side by side.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

import click

from mlkube.cli.common import err
from mlkube.sim import SimResult, SimSpec, TraceError, load_alibaba, load_trace, run

ROWS: tuple[tuple[str, Callable[[SimResult], str]], ...] = (
    ("workloads finished", lambda r: f"{r.finished}/{r.workloads}"),
    ("queue wait mean", lambda r: _duration(r.mean_wait_s)),
    ("queue wait p50", lambda r: _duration(r.p50_wait_s)),
    ("queue wait p95", lambda r: _duration(r.p95_wait_s)),
    ("queue wait max", lambda r: _duration(r.max_wait_s)),
    ("makespan", lambda r: _duration(r.makespan_s)),
    ("admissions", lambda r: str(r.admissions)),
    ("preemptions", lambda r: str(r.preemptions)),
    ("GPU allocation", lambda r: f"{r.gpu_allocation:.1%}"),
    ("CPU allocation", lambda r: f"{r.cpu_allocation:.1%}"),
    ("unschedulable", lambda r: str(len(r.unschedulable))),
)


@click.command()
@click.argument("trace", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--alibaba",
    "alibaba",
    type=click.Path(file_okay=False),
    default=None,
    help="Replay the Alibaba GPU trace 2023 in this folder instead of a TRACE.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="With --alibaba: only the first N tasks by arrival.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="With --alibaba: seeds the synthetic durations of tasks the trace lacks.",
)
@click.option("--no-autoscale", is_flag=True, help="Keep node groups at their initial size.")
@click.option("--compare", is_flag=True, help="Run with and without autoscaling, side by side.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def sim(
    trace: str | None,
    alibaba: str | None,
    limit: int | None,
    seed: int,
    no_autoscale: bool,
    compare: bool,
    output: str,
) -> None:
    """Simulate TRACE.yaml (or --alibaba DIR) and print queue waits, allocation and nodes."""
    if (trace is None) == (alibaba is None):
        raise click.UsageError("give a TRACE file or --alibaba DIR (one of them)")
    if compare and no_autoscale:
        raise click.UsageError("--compare already runs without autoscaling; drop --no-autoscale")
    try:
        spec = load_trace(trace) if trace else load_alibaba(str(alibaba), limit=limit, seed=seed)
    except (TraceError, ValueError) as e:
        err.print(f"error: {e}", highlight=False, markup=False)
        sys.exit(1)
    runs = _runs(spec, compare=compare, autoscale=not no_autoscale)
    if output == "json":
        click.echo(json.dumps({name: r.summary() for name, r in runs.items()}, indent=2))
    else:
        click.echo(render(spec, runs))


def _runs(spec: SimSpec, *, compare: bool, autoscale: bool) -> dict[str, SimResult]:
    def with_autoscale(on: bool) -> SimSpec:
        return replace(spec, settings=replace(spec.settings, autoscale=on))

    if compare:
        return {
            "autoscaling": run(with_autoscale(True)),
            "no autoscaling": run(with_autoscale(False)),
        }
    name = "autoscaling" if autoscale and spec.groups else "no autoscaling"
    return {name: run(with_autoscale(autoscale))}


def render(spec: SimSpec, runs: dict[str, SimResult]) -> str:
    """The text `mlkube sim` prints: one column per run, then what never ran and why."""
    names = list(runs)
    rows: list[tuple[str, Sequence[str]]] = [
        (label, [get(r) for r in runs.values()]) for label, get in ROWS
    ]
    for group in spec.groups:
        cells = [
            f"{r.nodes[group.name].peak} peak, {r.nodes[group.name].final} at end"
            for r in runs.values()
        ]
        rows.append((f"nodes {group.name}", cells))
    rows.append(("wall time", [f"{r.wall_s:.2f} s" for r in runs.values()]))
    width = max(len(label) for label, _ in rows)
    columns = [max(len(n), *(len(c[i]) for _, c in rows)) for i, n in enumerate(names)]
    lines = [
        f"{len(spec.workloads)} workloads, {len(spec.nodes)} static nodes, "
        f"{len(spec.groups)} node group(s), {len(spec.queues.quotas)} queue(s)",
        "",
        " " * width + "".join(f"  {n:>{w}}" for n, w in zip(names, columns, strict=True)),
    ]
    for label, row in rows:
        lines.append(
            f"{label:<{width}}" + "".join(f"  {c:>{w}}" for c, w in zip(row, columns, strict=True))
        )
    for name, result in runs.items():
        for key, why in sorted(result.unschedulable.items()):
            lines.append(f"unschedulable ({name}): {key}: {why}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
