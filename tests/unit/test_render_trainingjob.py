"""`mlkube get trainingjobs` columns, as exact text."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from mlkube.api.kinds import lookup
from mlkube.cli.render import table


def test_get_trainingjobs_shows_workers_running_status_and_restarts() -> None:
    now = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    job = {
        "metadata": {"name": "ddp", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"workers": 2},
        "status": {
            "phase": "Running",
            "restarts": 1,
            "startTime": "2026-01-01T00:05:00Z",
            "workers": [
                {"rank": 0, "phase": "Running", "pid": 11},
                {"rank": 1, "phase": "Running", "pid": 12},
            ],
        },
    }
    console = Console(width=100, record=True)
    console.print(table(lookup("tj"), [job], now=now))
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines == [
        "NAME  WORKERS  RUNNING  STATUS   RESTARTS  DURATION  AGE",
        "ddp   2        2/2      Running  1         5m        10m",
    ]
