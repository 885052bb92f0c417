"""`mlkube why` shows the controller's start estimate of a waiting step, relative to now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlkube.cli.why import explain, start_estimate

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("estimate", "shown"),
    [
        (
            {"time": "2026-01-01T12:04:00Z", "after": "run-x/train"},
            "in about 4m (when run-x/train finishes)",
        ),
        ({"time": "2026-01-01T12:00:40Z"}, "in about 40s"),
        ({"time": "2026-01-01T14:05:00Z", "after": "r/a"}, "in about 2h 5m (when r/a finishes)"),
        ({"time": "2026-01-04T16:00:00Z"}, "in about 3d 4h"),
        ({"time": "2026-01-01T11:59:00Z", "after": "r/a"}, "any moment now (when r/a finishes)"),
        (
            {"reason": "waits for r/a, whose end cannot be estimated"},
            "unknown: waits for r/a, whose end cannot be estimated",
        ),
    ],
)
def test_estimate_wording(estimate: dict[str, Any], shown: str) -> None:
    assert start_estimate(estimate, NOW) == shown


def test_explain_adds_the_estimate_under_a_waiting_step() -> None:
    run = {
        "metadata": {"name": "crowded"},
        "status": {
            "phase": "Running",
            "queue": "team",
            "priority": 0,
            "steps": [
                {"name": "a", "phase": "Running"},
                {
                    "name": "b",
                    "phase": "Waiting",
                    "reason": "Queued",
                    "message": "quota: position 1 in queue team; cpu short",
                    "estimatedStart": {"time": "2026-01-01T12:04:00Z", "after": "crowded/a"},
                },
            ],
        },
    }
    assert explain(run, now=NOW) == [
        "pipelinerun crowded is Running in queue team (priority 0)",
        "  b: Waiting - Queued: quota: position 1 in queue team; cpu short",
        "    estimated start: in about 4m (when crowded/a finishes)",
    ]
