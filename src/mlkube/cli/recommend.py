"""`mlkube recommend`: CPU and memory requests for pipeline steps, from the usage their runs
recorded (VPA's recommender; see `mlkube.sdk.rightsizing` for how runs become samples)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import click
from rich.table import Table

from mlkube.api.meta import format_time
from mlkube.cli import render
from mlkube.cli.common import (
    client_for,
    config_option,
    err,
    handle_errors,
    namespace_option,
    ns_for,
    out,
)
from mlkube.sdk.rightsizing import (
    StepRecommendation,
    recommendations,
    service_recommendations,
)

HEADERS = (
    "PIPELINE",
    "STEP",
    "RUNS",
    "CPU REQUEST",
    "CPU TARGET",
    "MEMORY REQUEST",
    "MEMORY TARGET",
)
WIDE_HEADERS = ("OOM KILLS", "LAST RUN")


def recommend_table(
    rows: Sequence[StepRecommendation],
    *,
    all_namespaces: bool = False,
    wide: bool = False,
    now: datetime | None = None,
) -> Table:
    """The table `mlkube recommend` prints: targets with their `(lower-upper)` range, and a
    NOTE where the request is far off; `wide` adds OOM kills and the age of the last run."""
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    headers = [*HEADERS, *(WIDE_HEADERS if wide else ()), "NOTE"]
    for header in ["NAMESPACE", *headers] if all_namespaces else headers:
        grid.add_column(header)
    for row in rows:
        cells = [row.pipeline, row.step, str(row.runs)]
        cells += [row.cpu_request or "-", _range(row, "cpu"), row.memory_request or "-"]
        cells.append(_range(row, "memory"))
        if wide:
            last = format_time(row.last_finished) if row.last_finished else None
            cells += [str(row.oom_kills), render.age(last, now=now) if last else "-"]
        cells.append("; ".join(row.notes()))
        grid.add_row(*([row.namespace, *cells] if all_namespaces else cells))
    return grid


def _range(row: StepRecommendation, resource: str) -> str:
    """`250m (100m-400m)`: target, then lower and upper bound; `-` without a recommendation."""
    rec = row.recommendation
    if rec is None:
        return "-"
    estimates = (rec.target, rec.lower_bound, rec.upper_bound)
    target, lower, upper = (e.as_requests()[resource] for e in estimates)
    return f"{target} ({lower}-{upper})"


@click.command()
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace you may read.")
@click.option("--pipeline", "pipeline_name", default=None, help="Only this pipeline's steps.")
@click.option(
    "-o", "--output", type=click.Choice(["table", "wide", "yaml", "json"]), default="table"
)
@config_option
@handle_errors
def recommend(
    namespace: str | None,
    all_namespaces: bool,
    pipeline_name: str | None,
    output: str,
    config_path: str | None,
) -> None:
    """Recommend CPU and memory requests per pipeline step, from the usage of its past runs,
    and per InferenceService revision (as pipeline `isvc/NAME`), from its replicas' usage.

    A step's target is what 90% of its recent runs needed plus a 15% margin (recent runs
    count more: half as much per day of age, over 8 days); the range says how far a request
    may be off before it is worth changing. Steps are grouped by pipeline: the run's
    pipelineRef, else its mlkube.io/pipeline label (set by `mlkube run`), else its
    generateName, else its own name.
    """
    client = client_for(config_path)
    ns = None if all_namespaces else ns_for(client, namespace)
    now = datetime.now(UTC)
    rows = recommendations(
        client.list("pipelineruns", namespace=ns),
        now=now,
        pipelines=client.list("pipelines", namespace=ns),
    )
    rows += service_recommendations(client.list("inferenceservices", namespace=ns), now=now)
    if pipeline_name is not None:
        rows = [r for r in rows if r.pipeline == pipeline_name]
    if output in ("yaml", "json"):
        body = [r.to_dict() for r in rows]
        out.print(render.dump(body, output), highlight=False, markup=False, end="")
    elif not rows:
        where = f" in {ns} namespace" if ns else ""
        err.print(f"No pipeline steps have run{where}.", highlight=False)
    else:
        wide = output == "wide"
        table = recommend_table(rows, all_namespaces=all_namespaces, wide=wide, now=now)
        out.print(table)
