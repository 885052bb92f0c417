"""Stopping workloads, and what happens when the fork server itself dies."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

ISOLATIONS = ["fork", "process"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_stop_kills_the_whole_process_group(
    runtime, exits, python_spec, tmp_path, eventually, pid_gone, isolation
):
    pid_file = tmp_path / "grandchild.pid"
    pid = runtime.launch(
        python_spec("w-tree", "spawn_grandchild", str(pid_file), isolation=isolation)
    )
    grandchild = int(
        eventually(lambda: pid_file.exists() and pid_file.read_text(), what="grandchild")
    )
    assert os.getpgid(grandchild) == pid

    runtime.stop("w-tree", grace_seconds=5)
    result = exits.wait("w-tree")
    assert (result.reason, result.signal) == ("Killed", signal.SIGTERM)
    assert result.message == "stopped (by SIGTERM)"
    eventually(lambda: pid_gone(pid) and pid_gone(grandchild), what="the process group to go")


def test_stop_escalates_to_sigkill_after_the_grace(
    runtime, exits, python_spec, tmp_path, eventually
):
    ready = tmp_path / "ready"
    runtime.launch(python_spec("w-stubborn", "ignore_sigterm", str(ready)))
    eventually(ready.exists, what="the workload to ignore SIGTERM")
    runtime.stop("w-stubborn", grace_seconds=0.3)
    result = exits.wait("w-stubborn")
    assert (result.reason, result.signal, result.message) == ("Killed", 9, "stopped (by SIGKILL)")


def test_stop_returns_at_once(runtime, exits, python_spec, tmp_path, eventually):
    import time

    ready = tmp_path / "ready"
    runtime.launch(python_spec("w-slow-stop", "ignore_sigterm", str(ready)))
    eventually(ready.exists, what="the workload to ignore SIGTERM")
    started = time.monotonic()
    runtime.stop("w-slow-stop", grace_seconds=2)
    assert time.monotonic() - started < 1.0
    assert exits.wait("w-slow-stop").reason == "Killed"


def test_command_stop(runtime, exits, command_spec, pid_gone, eventually):
    pid = runtime.launch(command_spec("c-sleep", "sleep", "300"))
    runtime.stop("c-sleep", grace_seconds=5)
    assert exits.wait("c-sleep").reason == "Killed"
    eventually(lambda: pid_gone(pid), what="sleep to exit")


def test_worker_death_is_reported_and_the_runtime_recovers(
    runtime, exits, python_spec, pid_gone, eventually
):
    pid = runtime.launch(python_spec("w-orphaned", "sleep", "300"))
    worker = runtime.worker_pid
    assert worker is not None
    os.kill(worker, signal.SIGKILL)

    result = exits.wait("w-orphaned")
    assert result.reason == "Killed"
    assert "runtime worker exited unexpectedly" in result.message
    eventually(lambda: pid_gone(pid), what="the workload to die with its worker")

    runtime.launch(python_spec("w-next", "hello"))
    assert exits.wait("w-next").reason == "Completed"
    assert runtime.worker_pid not in (None, worker)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_log_lines_stream_while_the_workload_runs(
    runtime, exits, python_spec, eventually, isolation
):
    spec = python_spec("w-stream", "print_then_sleep", isolation=isolation)
    runtime.launch(spec)
    log = Path(spec.log_path)
    eventually(lambda: log.exists() and "first line" in log.read_text(), what="the log line")
    runtime.stop(spec.id, grace_seconds=1)
    assert exits.wait(spec.id).reason == "Killed"
