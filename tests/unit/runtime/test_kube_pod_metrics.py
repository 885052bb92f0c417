"""Workload usage from the resource metrics API: parsing PodMetrics, folding samples (tables),
and the sampling round against a fake LIST (no sockets, no threads, a fake clock)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from mlkube.runtime.base import Usage
from mlkube.runtime.kubernetes.pod_metrics import (
    PodMetricsSampler,
    PodSample,
    UsageFold,
    WatchedPod,
    parse_pod_metrics,
)

MI = 1 << 20


def pod_metrics(name: str, *containers: tuple[str, str], timestamp: str = "t1") -> dict[str, Any]:
    return {
        "kind": "PodMetrics",
        "metadata": {"name": name, "namespace": "team-a"},
        "timestamp": timestamp,
        "window": "15.011s",
        "containers": [
            {"name": f"c{i}", "usage": {"cpu": cpu, "memory": memory}}
            for i, (cpu, memory) in enumerate(containers)
        ],
    }


@pytest.mark.parametrize(
    ("containers", "cpu_cores", "memory_bytes"),
    [
        ([("250m", "128Mi")], 0.25, 128 * MI),
        ([("1234n", "123456Ki")], 1.234e-6, 123456 * 1024),
        ([("2", "1Gi")], 2.0, 1 << 30),
        ([("500m", "100Mi"), ("1500m", "28Mi")], 2.0, 128 * MI),  # summed over containers
        ([("0", "0")], 0.0, 0),
        ([], 0.0, 0),  # no running container listed yet
        ([("1500000u", "1000")], 1.5, 1000),
    ],
)
def test_a_pod_metrics_is_summed_over_its_containers(
    containers: list[tuple[str, str]], cpu_cores: float, memory_bytes: int
) -> None:
    sample = parse_pod_metrics(pod_metrics("p", *containers))
    assert sample.name == "p"
    assert sample.timestamp == "t1"
    assert sample.cpu_cores == pytest.approx(cpu_cores)
    assert sample.memory_bytes == memory_bytes


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (pod_metrics("p", ("lots", "1Mi")), "containers[0].usage.cpu: quantity 'lots'"),
        (pod_metrics("p", ("1", "1Mi"), ("1", "-5Mi")), "containers[1].usage.memory:"),
        ({"containers": []}, "metadata.name: missing"),
    ],
)
def test_a_bad_pod_metrics_names_the_field(item: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_pod_metrics(item)


def fold(*samples: tuple[str, float, int]) -> UsageFold:
    result = UsageFold()
    for timestamp, cpu, memory in samples:
        result = result.add(PodSample("p", timestamp, cpu, memory))
    return result


@pytest.mark.parametrize(
    ("samples", "ended", "expected"),
    [
        ([], False, None),  # never sampled: no usage rather than zeros
        ([], True, None),
        (
            [("t1", 0.5, 100)],
            False,
            Usage(0.5, 100, 0.5, 100, 1, avg_cpu_cores=0.5, avg_memory_bytes=100),
        ),
        (
            [("t1", 1.0, 100), ("t2", 0.5, 300), ("t3", 0.0, 200)],
            False,
            Usage(0.0, 200, 1.0, 300, 3, avg_cpu_cores=0.5, avg_memory_bytes=200),
        ),
        (  # once ended the current figures are 0; peaks and means stay
            [("t1", 1.0, 100), ("t2", 0.5, 300)],
            True,
            Usage(0.0, 0, 1.0, 300, 2, avg_cpu_cores=0.75, avg_memory_bytes=200),
        ),
        (  # the provider's same sample read twice counts once
            [("t1", 1.0, 100), ("t1", 1.0, 100), ("t2", 2.0, 400)],
            False,
            Usage(2.0, 400, 2.0, 400, 2, avg_cpu_cores=1.5, avg_memory_bytes=250),
        ),
        (  # a provider without timestamps: every read is a sample
            [("", 1.0, 100), ("", 1.0, 100)],
            False,
            Usage(1.0, 100, 1.0, 100, 2, avg_cpu_cores=1.0, avg_memory_bytes=100),
        ),
        (  # memory mean rounds down, as on one machine
            [("t1", 0.0, 1), ("t2", 0.0, 2)],
            False,
            Usage(0.0, 2, 0.0, 2, 2, avg_cpu_cores=0.0, avg_memory_bytes=1),
        ),
    ],
)
def test_samples_fold_into_current_peak_and_mean(
    samples: list[tuple[str, float, int]], ended: bool, expected: Usage | None
) -> None:
    assert fold(*samples).usage(ended=ended) == expected


class FakeMetricsApi:
    """The LIST the sampler makes: per namespace, the items to answer or the error to raise."""

    def __init__(self) -> None:
        self.answers: dict[str, list[dict[str, Any]] | Exception] = {}
        self.calls: list[str] = []

    def __call__(self, namespace: str) -> list[dict[str, Any]]:
        self.calls.append(namespace)
        answer = self.answers.get(namespace, [])
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Cluster:
    """What the runtime tells the sampler: its workloads' pods."""

    def __init__(self) -> None:
        self.pods: list[WatchedPod] = []

    def __call__(self) -> list[WatchedPod]:
        return list(self.pods)


def sampler_on(api: FakeMetricsApi, cluster: Cluster, clock: Clock) -> PodMetricsSampler:
    return PodMetricsSampler(
        api, cluster, sample_seconds=15, absent_recheck_seconds=300, clock=clock
    )


def test_one_list_per_namespace_folds_each_workloads_pod() -> None:
    api, cluster, clock = FakeMetricsApi(), Cluster(), Clock()
    cluster.pods = [
        WatchedPod("team-a/r/u/a/1", "team-a", "pod-a", running=True),
        WatchedPod("team-a/r/u/b/1", "team-a", "pod-b", running=True),
        WatchedPod("team-b/r/u/c/1", "team-b", "pod-c", running=True),
        WatchedPod("team-c/r/u/d/1", "team-c", "pod-d", running=False),  # ended: not read
    ]
    api.answers["team-a"] = [
        pod_metrics("pod-a", ("1", "10Mi")),
        pod_metrics("pod-b", ("250m", "20Mi")),
        pod_metrics("someone-elses", ("4", "1Gi")),
    ]
    api.answers["team-b"] = [pod_metrics("pod-c", ("500m", "30Mi"))]
    sampler = sampler_on(api, cluster, clock)
    sampler.tick()
    assert api.calls == ["team-a", "team-b"]
    usage_a = sampler.usage("team-a/r/u/a/1", ended=False)
    assert usage_a is not None and (usage_a.cpu_cores, usage_a.memory_bytes) == (1.0, 10 * MI)
    usage_c = sampler.usage("team-b/r/u/c/1", ended=True)
    assert usage_c is not None and (usage_c.memory_bytes, usage_c.max_memory_bytes) == (0, 30 * MI)
    assert sampler.usage("team-c/r/u/d/1", ended=True) is None


def test_folds_of_forgotten_workloads_go_and_a_relaunch_starts_afresh() -> None:
    api, cluster, clock = FakeMetricsApi(), Cluster(), Clock()
    wid = "team-a/r/u/a/1"
    cluster.pods = [WatchedPod(wid, "team-a", "pod-a", running=True)]
    api.answers["team-a"] = [pod_metrics("pod-a", ("1", "10Mi"))]
    sampler = sampler_on(api, cluster, clock)
    sampler.tick()
    sampler.track(wid)  # launched again under the same id: the old samples are not its own
    assert sampler.usage(wid, ended=False) is None
    sampler.tick()
    cluster.pods = []
    sampler.tick()
    assert sampler.usage(wid, ended=True) is None


def test_a_cluster_without_the_metrics_api_is_noted_once_and_asked_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, cluster, clock = FakeMetricsApi(), Cluster(), Clock()
    wid = "team-a/r/u/a/1"
    cluster.pods = [WatchedPod(wid, "team-a", "pod-a", running=True)]
    api.answers["team-a"] = ApiException(status=404, reason="Not Found")
    sampler = sampler_on(api, cluster, clock)
    with caplog.at_level(logging.DEBUG, logger="mlkube.runtime.kubernetes"):
        for _ in range(10):  # 150 s of ticks: one request only
            sampler.tick()
            clock.now += 15
        assert len(api.calls) == 1
        clock.now += 150  # 300 s after the first answer: asked again, still absent
        sampler.tick()
        assert len(api.calls) == 2
        api.answers["team-a"] = [pod_metrics("pod-a", ("1", "10Mi"))]
        clock.now += 300
        sampler.tick()
    assert len(api.calls) == 3
    assert sampler.usage(wid, ended=False) is not None
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [m for level, m in messages if level >= logging.INFO] == [
        "the cluster serves no resource metrics API (metrics.k8s.io/v1beta1, from "
        "metrics-server): step usage stays empty; asking again every 300 s",
        "the resource metrics API (metrics.k8s.io) is served now",
    ]


def test_other_failures_are_warned_once_per_streak_and_tried_at_the_next_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, cluster, clock = FakeMetricsApi(), Cluster(), Clock()
    wid = "team-a/r/u/a/1"
    cluster.pods = [WatchedPod(wid, "team-a", "pod-a", running=True)]
    api.answers["team-a"] = ApiException(status=503, reason="Service Unavailable")
    sampler = sampler_on(api, cluster, clock)
    with caplog.at_level(logging.INFO, logger="mlkube.runtime.kubernetes"):
        sampler.tick()
        sampler.tick()
        api.answers["team-a"] = [pod_metrics("pod-a", ("1", "10Mi"))]
        sampler.tick()
    assert len(api.calls) == 3  # no back-off: each tick asks
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "pod metrics: cannot list PodMetrics (503 Service Unavailable); trying again",
        ),
        (logging.INFO, "pod metrics: listing PodMetrics works again"),
    ]
    usage = sampler.usage(wid, ended=False)
    assert usage is not None and usage.samples == 1


def test_a_bad_item_is_skipped_and_the_others_count() -> None:
    api, cluster, clock = FakeMetricsApi(), Cluster(), Clock()
    cluster.pods = [
        WatchedPod("a", "team-a", "pod-a", running=True),
        WatchedPod("b", "team-a", "pod-b", running=True),
    ]
    api.answers["team-a"] = [
        pod_metrics("pod-a", ("much", "10Mi")),
        pod_metrics("pod-b", ("1", "10Mi")),
    ]
    sampler = sampler_on(api, cluster, clock)
    sampler.tick()
    assert sampler.usage("a", ended=False) is None
    assert sampler.usage("b", ended=False) is not None


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan")])
def test_sample_seconds_must_be_positive(seconds: float) -> None:
    with pytest.raises(ValueError, match="sample_seconds: must be above 0"):
        PodMetricsSampler(FakeMetricsApi(), Cluster(), sample_seconds=seconds)
