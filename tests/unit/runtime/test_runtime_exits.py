"""Exit classification: reason and message from what is known at reap time."""

from __future__ import annotations

import pytest

from mlkube.runtime.local.exits import ExitFacts, classify_exit, signal_name
from mlkube.runtime.local.memwatch import MemoryBreach
from mlkube.runtime.local.target import MEMORY_ERROR_EXIT_CODE

T = 1000.0


@pytest.mark.parametrize(
    ("facts", "reason", "message"),
    [
        (ExitFacts(0, None, T), "Completed", "exit code 0"),
        (ExitFacts(3, None, T), "Error", "exit code 3"),
        (ExitFacts(None, 11, T), "Killed", "killed by SIGSEGV"),
        (ExitFacts(None, 15, T, stopped=True), "Killed", "stopped (by SIGTERM)"),
        (ExitFacts(0, None, T, stopped=True), "Killed", "stopped (exit code 0)"),
        (
            ExitFacts(None, 9, T, oom_killed=True, memory_limit_bytes=64 << 20),
            "OOMKilled",
            "memory limit 64Mi exceeded",
        ),
        (
            ExitFacts(None, 9, T, stopped=True, oom_killed=True, memory_limit_bytes=1 << 30),
            "OOMKilled",
            "memory limit 1Gi exceeded",
        ),
        (ExitFacts(0, None, T, oom_killed=True), "Completed", "exit code 0"),
        (
            ExitFacts(None, 9, T, oom_killed=True, oom_detail="why", memory_limit_bytes=1 << 30),
            "OOMKilled",
            "memory limit 1Gi exceeded (why)",
        ),
        (ExitFacts(0, None, T, oom_killed=True, oom_detail="why"), "Completed", "exit code 0"),
        (
            ExitFacts(
                MEMORY_ERROR_EXIT_CODE, None, T, python_target=True, memory_limit_bytes=3 << 20
            ),
            "OOMKilled",
            "memory limit 3Mi exceeded (MemoryError)",
        ),
        (
            ExitFacts(MEMORY_ERROR_EXIT_CODE, None, T, python_target=True),
            "OOMKilled",
            "out of memory (MemoryError)",
        ),
        (
            ExitFacts(MEMORY_ERROR_EXIT_CODE, None, T),
            "Error",
            f"exit code {MEMORY_ERROR_EXIT_CODE}",
        ),
        (
            ExitFacts(127, None, T, launch_error="cannot run 'x': No such file"),
            "LaunchFailed",
            "cannot run 'x': No such file",
        ),
        (ExitFacts(None, 9, T, stopped=True, lost="runtime closed"), "Killed", "runtime closed"),
    ],
)
def test_classify_exit(facts, reason, message):
    result = classify_exit("w", facts)
    assert (result.id, result.reason, result.message, result.finished_at) == (
        "w",
        reason,
        message,
        T,
    )


def test_launch_failure_has_neither_exit_code_nor_signal():
    result = classify_exit("w", ExitFacts(127, None, T, launch_error="nope"))
    assert (result.exit_code, result.signal) == (None, None)


def test_codes_and_signals_are_passed_through():
    result = classify_exit("w", ExitFacts(None, 6, T))
    assert (result.exit_code, result.signal) == (None, 6)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (64 << 20, "64Mi"),
        (1 << 30, "1Gi"),
        (3 << 40, "3Ti"),
        (1536, "1536"),
        (2048, "2Ki"),
        (1000, "1000"),
    ],
)
def test_the_limit_is_named_as_a_quantity(value, text):
    facts = ExitFacts(None, 9, T, oom_killed=True, memory_limit_bytes=value)
    assert classify_exit("w", facts).message == f"memory limit {text} exceeded"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (int(4.3 * (1 << 30)), "4.3Gi"),
        (4 << 30, "4Gi"),
        (320 << 20, "320Mi"),
        ((1 << 20) + (1 << 19), "1.5Mi"),
        (2 << 40, "2Ti"),
        (900, "900"),
    ],
)
def test_the_watchdog_rounds_what_it_measured(value, text):
    assert MemoryBreach("w", 1, value).detail().startswith(f"resident {text}; ")


def test_signal_name():
    assert signal_name(9) == "SIGKILL"
    assert signal_name(99) == "signal 99"
