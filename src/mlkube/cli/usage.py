"""`mlkube usage`: CPU-hours, GPU-hours and storage per namespace and user."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table

from mlkube.api.quantity import format_bytes
from mlkube.cli.common import (
    client_for,
    config_option,
    handle_errors,
    namespace_option,
    ns_for,
    out,
)
from mlkube.sdk.usage import usage_rows


@click.command()
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace you may read.")
@config_option
@handle_errors
def usage(namespace: str | None, all_namespaces: bool, config_path: str | None) -> None:
    """CPU-hours and GPU-hours used, per namespace and user (deleted runs included), and the
    storage the existing runs' artifacts take."""
    client = client_for(config_path)
    ns = None if all_namespaces else ns_for(client, namespace)
    rows = usage_rows(
        client.list("pipelineruns", namespace=ns),
        now=datetime.now(UTC),
        records=client.usage_records(ns),
    )
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for header in ("NAMESPACE", "USER", "RUNS", "STEPS", "CPU-HOURS", "GPU-HOURS", "STORAGE"):
        grid.add_column(header)
    for row in rows:
        grid.add_row(
            row.namespace,
            row.user,
            str(row.runs),
            str(row.steps),
            f"{row.cpu_hours:.4f}",
            f"{row.gpu_hours:.4f}",
            format_bytes(row.storage_bytes),
        )
    out.print(grid)
