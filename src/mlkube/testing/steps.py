"""Small step functions for tests and benchmarks, importable by name in every worker."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def noop() -> None:
    """Does nothing: measures the platform's own cost per step."""


def add(a: float, b: float) -> float:
    return a + b


def make_array(n: int) -> Any:
    """A large value (bytes), so it travels as an artifact."""
    return bytes(range(256)) * n


def length(data: Any) -> int:
    return len(data)


def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


def flaky(counter: str, failures: int) -> int:
    """Fail the first `failures` calls (counted in a file), then return the call number."""
    path = Path(counter)
    calls = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(calls))
    if calls <= failures:
        raise RuntimeError(f"flaky failure {calls} of {failures}")
    return calls


def sleep(seconds: float, marker: str = "") -> float:
    """Sleep; with `marker`, first write our pid there so a test can find the process."""
    if marker:
        Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return seconds


def allocate(megabytes: int) -> int:
    """Touch `megabytes` of memory (for memory-limit tests)."""
    block = bytearray(megabytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)


def affinity() -> list[int]:
    """The CPU cores this process may run on."""
    return sorted(os.sched_getaffinity(0))


def getenv(name: str) -> str | None:
    return os.environ.get(name)


def echo(value: Any) -> Any:
    return value
