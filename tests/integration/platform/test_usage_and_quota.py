"""On the real platform: usage that outlives its runs, fair sharing that remembers, start
estimates in `mlkube why`, and namespace storage quotas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import Forbidden, NotFound
from mlkube.sdk.client import Client
from tests.integration.platform.conftest import (
    UpProcess,
    py,
    run_body,
    step_of,
    wait_finished,
    wait_for,
)


def nap(name: str, seconds: float, cpu: str, **extra: Any) -> dict[str, Any]:
    return py(
        name,
        "sleep",
        inputs=[{"name": "seconds", "value": seconds}],
        resources={"cpu": cpu},
        **extra,
    )


def usage_row(up: UpProcess) -> list[str]:
    result = up.cli("usage")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "USER",
        "RUNS",
        "STEPS",
        "CPU-HOURS",
        "GPU-HOURS",
        "STORAGE",
    ]
    return lines[1].split()


def test_usage_outlives_the_run_and_a_restart(up: UpProcess) -> None:
    with up.client() as client:
        client.create(run_body("charged", [nap("a", 0.5, "500m")], cache=False))
        wait_finished(client, "charged")
    before = usage_row(up)
    assert before[:4] == ["default", "admin", "1", "1"]
    assert float(before[4]) > 0  # at least half a core for half a second
    assert up.cli("delete", "pipelinerun", "charged").returncode == 0
    with up.client() as client:

        def gone() -> bool:
            try:
                client.get("pipelineruns", "charged")
            except NotFound:
                return True
            return False

        wait_for(gone, what="the run to be deleted")
    assert usage_row(up)[:6] == before[:6]
    up.stop()
    up.start()
    assert usage_row(up)[:6] == before[:6]


def cluster_queue(name: str, cpu: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "namespaces": [name],
            "cohort": "shared",
            "preemption": {"reclaimWithinCohort": "Never"},
            "resourceGroups": [
                {
                    "flavors": [
                        {"name": "default", "resources": [{"name": "cpu", "nominalQuota": cpu}]}
                    ]
                }
            ],
        },
    }


def phase(client: Client, run: str, namespace: str, step: str) -> str:
    obj = client.get("pipelineruns", run, namespace=namespace)
    return str(step_of(obj, step)["phase"]) if (obj.get("status") or {}).get("steps") else "Pending"


def test_the_team_with_history_waits_behind_the_one_without(client: Client) -> None:
    for team in ("team-a", "team-b", "team-c"):
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}})
        client.create(cluster_queue(team, "500m"))  # the cohort has 1.5 CPUs
    # team-a works first, so it has a history.
    client.create(run_body("night", [nap("train", 1, "1")], namespace="team-a", cache=False))
    wait_finished(client, "night", namespace="team-a")
    # team-c holds the whole cohort while a and b queue up: a first, then b.
    client.create(run_body("block", [nap("hold", 3, "1500m")], namespace="team-c", cache=False))
    wait_for(lambda: phase(client, "block", "team-c", "hold") == "Running", what="the blocker")
    client.create(run_body("a-more", [nap("x", 5, "1")], namespace="team-a", cache=False))
    wait_for(lambda: phase(client, "a-more", "team-a", "x") == "Waiting", what="a to queue")
    client.create(run_body("b-first", [nap("y", 5, "1")], namespace="team-b", cache=False))
    wait_for(lambda: phase(client, "b-first", "team-b", "y") == "Waiting", what="b to queue")
    # When the blocker ends there is room for one of them: b's, though a's is older.
    wait_for(lambda: phase(client, "b-first", "team-b", "y") == "Running", what="b to start")
    assert phase(client, "a-more", "team-a", "x") == "Waiting"

    def fair(team: str) -> dict[str, Any]:
        status = client.get("clusterqueues", team).get("status") or {}
        found: dict[str, Any] = status.get("fairSharing") or {}
        return found

    used = wait_for(lambda: fair("team-a").get("consumedResourceSeconds"), what="the history")
    assert used["default"]["cpu"] > 0.5  # a core for about a second, decayed a little
    assert fair("team-a")["weightedShare"] > 0


def test_why_shows_when_a_waiting_step_should_start(up: UpProcess) -> None:
    with up.client() as client:
        [node] = client.list("nodes")
        cpus = node["status"]["capacity"]["cpu"]
        client.create(run_body("first", [nap("a", 30, cpus, timeoutSeconds=120)], cache=False))
        wait_for(lambda: phase(client, "first", "default", "a") == "Running", what="a to run")
        client.create(run_body("second", [nap("b", 1, cpus)], cache=False))

        def estimated() -> bool:
            status = client.get("pipelineruns", "second").get("status") or {}
            steps = status.get("steps") or [{}]
            return "estimatedStart" in steps[0]

        wait_for(estimated, what="an estimate for b")
    why = up.cli("why", "pipelinerun/second")
    assert why.returncode == 0, why.stderr
    lines = why.stdout.splitlines()
    assert lines[1].startswith("  b: Waiting - ")
    assert lines[2] == "    estimated start: in about 2m (when first/a finishes)"
    assert up.cli("delete", "pipelinerun", "first").returncode == 0
    assert up.cli("delete", "pipelinerun", "second").returncode == 0


def storage_quota(hard: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "team-quota", "namespace": "default"},
        "spec": {"hard": {"requests.storage": hard}},
    }


def test_storage_quota_refuses_new_runs_and_loses_nothing(client: Client) -> None:
    client.create(storage_quota("1Ki"))
    big = py("big", "make_array", inputs=[{"name": "n", "value": 64}])  # a 16Ki artifact
    client.create(run_body("writer", [big], cache=False))
    done = wait_finished(client, "writer")
    artifact = step_of(done, "big")["outputs"][0]["artifact"]
    assert artifact["size"] > 1024

    def used() -> str | None:
        status = client.get("resourcequotas", "team-quota").get("status") or {}
        return (status.get("used") or {}).get("requests.storage")

    assert (
        wait_for(lambda: used() not in (None, "0"), what="status.used") == str(artifact["size"])
        or used() is not None
    )
    with pytest.raises(Forbidden) as refused:
        client.create(run_body("next", [py("a", "noop")]))
    assert str(refused.value).startswith(
        'pipelineruns.mlkube.io "next" is forbidden: exceeded quota: team-quota, '
        "used: requests.storage="
    )
    assert "limited: requests.storage=1Ki" in str(refused.value)
    with pytest.raises(NotFound):
        client.get("pipelineruns", "next")
    kept = client.get("pipelineruns", "writer")
    assert step_of(kept, "big")["outputs"][0]["artifact"] == artifact
    path = Path(artifact["uri"].removeprefix("file://"))
    assert path.exists()
    # Deleting the run frees its share: new runs are accepted again.
    client.delete("pipelineruns", "writer")
    wait_for(lambda: _gone(client, "writer"), what="the writer to go")
    client.create(run_body("next", [py("a", "noop")]))
    assert client.get("resourcequotas", "team-quota")["spec"] == storage_quota("1Ki")["spec"]


def _gone(client: Client, name: str) -> bool:
    try:
        client.get("pipelineruns", name)
    except NotFound:
        return True
    return False
