"""Decide what a process's end means: the `WorkloadExit` reason and message. Pure.

Precedence, first match wins:

1. the child reported a set-up failure before its target ran     -> LaunchFailed
   (unless we had asked it to stop: a stop racing a launch is a stop)
   the fork server died (or the runtime closed) under it           -> Killed
2. the memory cgroup recorded an OOM kill, or the runtime's       -> OOMKilled
   memory watchdog killed it (`oom_detail` says why), and the exit is not 0
3. a Python target exited `MEMORY_ERROR_EXIT_CODE` (MemoryError) -> OOMKilled
4. we asked it to stop                                           -> Killed
5. a signal killed it                                            -> Killed
6. exit code 0 / anything else                                   -> Completed / Error
"""

from __future__ import annotations

import signal as signals
from dataclasses import dataclass

from mlkube.api.quantity import format_bytes
from mlkube.runtime.base import ExitReason, WorkloadExit
from mlkube.runtime.local.target import MEMORY_ERROR_EXIT_CODE

__all__ = ["ExitFacts", "classify_exit", "signal_name"]


@dataclass(frozen=True)
class ExitFacts:
    """What is known when a workload's main process has been reaped."""

    exit_code: int | None
    signal: int | None
    finished_at: float
    stopped: bool = False
    oom_killed: bool = False
    launch_error: str = ""
    lost: str = ""  # why the fork server went away with the workload still running
    python_target: bool = False
    memory_limit_bytes: int | None = None
    # Set with `oom_killed` when the runtime itself killed it for memory (not the kernel):
    # the measurement and the mechanism, appended to the OOMKilled message in parentheses.
    oom_detail: str = ""


def classify_exit(workload_id: str, facts: ExitFacts) -> WorkloadExit:
    """The `WorkloadExit` for `facts`, by the precedence in this module's docstring."""
    code, sig = facts.exit_code, facts.signal

    def exit_(reason: ExitReason, message: str) -> WorkloadExit:
        return WorkloadExit(workload_id, code, sig, reason, message, facts.finished_at)

    if facts.launch_error and not facts.stopped:
        code = sig = None
        return exit_("LaunchFailed", facts.launch_error)
    if facts.lost:
        return exit_("Killed", facts.lost)
    if facts.oom_killed and code != 0:
        detail = f" ({facts.oom_detail})" if facts.oom_detail else ""
        return exit_("OOMKilled", _memory_message(facts.memory_limit_bytes) + detail)
    if facts.python_target and code == MEMORY_ERROR_EXIT_CODE:
        return exit_("OOMKilled", _memory_message(facts.memory_limit_bytes) + " (MemoryError)")
    if facts.stopped:
        how = f"by {signal_name(sig)}" if sig is not None else f"exit code {code}"
        return exit_("Killed", f"stopped ({how})")
    if sig is not None:
        return exit_("Killed", f"killed by {signal_name(sig)}")
    return exit_("Completed" if code == 0 else "Error", f"exit code {code}")


def _memory_message(limit: int | None) -> str:
    return f"memory limit {format_bytes(limit)} exceeded" if limit else "out of memory"


def signal_name(number: int) -> str:
    """`SIGSEGV` for 11; `signal 99` for a number with no name."""
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"signal {number}"
