"""Retry with more memory after an OOM kill (`retries.increaseMemoryOnOOM`), on the bench."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlkube.runtime.base import Usage
from tests.unit.controllers.harness import Bench, py

MiB = 1 << 20
GiB = 1 << 30
NODE_MEMORY = 16 * GiB  # the FakeRuntime's default


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    return Bench(tmp_path)


def hog(memory: str = "64Mi", *, opt_in: bool = True, limit: int = 2) -> dict[str, Any]:
    retries: dict[str, Any] = {"limit": limit, "backoffSeconds": 1}
    if opt_in:
        retries["increaseMemoryOnOOM"] = True
    return py("hog", resources={"memory": memory}, retries=retries)


def oom_kill(bench: Bench, workload_id: str, *, peak: int | None = None) -> None:
    """End the attempt the way the local runtime reports a memory-limit kill."""
    if peak is not None:
        bench.runtime.set_usage(workload_id, Usage(0.0, 0, 0.5, peak, 3, avg_cpu_cores=0.4))
    limit = bench.runtime.spec(workload_id).memory_limit_bytes or 0
    bench.fail(
        workload_id,
        f"memory limit {limit // MiB}Mi exceeded",
        reason="OOMKilled",
        signal=9,
        exit_code=None,
    )


def test_opt_in_retries_with_the_vpa_bump(bench: Bench) -> None:
    bench.submit([hog()])
    (first,) = bench.running()
    assert bench.runtime.spec(first).memory_limit_bytes == 64 * MiB
    oom_kill(bench, first, peak=70 * MiB)
    step = bench.step("hog")
    assert (step["phase"], step["reason"]) == ("Retrying", "OOMKilled")
    # max(70Mi * 1.2, 70Mi + 100Mi) = 170Mi: the peak beat the limit, so it counts.
    assert step["message"] == (
        "OOMKilled at 64Mi (peak 70Mi); retrying with 170Mi; retry 1 of 2 in 1s"
    )
    assert (step["memoryLimitBytes"], step["oomKills"]) == (170 * MiB, 1)
    assert step["usage"]["memoryBytesMax"] == 70 * MiB
    bench.advance(1)
    (second,) = bench.running()
    assert second.endswith("/hog/2")
    assert bench.runtime.spec(second).memory_limit_bytes == 170 * MiB
    assert bench.step("hog")["placement"]["memoryBytes"] == 170 * MiB
    bench.complete(second)
    step = bench.step("hog")
    assert (step["phase"], step["attempts"], step["oomKills"]) == ("Succeeded", 2, 1)
    assert step["memoryLimitBytes"] == 170 * MiB


def test_without_a_peak_the_limit_is_what_it_used(bench: Bench) -> None:
    bench.submit([hog("1Gi")])
    oom_kill(bench, bench.running()[0])
    step = bench.step("hog")
    # max(1Gi * 1.2, 1Gi + 100Mi), rounded up to a whole MiB.
    assert step["memoryLimitBytes"] == 1229 * MiB
    assert step["message"].startswith("OOMKilled at 1Gi; retrying with 1.2Gi;")


def test_without_the_opt_in_nothing_changes(bench: Bench) -> None:
    bench.submit([hog(opt_in=False)])
    oom_kill(bench, bench.running()[0], peak=70 * MiB)
    step = bench.step("hog")
    assert (step["phase"], step["reason"]) == ("Retrying", "OOMKilled")
    assert step["message"] == "memory limit 64Mi exceeded; retry 1 of 2 in 1s"
    assert "memoryLimitBytes" not in step
    assert step["oomKills"] == 1
    bench.advance(1)
    (second,) = bench.running()
    assert bench.runtime.spec(second).memory_limit_bytes == 64 * MiB


def test_other_failures_keep_the_limit(bench: Bench) -> None:
    bench.submit([hog()])
    bench.fail(bench.running()[0], "bad data")
    step = bench.step("hog")
    assert (step["reason"], step["oomKills"]) == ("Error", 0)
    assert "memoryLimitBytes" not in step


def test_the_last_attempt_fails_as_before(bench: Bench) -> None:
    bench.submit([hog(limit=0)])
    oom_kill(bench, bench.running()[0], peak=70 * MiB)
    step = bench.step("hog")
    assert (step["phase"], step["reason"]) == ("Failed", "OOMKilled")
    assert step["message"] == "memory limit 64Mi exceeded"
    assert "memoryLimitBytes" not in step
    assert bench.run()["status"]["phase"] == "Failed"


def test_a_step_without_a_limit_is_retried_as_before(bench: Bench) -> None:
    bench.submit([py("hog", retries={"limit": 1, "increaseMemoryOnOOM": True})])
    (first,) = bench.running()
    assert bench.runtime.spec(first).memory_limit_bytes is None
    bench.fail(first, "killed", reason="OOMKilled", signal=9, exit_code=None)
    step = bench.step("hog")
    assert step["message"] == "killed; retry 1 of 1 in 1s"
    assert "memoryLimitBytes" not in step


def test_the_bump_stops_at_the_node_memory(bench: Bench) -> None:
    bench.submit([hog("15Gi")])
    oom_kill(bench, bench.running()[0])
    step = bench.step("hog")
    assert step["memoryLimitBytes"] == NODE_MEMORY
    assert "retrying with 16Gi, the node's memory;" in step["message"]
    bench.advance(1)
    (second,) = bench.running()
    assert bench.runtime.spec(second).memory_limit_bytes == NODE_MEMORY
    oom_kill(bench, second)
    step = bench.step("hog")
    assert (step["phase"], step["memoryLimitBytes"]) == ("Retrying", NODE_MEMORY)
    assert "OOMKilled at 16Gi; already at the node's memory, retrying with it;" in step["message"]
    bench.advance(2)
    (third,) = bench.running()  # still schedulable: it fits the empty node
    assert bench.runtime.spec(third).memory_limit_bytes == NODE_MEMORY


def test_a_bumped_step_waits_for_memory_like_any_other(bench: Bench) -> None:
    bench.submit([hog("9Gi"), py("other", resources={"memory": "6Gi"})])
    hog_id = bench.running("hog")[0]
    oom_kill(bench, hog_id)
    bench.advance(1)
    # 10.8Gi no longer fits beside the 6Gi step, so it waits instead of starting.
    step = bench.step("hog")
    assert step["phase"] == "Waiting"
    assert "waiting for memory" in step["message"]
    bench.complete(bench.running("other")[0])
    (second,) = bench.running("hog")
    assert bench.runtime.spec(second).memory_limit_bytes == 11060 * MiB


def test_a_restart_keeps_the_raised_limit_for_a_waiting_retry(tmp_path: Path) -> None:
    first = Bench(tmp_path)
    first.submit([hog()])
    oom_kill(first, first.running()[0], peak=70 * MiB)
    assert first.step("hog")["phase"] == "Retrying"
    second = Bench(tmp_path, store=first.store, clock=first.clock)
    second.manager.resync()
    second.advance(1)
    (retry,) = second.running()
    assert retry.endswith("/hog/2")
    assert second.runtime.spec(retry).memory_limit_bytes == 170 * MiB


def test_a_restart_keeps_the_raised_limit_for_a_running_retry(tmp_path: Path) -> None:
    first = Bench(tmp_path)
    first.submit([hog()])
    oom_kill(first, first.running()[0], peak=70 * MiB)
    first.advance(1)
    assert first.step("hog")["phase"] == "Running"
    # The platform dies while attempt 2 runs; the new one finds it lost and runs it again.
    second = Bench(tmp_path, store=first.store, clock=first.clock)
    second.manager.resync()
    second.settle()
    (again,) = second.running()
    assert again.endswith("/hog/2")
    assert second.runtime.spec(again).memory_limit_bytes == 170 * MiB
    assert second.step("hog")["memoryLimitBytes"] == 170 * MiB
