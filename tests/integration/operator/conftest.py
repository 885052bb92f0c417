"""Fixtures: a fake cluster (fake kube-apiserver + kubelet running pods as local processes),
reached only through the official client, and the pieces of the operator on top of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from mlkube.runtime.base import WorkloadExit
from mlkube.runtime.kubernetes.runtime import KubernetesRuntime
from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster, FakeNode, fake_kube_cluster

A100 = "NVIDIA-A100-SXM4-80GB"
NODES = (
    FakeNode(
        "gpu-1",
        {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"},
        labels={"nvidia.com/gpu.product": A100},
    ),
    FakeNode("cpu-1", {"cpu": "2", "memory": "8Gi"}),
)


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubeCluster]:
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    with fake_kube_cluster(workdir, nodes=NODES) as cluster:
        yield cluster


@pytest.fixture
def api(kube: FakeKubeCluster) -> Iterator[client.ApiClient]:
    with kube.api_client() as api_client:
        yield api_client


class Exits(list[WorkloadExit]):
    """The exits a runtime delivered, in order."""

    def of(self, workload_id: str) -> list[WorkloadExit]:
        return [e for e in self if e.id == workload_id]


@pytest.fixture
def exits() -> Exits:
    return Exits()


@pytest.fixture
def runtime(api: client.ApiClient, exits: Exits) -> Iterator[KubernetesRuntime]:
    rt = KubernetesRuntime(api)
    rt.set_exit_handler(exits.append)
    try:
        yield rt
    finally:
        rt.close()


def start_operator(kube: FakeKubeCluster, tmp_path: Path) -> OperatorPlatform:
    """`mlkube operator` in this process, against `kube`; the caller stops it."""
    platform = OperatorPlatform(
        kube.configuration(), data_dir=tmp_path / "data", health_host="127.0.0.1", health_port=0
    )
    platform.start()
    return platform


@pytest.fixture
def operator(kube: FakeKubeCluster, tmp_path: Path) -> Iterator[OperatorPlatform]:
    platform = start_operator(kube, tmp_path)
    try:
        yield platform
    finally:
        platform.stop()
