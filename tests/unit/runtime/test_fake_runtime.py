"""FakeRuntime: the Runtime protocol without processes, deterministic."""

from __future__ import annotations

import pytest

from mlkube.runtime.base import GpuDevice, PythonTarget, Runtime, Usage, WorkloadExit, WorkloadSpec
from mlkube.testing.fake_runtime import FakeRuntime


def _spec(workload_id: str) -> WorkloadSpec:
    return WorkloadSpec(workload_id, python=PythonTarget("m", "f"), env={}, cwd="/", log_path="/l")


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime(clock=lambda: 42.0)


def test_is_a_runtime(fake):
    runtime: Runtime = fake
    assert runtime.node().name == "fake-node"


def test_launch_records_and_is_idempotent(fake):
    pid = fake.launch(_spec("a"))
    assert fake.launch(_spec("a")) == pid
    assert fake.launch(_spec("b")) != pid
    assert [s.id for s in fake.launched] == ["a", "b"]
    assert fake.running() == {"a", "b"}
    assert fake.spec("a").python == PythonTarget("m", "f")


def test_finish_delivers_synchronously(fake):
    seen: list[WorkloadExit] = []
    fake.set_exit_handler(seen.append)
    fake.launch(_spec("a"))
    fake.launch(_spec("b"))
    fake.launch(_spec("c"))
    fake.finish("a")
    fake.finish("b", 3)
    fake.finish(
        "c", reason="OOMKilled", signal=9, exit_code=None, message="memory limit 1Gi exceeded"
    )
    assert seen == [
        WorkloadExit("a", 0, None, "Completed", "exit code 0", 42.0),
        WorkloadExit("b", 3, None, "Error", "exit code 3", 42.0),
        WorkloadExit("c", None, 9, "OOMKilled", "memory limit 1Gi exceeded", 42.0),
    ]
    assert fake.running() == set()
    with pytest.raises(KeyError):
        fake.finish("a")


def test_exits_wait_for_a_handler(fake):
    fake.launch(_spec("a"))
    fake.finish("a")
    seen: list[WorkloadExit] = []
    fake.set_exit_handler(seen.append)
    assert [e.id for e in seen] == ["a"]


def test_stop_finishes_as_killed_or_just_records(fake):
    seen: list[WorkloadExit] = []
    fake.set_exit_handler(seen.append)
    fake.launch(_spec("a"))
    fake.stop("a", grace_seconds=5)
    fake.stop("unknown", grace_seconds=5)
    assert fake.stops == [("a", 5)]
    assert seen[0].reason == "Killed"

    held = FakeRuntime(finish_on_stop=False)
    held.launch(_spec("b"))
    held.stop("b", grace_seconds=1)
    assert held.running() == {"b"}


def test_usage_and_forget(fake):
    assert fake.usage("a") is None
    fake.launch(_spec("a"))
    assert fake.usage("a") == Usage(0.0, 0, 0.0, 0, 0)
    fake.set_usage("a", Usage(1.0, 10, 2.0, 20, 3))
    fake.forget("a")  # running: left alone
    assert fake.usage("a") == Usage(1.0, 10, 2.0, 20, 3)
    fake.finish("a")
    fake.forget("a")
    assert fake.usage("a") is None
    assert fake.launch(_spec("a")) > 0  # the id may be reused


def test_node_is_configurable():
    gpu = GpuDevice(0, "amd", "MI300X", 192 << 30)
    fake = FakeRuntime(node_name="n", cpus=(0, 1), memory_bytes=1 << 30, gpus=[gpu])
    assert fake.node().cpus == (0, 1) and fake.node().gpus == (gpu,)


def test_close_kills_running_and_refuses_launches(fake):
    seen: list[WorkloadExit] = []
    fake.set_exit_handler(seen.append)
    fake.launch(_spec("a"))
    fake.close()
    assert [(e.id, e.reason) for e in seen] == [("a", "Killed")]
    with pytest.raises(RuntimeError):
        fake.launch(_spec("b"))
