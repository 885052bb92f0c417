"""Regressions found reviewing gangs, GPU shares, usage records, fair-share history and
start estimates: each case here failed before its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlkube.api.meta import parse_time
from mlkube.controllers.pipelinerun.fair_usage import FairUsageBook, history_of
from mlkube.runtime.base import GpuDevice, WorkloadSpec
from mlkube.scheduling.fairshare import UsageHistory
from mlkube.scheduling.quota import (
    FlavorOption,
    FlavorQuota,
    Ledger,
    PodSet,
    QueueQuota,
    ResourceVector,
    Workload,
)
from mlkube.testing.accounting import MemoryAccountingLog
from mlkube.testing.fake_runtime import FakeRuntime
from tests.unit.controllers.harness import Bench, py
from tests.unit.controllers.test_quotas import flavor, queue, submit
from tests.unit.controllers.test_trainingjob import status, submit_job, workers_running

GiB = 2**30
A100 = "NVIDIA A100-SXM4-40GB"


def test_a_worker_holding_a_share_of_a_gpu_is_charged_the_share(tmp_path: Path) -> None:
    log = MemoryAccountingLog()
    bench = Bench(tmp_path, gpus=(GpuDevice(0, "nvidia", A100, 40 * GiB),), accounting=log)
    submit_job(bench, workers=2, resources={"cpu": "1", "nvidia.com/gpu": 0.25})
    ids = workers_running(bench)
    assert len(ids) == 2
    assert [w["placement"]["gpuMillis"] for w in status(bench)["workers"]] == [250, 250]
    bench.clock.advance(3600)
    for wid in ids:
        bench.runtime.finish(wid, 0)
    bench.settle()
    assert status(bench)["phase"] == "Succeeded"
    assert sorted((r.step, r.gpus) for r in log.records()) == [
        ("worker-0", 0.25),
        ("worker-1", 0.25),
    ]


class _WatchingRuntime(FakeRuntime):
    """Notes, at each launch, how many of the gang's workers the node queue holds."""

    def __init__(self, bench: list[Bench], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bench = bench
        self.held_at_launch: list[int] = []

    def launch(self, spec: WorkloadSpec) -> int:
        if self.bench:
            queue = self.bench[0].manager.runs.queue
            self.held_at_launch.append(len(queue.running_of("default/@tj")))
        return super().launch(spec)


def test_the_whole_gang_is_held_before_any_worker_starts(tmp_path: Path) -> None:
    benches: list[Bench] = []
    runtime = _WatchingRuntime(benches)
    bench = Bench(tmp_path, runtime=runtime)
    benches.append(bench)
    submit_job(bench, workers=3)
    assert len(workers_running(bench)) == 3
    assert runtime.held_at_launch == [3, 3, 3]


def test_a_gang_of_memory_shares_is_estimated_on_the_share_not_whole_devices(
    tmp_path: Path,
) -> None:
    bench = Bench(tmp_path, gpus=(GpuDevice(0, "nvidia", A100, 40 * GiB),))
    # The whole device is held by a step expected to run 100 s (its timeout).
    gpu = {"cpu": "1", "nvidia.com/gpu": 1}
    bench.submit([py("hog", resources=gpu, timeoutSeconds=100)], cache=False)
    # Two workers of a 10Gi share each: a quarter of the 40Gi device apiece, both on it.
    share = {"cpu": "1", "nvidia.com/gpu": 1, "gpuMemory": "10Gi"}
    submit_job(bench, workers=2, resources=share)
    estimate = status(bench)["estimatedStart"]
    assert estimate.get("after") == "r1/hog", estimate
    started = parse_time(bench.step("hog")["startTime"])
    assert (parse_time(estimate["time"]) - started).total_seconds() == 100
    (hog,) = bench.running("hog")
    bench.complete(hog)
    assert len(workers_running(bench)) == 2
    assert [w["placement"]["gpuMillis"] for w in status(bench)["workers"]] == [250, 250]


def _held(key: str, cpu_millis: int) -> Workload:
    option = FlavorOption("default", ResourceVector({"cpu": cpu_millis}))
    return Workload(key, "team", 0, 0.0, (PodSet("main", 1, (option,)),), flavors=("default",))


@pytest.mark.parametrize("step_back", [0.0, 100.0])
def test_a_clock_step_back_at_release_does_not_add_decay_later(step_back: float) -> None:
    hour = 3600.0
    past = UsageHistory({("default", "cpu"): 1000.0 * hour}, at=10_000.0)
    book = FairUsageBook(hour, {"team": past})
    book.sync([_held("w", 1000)], now=10_000.0)
    # The workload is released while the clock reads earlier than the stored history.
    book.sync([], now=10_000.0 - step_back)
    later = book.history("team", now=10_000.0 + hour).amounts[("default", "cpu")]
    # The past hour-of-a-core halves over the hour; nothing accrued (no time passed held).
    assert later == pytest.approx(500.0 * hour)


def test_a_status_written_after_a_clock_step_back_keeps_the_history_date() -> None:
    hour = 3600.0
    past = UsageHistory({("default", "cpu"): 1000.0 * hour}, at=10_000.0)
    book = FairUsageBook(hour, {"team": past})
    quota = QueueQuota("team", {"default": FlavorQuota(ResourceVector({"cpu": 4000}))})
    written = book.statuses(Ledger({"team": quota}, []), now=9_000.0)["team"]
    assert written.last_update is not None
    # Read back after a restart, the history must not decay over the stepped-back hour twice.
    assert history_of(written) == past


def test_a_memory_share_under_quota_is_estimated_on_the_share(tmp_path: Path) -> None:
    bench = Bench(tmp_path, gpus=(GpuDevice(0, "nvidia", A100, 40 * GiB),))
    # A quarter of a GPU of quota: one 10Gi share of the 40Gi device at a time.
    quota = flavor("default", cpu="4", nvidia_gpu="0.25")
    bench.store.create("clusterqueues.mlkube.io", queue("team", ["default"], [quota]))
    share: dict[str, Any] = {"resources": {"cpu": "1", "nvidia.com/gpu": 1, "gpuMemory": "10Gi"}}
    steps = [py("a", timeoutSeconds=100, **share), py("b", timeoutSeconds=100, **share)]
    submit(bench, "default", "r", steps)
    assert bench.phases("r") == {"a": "Running", "b": "Waiting"}
    estimate = bench.step("b", "r")["estimatedStart"]
    assert estimate.get("after") == "r/a", estimate
    started = parse_time(bench.step("a", "r")["startTime"])
    assert (parse_time(estimate["time"]) - started).total_seconds() == 100
