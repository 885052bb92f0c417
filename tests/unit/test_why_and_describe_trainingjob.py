"""`mlkube why tj/NAME` and `mlkube describe tj/NAME`, as exact text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from mlkube.cli.describe_job import describe_job
from mlkube.cli.why import explain_job

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def job(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "ddp", "namespace": "ml"},
        "spec": {
            "workers": 2,
            "python": {"module": "train.py", "function": "main"},
            "args": ["--epochs", "3"],
            "resources": {"cpu": "2", "memory": "4Gi"},
            "runPolicy": {"backoffLimit": 2},
        },
        "status": status,
    }


def test_why_a_gang_waits_for_room_with_its_place_and_estimate() -> None:
    waiting = job(
        phase="Pending",
        queue=None,
        priority=0,
        waitReason="waiting for CPU: 2 of 4 cores free (the gang of 2 starts only when all fit)",
        queuePosition=2,
        estimatedStart={"time": "2026-01-01T12:04:00Z", "after": "r1/hog"},
    )
    assert explain_job(waiting, now=NOW) == [
        "trainingjob ddp is Pending (priority 0)",
        "  waits for room on the node: waiting for CPU: 2 of 4 cores free "
        "(the gang of 2 starts only when all fit)",
        "  position in queue: 2",
        "  estimated start: in about 4m (when r1/hog finishes)",
    ]


def test_why_a_gang_waits_for_quota_with_an_unknown_estimate() -> None:
    waiting = job(
        phase="Pending",
        queue="team",
        priority=5,
        waitReason="quota: position 1 in queue team; needs cpu 4",
        estimatedStart={"reason": "quota is not weighed"},
    )
    assert explain_job(waiting, now=NOW) == [
        "trainingjob ddp is Pending in queue team (priority 5)",
        "  waits for quota: position 1 in queue team; needs cpu 4",
        "  estimated start: unknown (quota is not weighed)",
    ]


def test_why_a_running_or_failed_job() -> None:
    assert explain_job(job(phase="Running", starts=2), now=NOW)[1:] == [
        "  all 2 workers started together (start 2)"
    ]
    failed = job(
        phase="Failed",
        conditions=[{"type": "Failed", "status": "True", "reason": "Error", "message": "boom"}],
    )
    assert explain_job(failed, now=NOW)[1:] == ["  Error: boom"]
    assert explain_job(job(), now=NOW) == [
        "trainingjob ddp is Pending",
        "  not queued yet",
        "  estimated start: unknown (no estimate yet)",
    ]


def test_describe_shows_the_spec_state_conditions_and_a_row_per_worker() -> None:
    obj = job(
        phase="Running",
        queue="team",
        priority=0,
        startTime="2026-01-01T11:58:00Z",
        starts=2,
        restarts=1,
        masterPort=29500,
        conditions=[
            {"type": "Admitted", "status": "True", "reason": "GangAdmitted", "message": "ok"}
        ],
        workers=[
            {"rank": 0, "phase": "Running", "pid": 11, "placement": {"cpus": [0, 1]}},
            {
                "rank": 1,
                "phase": "Failed",
                "pid": 12,
                "exitCode": 1,
                "reason": "Error",
                "message": "worker 1 exit code 1",
                "placement": {"cpus": [2, 3]},
            },
        ],
    )
    console = Console(width=120, record=True)
    describe_job(obj, console, now=NOW)
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines == [
        "Name:           ddp",
        "Namespace:      ml",
        "Labels:         <none>",
        "Program:        train.py:main --epochs 3",
        "Workers:        2 x {cpu=2, memory=4Gi}",
        "Priority Class: <default>",
        "Run Policy:     backoffLimit=2, activeDeadlineSeconds=<none>",
        "Phase:          Running",
        "Queue:          team",
        "Priority:       0",
        "Started:        2026-01-01T11:58:00Z",
        "Duration:       2m",
        "Starts:         2",
        "Restarts:       1 of 2",
        "Master Port:    29500",
        "Conditions:",
        "TYPE      STATUS  REASON        MESSAGE",
        "Admitted  True    GangAdmitted  ok",
        "Workers:",
        "RANK  PHASE    PID  EXIT  CPUS  REASON  MESSAGE",
        "0     Running  11   -     0,1",
        "1     Failed   12   1     2,3   Error   worker 1 exit code 1",
    ]
