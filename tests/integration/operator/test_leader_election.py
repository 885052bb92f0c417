"""Two operators against one fake cluster: only the Lease holder runs the controllers; a
stopped leader hands over, a leader whose Lease is taken stops, and `mlkube operator` exits 1
when it loses the Lease."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from mlkube.install.operator import DEFAULT_NAMESPACE
from mlkube.server.leader import DEFAULT_LEASE_NAME, LeaderElection
from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster
from tests.integration.operator.test_operator import (
    MLKUBE,
    create_run,
    create_team,
    finished,
    free_port,
    shell,
    steps_of,
)
from tests.integration.platform.conftest import wait_for

# Short timings, so a hand-over takes a fraction of a second (the defaults are 15/10/2 s).
FAST = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.1}


class Replica:
    """One operator replica with leader election, and what it reported."""

    def __init__(self, kube: FakeKubeCluster, data: Path, identity: str) -> None:
        self.lost: list[str] = []
        self.platform = OperatorPlatform(
            kube.configuration(),
            data_dir=data,
            health_host="127.0.0.1",
            health_port=0,
            leader_election=LeaderElection(identity, **FAST),  # type: ignore[arg-type]
            on_leadership_lost=lambda: self.lost.append(identity),
        )
        self.platform.start()

    def readyz(self) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.platform.health_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return int(answer.status), answer.read().decode().strip()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode().strip()


@pytest.fixture
def replicas(
    kube: FakeKubeCluster, api: client.ApiClient, tmp_path: Path
) -> Iterator[list[Replica]]:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": DEFAULT_NAMESPACE}})
    create_team(api)
    started: list[Replica] = []
    # The replicas share the data folder, as pods of a Deployment share a volume.
    try:
        started.append(Replica(kube, tmp_path / "data", "op-a"))
        wait_for(lambda: started[0].platform.leading, what="op-a to lead")
        started.append(Replica(kube, tmp_path / "data", "op-b"))
        yield started
    finally:
        for replica in started:
            replica.platform.stop()


def lease(api: client.ApiClient) -> dict[str, Any]:
    spec: dict[str, Any] = (
        client.CoordinationV1Api(api)
        .read_namespaced_lease(DEFAULT_LEASE_NAME, DEFAULT_NAMESPACE)
        .spec.to_dict()
    )
    return spec


def counted(tmp_path: Path, name: str) -> dict[str, Any]:
    """A one-step run whose step appends a line to a file each time it runs."""
    return shell(name, f"echo ran >> {tmp_path / name}; echo 1 > $MLKUBE_OUTPUTS_DIR/output")


def test_only_the_leader_runs_the_controllers_and_a_stopped_leader_hands_over(
    replicas: list[Replica], api: client.ApiClient, tmp_path: Path
) -> None:
    a, b = replicas
    standby = (200, "ok: standby (leader: op-a)")
    wait_for(lambda: b.readyz() == standby, what="op-b to see op-a lead")
    assert a.readyz() == (200, "ok: leading")
    create_run(api, "first", [counted(tmp_path, "one")])
    run = finished(api, "first")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert steps_of(run)["one"]["attempts"] == 1
    assert (tmp_path / "one").read_text() == "ran\n"  # started once, not once per replica
    assert (b.platform.manager, b.platform.leading) == (None, False)

    a.platform.stop()  # a clean stop releases the Lease: b need not wait for it to expire
    wait_for(lambda: b.platform.leading, what="op-b to take over")
    assert lease(api)["holder_identity"] == "op-b"
    assert lease(api)["lease_transitions"] == 1
    create_run(api, "second", [counted(tmp_path, "two")])
    run = finished(api, "second")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert (tmp_path / "two").read_text() == "ran\n"
    assert b.readyz() == (200, "ok: leading")
    assert (a.lost, b.lost) == ([], [])


def test_a_leader_whose_lease_is_taken_stops_its_controllers(
    replicas: list[Replica], api: client.ApiClient
) -> None:
    a, b = replicas
    coordination = client.CoordinationV1Api(api)
    current = coordination.read_namespaced_lease(DEFAULT_LEASE_NAME, DEFAULT_NAMESPACE)
    current.spec.holder_identity = "someone-else"  # another replica took it over
    current.spec.lease_duration_seconds = 3600
    coordination.replace_namespaced_lease(DEFAULT_LEASE_NAME, DEFAULT_NAMESPACE, current)
    wait_for(lambda: a.lost, what="op-a to give up")
    assert a.lost == ["op-a"]
    assert (a.platform.lost_leadership, a.platform.manager) == (True, None)
    assert a.readyz() == (503, "lost the lease")
    standby = (200, "ok: standby (leader: someone-else)")
    wait_for(lambda: b.readyz() == standby, what="op-b to see the new holder")
    assert not b.platform.leading


def test_mlkube_operator_exits_1_when_it_loses_the_lease(
    kube: FakeKubeCluster, api: client.ApiClient, tmp_path: Path
) -> None:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": DEFAULT_NAMESPACE}})
    port = free_port()
    log = (tmp_path / "operator.log").open("wb")
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    env["POD_NAME"] = "mlkube-operator-7d9f"
    args = ["--kubeconfig", str(kube.kubeconfig_path), "--health-port", str(port)]
    args += ["--webhook-port", "0"]
    proc = subprocess.Popen(
        [MLKUBE, "operator", *args, "--data", str(tmp_path / "data")],
        stdout=log,
        stderr=log,
        env=env,
    )
    try:
        coordination = client.CoordinationV1Api(api)
        held = wait_for(lambda: _held(coordination), what="the operator to take the lease")
        assert held.spec.holder_identity.startswith("mlkube-operator-7d9f_")
        held.spec.holder_identity = "someone-else"
        held.spec.lease_duration_seconds = 3600
        coordination.replace_namespaced_lease(DEFAULT_LEASE_NAME, DEFAULT_NAMESPACE, held)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert "lost the leader-election lease" in (tmp_path / "operator.log").read_text()


def _held(coordination: client.CoordinationV1Api) -> Any:
    try:
        found = coordination.read_namespaced_lease(DEFAULT_LEASE_NAME, DEFAULT_NAMESPACE)
    except client.ApiException:
        return None
    return found if found.spec.holder_identity else None
