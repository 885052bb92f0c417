"""Retry with more memory after an OOM kill (`retries.increaseMemoryOnOOM`), as VPA bumps a
container that ran out of memory.

The raised limit lives in the step's status (`memoryLimitBytes`), not in the controller, so a
restarted platform queues the step with it again. Pure: the run pass applies the decision.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mlkube.api.pipeline import StepSpec
from mlkube.api.pipelinerun import StepStatus
from mlkube.api.quantity import human_bytes
from mlkube.api.resources import ResourceRequest
from mlkube.autoscaling.rightsizing import MiB, memory_after_oom

OOM_KILLED = "OOMKilled"


@dataclass(frozen=True)
class MemoryBump:
    """The limit the next attempt gets, and the message that says why."""

    limit_bytes: int
    message: str


def effective_request(step: StepSpec, st: StepStatus) -> ResourceRequest:
    """What the step asks the node for: its spec's resources, with the memory limit raised
    after an OOM kill when its status holds one."""
    request = step.resources.request()
    if st.memory_limit_bytes is None:
        return request
    return dataclasses.replace(request, memory_bytes=st.memory_limit_bytes)


def memory_bump(
    step: StepSpec, st: StepStatus, reason: str, *, node_memory_bytes: int
) -> MemoryBump | None:
    """The memory limit for the retry of an attempt that just ended with `reason`, or None to
    retry as before: the step did not opt in, the attempt was not OOM-killed, or it had no
    limit to raise. Call it only when a retry is left.

    The new limit is `memory_after_oom` of the attempt's limit and its observed peak, rounded
    up to a whole MiB and capped at `node_memory_bytes`, so the step never becomes
    unschedulable; at the cap it is retried with the cap.
    """
    if reason != OOM_KILLED or not step.retries.increase_memory_on_oom:
        return None
    limit = _attempt_limit(step, st)
    if not limit:
        return None
    peak = st.usage.memory_bytes_max if st.usage is not None else None
    wanted = -(-memory_after_oom(limit, peak) // MiB) * MiB
    new = min(wanted, node_memory_bytes)
    seen = f"OOMKilled at {human_bytes(limit)}"
    if peak:
        seen += f" (peak {human_bytes(peak)})"
    if new <= limit:
        return MemoryBump(limit, f"{seen}; already at the node's memory, retrying with it")
    capped = ", the node's memory" if new < wanted else ""
    return MemoryBump(new, f"{seen}; retrying with {human_bytes(new)}{capped}")


def _attempt_limit(step: StepSpec, st: StepStatus) -> int:
    """The memory limit the ended attempt ran with: what the node granted it, else what the
    step asks for now."""
    if st.placement is not None and st.placement.memory_bytes:
        return st.placement.memory_bytes
    return effective_request(step, st).memory_bytes
