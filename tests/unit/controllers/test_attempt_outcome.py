"""Why a step attempt failed, and whether the step is retried: tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlkube.api.pipeline import StepSpec
from mlkube.api.pipelinerun import StepStatus
from mlkube.controllers.pipelinerun.attempt_outcome import failure_of, record_failure
from mlkube.runtime.base import ExitReason, WorkloadExit

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def exit_of(reason: ExitReason, message: str) -> WorkloadExit:
    return WorkloadExit("ns/r/u/s/1", 0 if reason == "Completed" else 1, None, reason, message, 0)


@pytest.mark.parametrize(
    ("exit_", "result", "status_reason", "expected"),
    [
        (
            exit_of("Error", "exit code 1"),
            {"error": {"type": "KeyError", "message": "'label'"}},
            "Started",
            ("Error", "KeyError: 'label'"),
        ),
        (
            exit_of("OOMKilled", "memory limit 64Mi exceeded"),
            None,
            "Started",
            ("OOMKilled", "memory limit 64Mi exceeded"),
        ),
        (
            exit_of("Killed", "stopped"),
            None,
            "DeadlineExceeded",
            ("DeadlineExceeded", "ran too long"),
        ),
        (
            exit_of("Completed", "exit code 0"),
            None,
            "Started",
            ("Error", "the step exited 0 but wrote no result"),
        ),
    ],
)
def test_failure_of(
    exit_: WorkloadExit,
    result: dict[str, Any] | None,
    status_reason: str,
    expected: tuple[str, str],
) -> None:
    st = StepStatus(name="s", reason=status_reason, message="ran too long")
    assert failure_of(exit_, result, st) == expected


def test_a_failure_with_retries_left_is_retried_after_the_backoff() -> None:
    step = StepSpec.model_validate(
        {"name": "s", "command": ["false"], "retries": {"limit": 2, "backoffSeconds": 3}}
    )
    st = StepStatus(name="s", attempts=1)
    delay = record_failure(step, st, "Error", "exit code 1", now=NOW, node_memory_bytes=2**30)
    assert delay == 3
    assert (st.phase, st.reason, st.message) == (
        "Retrying",
        "Error",
        "exit code 1; retry 1 of 2 in 3s",
    )
    assert st.next_retry_time == NOW + timedelta(seconds=3)


def test_the_last_failure_fails_the_step_and_counts_an_oom_kill() -> None:
    step = StepSpec.model_validate({"name": "s", "command": ["false"], "retries": {"limit": 1}})
    st = StepStatus(name="s", attempts=2)
    delay = record_failure(step, st, "OOMKilled", "memory", now=NOW, node_memory_bytes=2**30)
    assert delay is None
    assert (st.phase, st.reason, st.message, st.oom_kills) == ("Failed", "OOMKilled", "memory", 1)
