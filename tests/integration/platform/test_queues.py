"""Team quotas on the real platform: ClusterQueues over HTTP, bad input, `mlkube why`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlkube.api.errors import Invalid, NotFound
from mlkube.sdk.client import Client
from tests.integration.platform.conftest import UpProcess, py, run_body, step_of, wait_for


def cluster_queue(name: str, namespaces: list[str], cpu: str) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "namespaces": namespaces,
            "resourceGroups": [
                {
                    "flavors": [
                        {"name": "default", "resources": [{"name": "cpu", "nominalQuota": cpu}]}
                    ]
                }
            ],
        },
    }


def nap(name: str, seconds: float = 30) -> dict[str, Any]:
    return py(
        name, "sleep", inputs=[{"name": "seconds", "value": seconds}], resources={"cpu": "500m"}
    )


def test_bad_queue_input_is_refused_and_changes_nothing(client: Client) -> None:
    with pytest.raises(Invalid) as info:
        client.create(run_body("r", [py("a", "noop")], priorityClassName="vip"))
    assert [(c.field, c.message) for c in info.value.causes] == [
        ("spec.priorityClassName", 'no PriorityClass named "vip"')
    ]
    client.create(cluster_queue("first", ["default"], "1"))
    with pytest.raises(
        Invalid, match='namespace "default" already belongs to ClusterQueue "first"'
    ):
        client.create(cluster_queue("second", ["default"], "1"))
    with pytest.raises(NotFound):
        client.get("clusterqueues", "second")
    bad_quantity = cluster_queue("third", ["x"], "1")
    bad_quantity["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "2Gx"
    with pytest.raises(Invalid) as bad:
        client.create(bad_quantity)
    assert bad.value.causes[0].field.endswith("resources[0].nominalQuota")


def test_quota_below_current_use_is_refused(client: Client) -> None:
    client.create(cluster_queue("team", ["default"], "1"))
    client.create(run_body("busy", [nap("a"), nap("b")], cache=False))

    def both_running() -> bool:
        run = client.get("pipelineruns", "busy")
        steps = (run.get("status") or {}).get("steps") or [{}]
        return all(s.get("phase") == "Running" for s in steps)

    wait_for(both_running, what="both steps to run")
    lowered = client.get("clusterqueues", "team")
    lowered["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "500m"
    with pytest.raises(Invalid, match="below the 1 in use"):
        client.update(lowered)
    stored = client.get("clusterqueues", "team")
    assert stored["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] == "1"

    def admitted() -> bool:
        status = client.get("clusterqueues", "team").get("status", {})
        return bool(status.get("admittedWorkloads") == 2)

    wait_for(admitted, what="the queue status to show both steps")
    client.delete("pipelineruns", "busy")


def test_why_names_the_short_quota(up: UpProcess, tmp_path: Path) -> None:
    (tmp_path / "queue.yaml").write_text(yaml.safe_dump(cluster_queue("team", ["default"], "500m")))
    assert up.cli("apply", "-f", str(tmp_path / "queue.yaml")).returncode == 0
    (tmp_path / "run.yaml").write_text(
        yaml.safe_dump(run_body("crowded", [nap("a"), nap("b")], cache=False))
    )
    assert up.cli("apply", "-f", str(tmp_path / "run.yaml")).returncode == 0
    with up.client() as client:
        wait_for(
            lambda: (
                step_of(client.get("pipelineruns", "crowded"), "b")["phase"] == "Waiting"
                if client.get("pipelineruns", "crowded").get("status", {}).get("steps")
                else False
            ),
            what="step b to wait",
        )
    why = up.cli("why", "pipelinerun/crowded")
    assert why.returncode == 0
    lines = why.stdout.splitlines()
    assert lines[0] == "pipelinerun crowded is Running in queue team (priority 0)"
    assert lines[1].startswith("  b: Waiting - Queued: quota: position 1 in queue team")
    assert "cpu needs 500m, 0 available under the nominal quota (short by 500m)" in lines[1]
    queues = up.cli("get", "clusterqueues").stdout.splitlines()
    assert queues[0].split()[:5] == ["NAME", "COHORT", "NAMESPACES", "ADMITTED", "PENDING"]
    assert queues[1].split()[:5] == ["team", "-", "default", "1", "1"]
    assert up.cli("delete", "pipelinerun", "crowded").returncode == 0
