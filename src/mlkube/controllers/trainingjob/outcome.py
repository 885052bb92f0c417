"""What a gang's worker states call for: a pure decision, tested with a table of cases.

The failure policy of PyTorchJob and JobSet: the job succeeds when every worker exited 0; when
one fails, the others are stopped and the whole gang restarts while restarts < backoffLimit,
else the job fails. A worker preempted, or lost to a platform restart, stops the gang too and
sends it back to the queue without counting as a failure. A passed deadline ends it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from mlkube.api.trainingjob import WorkerPhase

__all__ = ["GangAction", "gang_outcome"]

GangAction = Literal[
    "Wait",  # workers are running (or some finished and the rest still run): nothing to do
    "StopAll",  # stop the workers still running; decide again when they have exited
    "Succeeded",
    "Failed",  # a worker failed and no restart is left
    "Restart",  # a worker failed: the gang starts again, counted against backoffLimit
    "Requeue",  # preempted or lost: queued again, not counted
    "DeadlineExceeded",
]


def gang_outcome(
    phases: Sequence[WorkerPhase], *, deadline_passed: bool, restarts: int, backoff_limit: int
) -> GangAction:
    """The action for a started gang whose workers are in `phases`."""
    live = "Running" in phases or "Pending" in phases
    if deadline_passed:
        return "StopAll" if live else "DeadlineExceeded"
    if phases and all(p == "Succeeded" for p in phases):
        return "Succeeded"
    if "Failed" in phases:
        if live:
            return "StopAll"
        return "Restart" if restarts < backoff_limit else "Failed"
    if "Preempted" in phases or "Stopped" in phases:
        return "StopAll" if live else "Requeue"
    return "Wait"
