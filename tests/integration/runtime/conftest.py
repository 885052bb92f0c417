"""Fixtures for the local runtime's integration tests: real processes, real cgroups.

Every wait is bounded: `exits.wait` and `eventually` fail the test after a deadline instead
of hanging.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from mlkube.runtime.base import PythonTarget, WorkloadExit, WorkloadSpec
from mlkube.runtime.local import LocalRuntime
from mlkube.runtime.local.cgroups import MemoryCgroups

TARGETS = str(Path(__file__).with_name("workload_targets.py"))


class Exits:
    """The exit handler: collects every `WorkloadExit`, counts deliveries per id."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.by_id: dict[str, WorkloadExit] = {}
        self.deliveries: Counter[str] = Counter()

    def __call__(self, workload_exit: WorkloadExit) -> None:
        with self._cond:
            self.by_id[workload_exit.id] = workload_exit
            self.deliveries[workload_exit.id] += 1
            self._cond.notify_all()

    def wait(self, workload_id: str, timeout: float = 20.0) -> WorkloadExit:
        with self._cond:
            arrived = self._cond.wait_for(lambda: workload_id in self.by_id, timeout)
            assert arrived, f"no exit for {workload_id} within {timeout}s"
            return self.by_id[workload_id]


def _eventually(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """`eventually(predicate, timeout, what)`: poll until truthy, fail at the deadline."""
    return _eventually


@pytest.fixture
def exits() -> Exits:
    return Exits()


@pytest.fixture
def runtime(exits: Exits) -> Iterator[LocalRuntime]:
    """A LocalRuntime with cgroups auto-detected and fast usage sampling."""
    rt = LocalRuntime(sample_interval=0.1)
    rt.set_exit_handler(exits)
    yield rt
    rt.close(grace_seconds=1)


@pytest.fixture
def rlimit_runtime(exits: Exits) -> Iterator[LocalRuntime]:
    """A LocalRuntime with cgroups disabled: memory limits use RLIMIT_AS."""
    rt = LocalRuntime(sample_interval=0.1, cgroup_root="")
    rt.set_exit_handler(exits)
    yield rt
    rt.close(grace_seconds=1)


@pytest.fixture(scope="session")
def cgroups_available() -> bool:
    cgroups = MemoryCgroups.open(None)
    if cgroups is None:
        return False
    cgroups.close()
    return True


@pytest.fixture
def need_cgroups(cgroups_available: bool) -> None:
    if not cgroups_available:
        pytest.skip("no writable cgroup v1 memory controller under our own cgroup")


SpecFactory = Callable[..., WorkloadSpec]


@pytest.fixture
def python_spec(tmp_path: Path) -> SpecFactory:
    """`python_spec(id, function, *args, **spec_fields)` for a function of workload_targets."""

    def make(workload_id: str, function: str, *args: str, **fields: Any) -> WorkloadSpec:
        fields.setdefault("env", {})
        fields.setdefault("cwd", str(tmp_path))
        fields.setdefault("log_path", str(tmp_path / "logs" / f"{workload_id}.log"))
        return WorkloadSpec(workload_id, python=PythonTarget(TARGETS, function, args), **fields)

    return make


@pytest.fixture
def command_spec(tmp_path: Path) -> SpecFactory:
    """`command_spec(id, *argv, **spec_fields)`."""

    def make(workload_id: str, *argv: str, **fields: Any) -> WorkloadSpec:
        fields.setdefault("env", {})
        fields.setdefault("cwd", str(tmp_path))
        fields.setdefault("log_path", str(tmp_path / "logs" / f"{workload_id}.log"))
        return WorkloadSpec(workload_id, command=argv, **fields)

    return make


def _pid_gone(pid: int) -> bool:
    # A zombie has finished running; it waits only for a parent (or init) to reap it.
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def pid_gone() -> Callable[[int], bool]:
    """`pid_gone(pid)`: True once the process no longer runs (gone, or a zombie)."""
    return _pid_gone
