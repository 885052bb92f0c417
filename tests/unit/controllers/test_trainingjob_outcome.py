"""The gang failure policy, decided from worker states alone."""

from __future__ import annotations

import pytest

from mlkube.api.trainingjob import WorkerPhase
from mlkube.controllers.trainingjob.outcome import GangAction, gang_outcome

CASES: list[tuple[list[WorkerPhase], bool, int, int, GangAction]] = [
    # phases, deadline passed, restarts, backoffLimit → action
    (["Running", "Running"], False, 0, 0, "Wait"),
    (["Succeeded", "Running"], False, 0, 0, "Wait"),
    (["Succeeded", "Succeeded"], False, 0, 0, "Succeeded"),
    (["Failed", "Running"], False, 0, 2, "StopAll"),
    (["Failed", "Stopped"], False, 0, 2, "Restart"),
    (["Failed", "Stopped"], False, 2, 2, "Failed"),
    (["Failed", "Succeeded"], False, 0, 0, "Failed"),
    (["Preempted", "Running"], False, 0, 0, "StopAll"),
    (["Preempted", "Stopped"], False, 0, 0, "Requeue"),  # not counted against backoffLimit
    (["Stopped", "Stopped"], False, 0, 0, "Requeue"),  # lost to a platform restart
    (["Running", "Running"], True, 0, 0, "StopAll"),
    (["Stopped", "Succeeded"], True, 0, 0, "DeadlineExceeded"),
]


@pytest.mark.parametrize(("phases", "deadline", "restarts", "limit", "action"), CASES)
def test_gang_outcome(
    phases: list[WorkerPhase], deadline: bool, restarts: int, limit: int, action: GangAction
) -> None:
    assert (
        gang_outcome(phases, deadline_passed=deadline, restarts=restarts, backoff_limit=limit)
        == action
    )
