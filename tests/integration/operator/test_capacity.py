"""The operator's capacity follows the cluster's Nodes: a step with no room waits, a node
joins, the step runs, while the work that held the room goes on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster, FakeNode, fake_kube_cluster
from tests.integration.operator.test_operator import (
    create_run,
    create_team,
    finished,
    get_run,
    shell,
    steps_of,
)
from tests.integration.platform.conftest import wait_for

SMALL = FakeNode("small-1", {"cpu": "2", "memory": "4Gi"})
BIG = FakeNode("big-1", {"cpu": "4", "memory": "8Gi"})


@pytest.fixture
def one_node(tmp_path: Path) -> Iterator[FakeKubeCluster]:
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    with fake_kube_cluster(workdir, nodes=[SMALL]) as cluster:
        yield cluster


def start(kube: FakeKubeCluster, tmp_path: Path, *, refresh: float) -> OperatorPlatform:
    platform = OperatorPlatform(
        kube.configuration(),
        data_dir=tmp_path / "data",
        health_host="127.0.0.1",
        health_port=0,
        capacity_refresh_seconds=refresh,
    )
    platform.start()
    return platform


def two_cores(name: str, script: str) -> dict[str, Any]:
    return shell(name, script, resources={"cpu": "2", "memory": "1Gi"})


def step(api: client.ApiClient, run: str, name: str) -> dict[str, Any]:
    return steps_of(get_run(api, run)).get(name) or {}


@pytest.mark.parametrize(
    "refresh",
    [3600.0, 0.2],  # the Node watch alone (no periodic re-read in the test), the period alone
    ids=["node-event", "periodic"],
)
def test_a_step_waiting_for_room_runs_once_a_node_joins(
    one_node: FakeKubeCluster, tmp_path: Path, refresh: float
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    platform = start(one_node, tmp_path, refresh=refresh)
    try:
        with one_node.api_client() as api:
            create_team(api)
            hold = f"touch {started}; while [ ! -e {release} ]; do sleep 0.05; done"
            create_run(api, "holder", [two_cores("hold", hold)])
            wait_for(started.exists, what="the holding step to run")
            create_run(api, "waiter", [two_cores("work", "echo 1 > $MLKUBE_OUTPUTS_DIR/output")])
            wait_for(
                lambda: "waiting for CPU" in step(api, "waiter", "work").get("message", ""),
                what="the second step to wait for CPU",
            )
            one_node.add_node(BIG)
            run = finished(api, "waiter")
            assert run["status"]["phase"] == "Succeeded", run["status"]
            assert step(api, "holder", "hold")["phase"] == "Running"  # still holding its room
            assert platform.manager is not None
            assert len(platform.manager.runs.node.cpus) == 6
            release.touch()
            assert finished(api, "holder")["status"]["phase"] == "Succeeded"
    finally:
        platform.stop()
