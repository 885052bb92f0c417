"""What a failed step attempt means for its step: why it failed, and whether it is retried.

Plain functions over the step's spec and status (no store, no runtime), so the run pass only
calls them and the rules read in one place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mlkube.api.pipeline import StepSpec
from mlkube.api.pipelinerun import StepStatus
from mlkube.controllers.pipelinerun import oom
from mlkube.runtime.base import WorkloadExit


def failure_of(
    exit_: WorkloadExit, result: dict[str, Any] | None, st: StepStatus
) -> tuple[str, str]:
    """The reason and message of an attempt that did not succeed: the step's own error when
    the executor recorded one, the deadline when the controller stopped it for that, the
    runtime's account otherwise (an exit 0 without a result is an error of the step)."""
    reason = "DeadlineExceeded" if st.reason == "DeadlineExceeded" else exit_.reason
    message = exit_.message
    if result and "error" in result:
        message = f"{result['error']['type']}: {result['error']['message']}"
    elif reason == "DeadlineExceeded":
        message = st.message
    elif exit_.reason == "Completed":
        reason, message = "Error", "the step exited 0 but wrote no result"
    return reason, message


def record_failure(
    step: StepSpec,
    st: StepStatus,
    reason: str,
    message: str,
    *,
    now: datetime,
    node_memory_bytes: int,
) -> float | None:
    """Record a failed attempt on `st`: Retrying after the step's backoff (with more memory
    after an OOM kill, when its retry policy asks for it) while retries are left, else
    Failed. Returns the delay before the retry, None when the step failed for good."""
    failures = st.attempts  # interrupted attempts are not counted, so each one failed
    if reason == oom.OOM_KILLED:
        st.oom_kills += 1
    if failures > step.retries.limit:
        st.phase, st.reason, st.message = "Failed", reason, message
        return None
    bump = oom.memory_bump(step, st, reason, node_memory_bytes=node_memory_bytes)
    if bump is not None:
        st.memory_limit_bytes, message = bump.limit_bytes, bump.message
    delay = step.retries.delay(failures)
    st.next_retry_time = now + timedelta(seconds=delay)
    st.phase, st.reason = "Retrying", reason
    st.message = f"{message}; retry {failures} of {step.retries.limit} in {delay:g}s"
    return delay
