"""Workload usage on a cluster, from the resource metrics API: the KubernetesRuntime against
the fake cluster (whose PodMetrics are the fake kubelet's processes), and the operator
filling a finished step's `status.steps[].usage` from it, as on one machine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from mlkube.runtime.base import Usage, WorkloadSpec
from mlkube.runtime.kubernetes.runtime import KubernetesRuntime
from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster, fake_kube_cluster
from tests.integration.operator.conftest import NODES, Exits
from tests.integration.operator.test_operator import create_run, create_team, finished
from tests.integration.platform.conftest import wait_for

MI = 1 << 20
SAMPLE_SECONDS = 0.2


def hog(release: Path) -> list[str]:
    """Touch 100 MiB and spin a CPU until `release` exists, so that the test, not a timer,
    decides when it has been sampled enough."""
    code = (
        "import os\n"
        "block = bytearray(100 << 20)\n"
        "for i in range(0, len(block), 4096): block[i] = 1\n"
        f"while not os.path.exists({str(release)!r}): pass\n"
    )
    return ["python", "-c", code]


def spec(tmp_path: Path, workload_id: str, words: list[str]) -> WorkloadSpec:
    log = str(tmp_path / f"{workload_id.replace('/', '_')}.log")
    return WorkloadSpec(workload_id, command=tuple(words), env={}, cwd=str(tmp_path), log_path=log)


@pytest.fixture
def release(tmp_path: Path) -> Iterator[Path]:
    """The file that ends the hog; made at the end whatever happens, so none is left."""
    path = tmp_path / "release"
    yield path
    path.touch()


def sampled_runtime(api: client.ApiClient, exits: Exits) -> KubernetesRuntime:
    runtime = KubernetesRuntime(api, sample_seconds=SAMPLE_SECONDS)
    runtime.set_exit_handler(exits.append)
    return runtime


def busy(usage: Usage | None) -> Usage | None:
    """`usage` once it shows the hog's memory and some CPU."""
    if usage is None or usage.max_memory_bytes < 100 * MI or usage.max_cpu_cores <= 0:
        return None
    return usage


def test_a_running_workload_has_the_usage_of_its_pod(
    api: client.ApiClient, exits: Exits, release: Path, tmp_path: Path
) -> None:
    runtime = sampled_runtime(api, exits)
    try:
        workload = spec(tmp_path, "default/r/u/hog/1", hog(release))
        runtime.start(workload)
        running = wait_for(lambda: busy(runtime.usage(workload.id)), what="the hog's usage")
        assert running.memory_bytes >= 100 * MI  # the latest sample, while it runs
        assert running.samples >= 1
        release.touch()
        wait_for(lambda: exits.of(workload.id), what="the exit")
        ended = runtime.usage(workload.id)
        assert ended is not None
        assert (ended.cpu_cores, ended.memory_bytes) == (0.0, 0)  # as on one machine
        assert ended.max_memory_bytes >= 100 * MI
        assert ended.max_cpu_cores > 0 and ended.avg_cpu_cores > 0
        assert ended.avg_memory_bytes <= ended.max_memory_bytes
        assert ended.samples >= running.samples
        runtime.forget(workload.id)
        assert runtime.usage(workload.id) is None
    finally:
        runtime.close()


def test_without_the_metrics_api_usage_stays_none_and_nothing_fails(
    tmp_path: Path, release: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exits = Exits()
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    with (
        caplog.at_level(logging.INFO, logger="mlkube.runtime.kubernetes"),
        fake_kube_cluster(workdir, nodes=NODES, metrics_api=False) as kube,
        kube.api_client() as api,
    ):
        runtime = sampled_runtime(api, exits)
        try:
            workload = spec(tmp_path, "default/r/u/hog/1", hog(release))
            runtime.start(workload)
            wait_for(
                lambda: any("no resource metrics API" in r.getMessage() for r in caplog.records),
                what="the sampler to find the API absent",
            )
            assert runtime.usage(workload.id) is None
            release.touch()
            [done] = wait_for(lambda: exits.of(workload.id), what="the exit")
            assert (done.reason, done.exit_code) == ("Completed", 0)
            assert runtime.usage(workload.id) is None
        finally:
            runtime.close()
    ours = [r for r in caplog.records if r.name == "mlkube.runtime.kubernetes"]
    assert [(r.levelno, "no resource metrics API" in r.getMessage()) for r in ours] == [
        (logging.INFO, True)  # once, although the sampler ticked many times
    ]


def test_a_finished_step_records_its_usage_on_the_operator(
    kube: FakeKubeCluster, api: client.ApiClient, tmp_path: Path, release: Path
) -> None:
    operator = OperatorPlatform(
        kube.configuration(),
        data_dir=tmp_path / "data",
        health_host="127.0.0.1",
        health_port=0,
        usage_sample_seconds=SAMPLE_SECONDS,
    )
    operator.start()
    try:
        create_team(api)
        create_run(api, "flow", [{"name": "hog", "command": hog(release)}])
        wait_for(lambda: operator.runtime.running(), what="the step to start")
        [workload_id] = operator.runtime.running()
        wait_for(lambda: busy(operator.runtime.usage(workload_id)), what="the step's usage")
        release.touch()
        run = finished(api, "flow")
    finally:
        operator.stop()
    assert run["status"]["phase"] == "Succeeded", run["status"]
    [step] = run["status"]["steps"]
    usage = step["usage"]
    assert usage["memoryBytesMax"] >= 100 * MI
    assert usage["cpuCoresMax"] > 0 and usage["cpuCoresAvg"] > 0
    assert usage["samples"] >= 1
