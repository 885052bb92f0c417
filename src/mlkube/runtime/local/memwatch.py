"""Memory limits enforced by sampling: the watchdog for GPU workloads without a memory cgroup.

Where the node has no cgroup v1 memory controller, a memory limit normally becomes the child's
RLIMIT_AS. That cannot work for a GPU workload: CUDA and ROCm reserve huge virtual address
ranges at start-up (unified addressing), so under any realistic address-space limit CUDA fails
to initialise ("cudaGetDeviceCount ... out of memory"). Such a workload therefore runs without
an address-space limit, and the runtime's usage sampler (`usage.py`) checks its process tree's
resident memory at every sample; over the limit, the runtime SIGKILLs the workload's process
group and reports `OOMKilled`, with `breach_detail` in the message.

What is compared with the limit: the tree's proportional set size (PSS, each resident page
shared by n processes counting 1/n), so pages shared inside the tree (forked data-loader
workers) count once, and pages inherited from the warm worker count only in part (a cgroup
would not charge them at all). PSS comes from `/proc/PID/smaps_rollup`, a page-table walk that
costs milliseconds for a large process, so it is read only when the tree's RSS sum, which the
sampler measures anyway and which is never below the PSS sum, exceeds the limit
(`check_memory`), and over the same process list the sampler walked. A workload comfortably
within its limit costs nothing extra.

The limits of sampling: between two samples (`LocalRuntime(sample_interval=...)`) a workload
can overshoot its limit by as much as it allocates in one interval, possibly into the node's
own memory pressure, and a spike shorter than an interval can go unseen; swapped-out pages are
not counted. The kernel's cgroup is the guarantee; this is a backstop for nodes without one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from mlkube.api.quantity import human_bytes
from mlkube.runtime.local.plan import MemoryEnforcement

__all__ = ["MemoryBreach", "check_memory", "describe_enforcement", "proportional_tree_bytes"]

_WHY = "enforced by sampling: no memory cgroup, and GPU workloads cannot use an address-space limit"


def describe_enforcement(how: MemoryEnforcement, *, sample_interval: float) -> str:
    """One line on how a memory limit is enforced, for the runtime's log."""
    if how == "cgroup":
        return "a cgroup v1 memory controller (the kernel OOM-kills)"
    if how == "rlimit":
        return "RLIMIT_AS (allocations beyond the limit fail)"
    return (
        f"resident memory sampled every {sample_interval:g}s, SIGKILL when over the limit "
        "(no memory cgroup; RLIMIT_AS would stop CUDA/ROCm from starting)"
    )


@dataclass(frozen=True)
class MemoryBreach:
    """A watched workload found over its memory limit by one sample."""

    workload_id: str
    limit_bytes: int
    resident_bytes: int

    def detail(self) -> str:
        """What was measured and how the limit is enforced, for the OOMKilled message."""
        return f"resident {human_bytes(self.resident_bytes)}; {_WHY}"


def check_memory(limit_bytes: int, rss_bytes: int, proportional: Callable[[], int]) -> int | None:
    """The resident figure that breaks `limit_bytes`, or None while the tree is within it.

    `rss_bytes` is the tree's RSS sum, an upper bound of its proportional figure, so
    `proportional` (the costly measurement) is called only when the RSS sum is over the limit.
    """
    if rss_bytes <= limit_bytes:
        return None
    resident = proportional()
    return resident if resident > limit_bytes else None


def proportional_tree_bytes(tree: Sequence[psutil.Process]) -> int:
    """PSS summed over the processes of `tree` (RSS where PSS is unavailable)."""
    return sum(_proportional_bytes(member) for member in tree)


def _proportional_bytes(process: psutil.Process) -> int:
    try:
        try:
            return int(getattr(process.memory_full_info(), "pss", 0)) or _rss(process)
        except psutil.AccessDenied:
            return _rss(process)
    except psutil.Error:
        return 0  # it exited between listing and reading


def _rss(process: psutil.Process) -> int:
    return int(process.memory_info().rss)
