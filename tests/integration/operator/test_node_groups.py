"""Nodes added on demand: with node groups, the operator admits a step no Ready node can hold
yet, its pod waits Pending (what makes a cluster autoscaler add a node), and it runs once a
node of the group joins. Without them the same step is refused as Unschedulable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from mlkube.api.nodegroups import parse_node_groups
from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.runtime.kubernetes.workload_pod import WORKLOAD_LABEL
from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster, FakeNode, fake_kube_cluster
from tests.integration.operator.test_operator import (
    TEAM,
    create_run,
    create_team,
    finished,
    shell,
    steps_of,
)
from tests.integration.platform.conftest import wait_for

SMALL = FakeNode("small-1", {"cpu": "2", "memory": "4Gi"})
POOL = {"pool": "big"}
GROUPS = """
- name: big
  nodeSelector: {pool: big}
  template: {cpu: 4, memory: 8Gi}
  max: 2
"""


@pytest.fixture
def small_cluster(tmp_path: Path) -> Iterator[FakeKubeCluster]:
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    with fake_kube_cluster(workdir, nodes=[SMALL]) as cluster:
        yield cluster


@pytest.fixture
def api(small_cluster: FakeKubeCluster) -> Iterator[client.ApiClient]:
    with small_cluster.api_client() as api_client:
        yield api_client


def operator(kube: FakeKubeCluster, data: Path, settings: ClusterSettings) -> OperatorPlatform:
    platform = OperatorPlatform(
        kube.configuration(),
        data_dir=data,
        settings=settings,
        health_host="127.0.0.1",
        health_port=0,
        capacity_refresh_seconds=0.2,
    )
    platform.start()
    return platform


def three_cores() -> dict[str, object]:
    return shell("train", "echo trained", resources={"cpu": "3", "memory": "1Gi"})


def test_a_step_waits_pending_for_a_node_of_its_group_and_then_runs(
    small_cluster: FakeKubeCluster, api: client.ApiClient, tmp_path: Path
) -> None:
    settings = ClusterSettings(node_groups=parse_node_groups(GROUPS))
    platform = operator(small_cluster, tmp_path / "data", settings)
    try:
        create_team(api)
        create_run(api, "grow", [three_cores()])
        core = client.CoreV1Api(api)

        def pending_pod() -> bool:
            pods = core.list_namespaced_pod(TEAM, label_selector=WORKLOAD_LABEL).items
            return bool(pods) and pods[0].status.phase == "Pending"

        # Admitted against the group's room: the pod exists and waits for a node.
        wait_for(pending_pod, what="the step's pod to wait Pending for a node")
        small_cluster.add_node(FakeNode("big-1", {"cpu": "4", "memory": "8Gi"}, labels=POOL))
        run = finished(api, "grow")
    finally:
        platform.stop()
    assert run["status"]["phase"] == "Succeeded", run["status"]


def test_without_node_groups_the_same_step_is_unschedulable(
    small_cluster: FakeKubeCluster, api: client.ApiClient, tmp_path: Path
) -> None:
    platform = operator(small_cluster, tmp_path / "data", ClusterSettings())
    try:
        create_team(api)
        create_run(api, "fixed", [three_cores()])
        run = finished(api, "fixed")
    finally:
        platform.stop()
    step = steps_of(run)["train"]
    assert (run["status"]["phase"], step["reason"]) == ("Failed", "Unschedulable")
