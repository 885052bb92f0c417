"""Messages between `LocalRuntime` and its fork server: one JSON object per line.

Requests (runtime -> server):
    launch    start a workload (fork; then run a Python target in place, or exec `argv`)
    stop      SIGTERM a workload's process group now, SIGKILL it after `grace` seconds
    kill      SIGKILL a workload's process group now (the memory watchdog); unlike a stop,
              the exit is not marked as asked for
    preload   import modules into the server ahead of time (no reply)
    shutdown  SIGKILL every workload, report their exits, exit

Events (server -> runtime), in the order they happen for each id:
    started   the workload's pid (sent again for a duplicate launch of a live id)
    failed    nothing was forked (a preload failed to import, fork failed)
    exited    the wait status, whether a stop was asked first, a set-up error the child
              reported before its target ran, and the rusage of the process tree
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

__all__ = [
    "ChildRequest",
    "ExitedEvent",
    "LaunchRequest",
    "Request",
    "child_request",
    "decode",
    "encode",
]


class LaunchRequest(TypedDict):
    op: Literal["launch"]
    id: str
    # Exactly one of `argv` (exec this program) and `target` ([module, function, *args]
    # run in the forked child itself).
    argv: list[str] | None
    target: list[str] | None
    preload: list[str]
    env: dict[str, str]
    cwd: str
    log_path: str
    cpus: list[int] | None
    # `cgroup.procs` of the workload's memory cgroup, or None for no cgroup.
    cgroup_procs: str | None
    # Without a cgroup: the child's RLIMIT_AS (None: no address-space limit, as for a GPU
    # workload whose memory the runtime watches by sampling).
    memory_limit: int | None


class ChildRequest(TypedDict):
    """What the fork server hands a spare child: a launch, with the environment as changes
    to the server's own (which the child already has)."""

    argv: list[str] | None
    target: list[str] | None
    env_set: dict[str, str]
    env_unset: list[str]
    cwd: str
    log_path: str
    cpus: list[int] | None
    cgroup_procs: str | None
    memory_limit: int | None


def child_request(launch: LaunchRequest, current_env: Mapping[str, str]) -> ChildRequest:
    """The hand-over message for `launch`, its env expressed as changes to `current_env`.

    Sending only what differs spares the child the copy-on-write page faults of walking and
    rewriting all of `os.environ` (about 0.4 ms in a fresh fork).
    """
    env = launch["env"]
    return {
        "argv": launch["argv"],
        "target": launch["target"],
        "env_set": {k: v for k, v in env.items() if current_env.get(k) != v},
        "env_unset": [k for k in current_env if k not in env],
        "cwd": launch["cwd"],
        "log_path": launch["log_path"],
        "cpus": launch["cpus"],
        "cgroup_procs": launch["cgroup_procs"],
        "memory_limit": launch["memory_limit"],
    }


class StopRequest(TypedDict):
    op: Literal["stop"]
    id: str
    grace: float


class KillRequest(TypedDict):
    op: Literal["kill"]
    id: str


class PreloadRequest(TypedDict):
    op: Literal["preload"]
    refs: list[str]


class ShutdownRequest(TypedDict):
    op: Literal["shutdown"]


# What `ServerLink.send` takes: mypy checks each request the runtime builds against these.
Request = LaunchRequest | StopRequest | KillRequest | PreloadRequest | ShutdownRequest


class StartedEvent(TypedDict):
    ev: Literal["started"]
    id: str
    pid: int


class FailedEvent(TypedDict):
    ev: Literal["failed"]
    id: str
    message: str


class ExitedEvent(TypedDict):
    ev: Literal["exited"]
    id: str
    pid: int
    exit_code: int | None
    signal: int | None
    stopped: bool
    launch_error: str
    cpu_seconds: float
    max_rss_bytes: int
    finished_at: float


def encode(message: Any) -> bytes:
    """One message as a JSON line."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One JSON line back into a message dict (`ValueError` if it is not an object)."""
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError(f"not a message: {line[:80]!r}")
    return value
