"""Which TrainingJob worker a log request means, and when a followed worker log is over."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.errors import NotFound
from mlkube.server.logs import choose_worker, worker_finished


def job(phase: str = "Running", starts: int = 1, *phases: str) -> dict[str, Any]:
    workers = [{"rank": r, "phase": p} for r, p in enumerate(phases or ("Running", "Running"))]
    return {
        "metadata": {"name": "tj"},
        "spec": {"workers": 2},
        "status": {"phase": phase, "starts": starts, "workers": workers},
    }


@pytest.mark.parametrize(
    ("obj", "worker", "start", "finished"),
    [
        (None, 0, 1, True),  # the job is gone
        (job("Running", 1), 0, 1, False),
        (job("Running", 1, "Succeeded", "Running"), 0, 1, True),
        (job("Running", 1, "Succeeded", "Running"), 1, 1, False),
        (job("Running", 2), 0, 1, True),  # the gang started again: start 1 is over
        (job("Pending", 0, "Pending", "Pending"), 0, 1, False),  # start 1 has not begun
        (job("Pending", 1, "Preempted", "Preempted"), 0, 2, False),  # waits for start 2
        (job("Pending", 1, "Preempted", "Preempted"), 0, 1, True),
        (job("Failed", 1, "Failed", "Running"), 1, 1, True),  # the job is over
    ],
)
def test_when_a_followed_worker_log_is_over(
    obj: dict[str, Any] | None, worker: int, start: int, finished: bool
) -> None:
    assert worker_finished(obj, worker, start) is finished


def test_the_worker_defaults_to_0_and_must_be_one_of_the_jobs() -> None:
    assert choose_worker(job(), None) == 0
    assert choose_worker(job(), 1) == 1
    with pytest.raises(NotFound, match=r'trainingjob "tj" has no worker 2 \(workers: 0 to 1\)'):
        choose_worker(job(), 2)
