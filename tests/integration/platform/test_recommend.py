"""Right-sizing on the real platform: `mlkube recommend` over runs that really ran, and a step
that gets more memory after a real OOM kill."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mlkube.api.quantity import memory_bytes
from mlkube.runtime.local.cgroups import MemoryCgroups
from mlkube.sdk.client import Client
from tests.integration.platform.conftest import (
    UpProcess,
    py,
    run_body,
    step_of,
    wait_finished,
)

MiB = 1 << 20


def sizing_run(name: str) -> dict[str, Any]:
    """A run of the `sizing` pipeline (named by label, as `mlkube run` does)."""
    steps = [
        py(
            "alloc",
            "allocate",
            inputs=[{"name": "megabytes", "value": 64}],
            resources={"cpu": "1", "memory": "1Gi"},
        ),
        py("idle", "noop", dependsOn=["alloc"]),
    ]
    body = run_body(name, steps, cache=False)
    body["metadata"]["labels"] = {"mlkube.io/pipeline": "sizing"}
    return body


def test_recommend_sizes_steps_from_their_runs(up: UpProcess) -> None:
    with up.client() as client:
        for i in range(3):
            client.create(sizing_run(f"sizing-{i}"))
            assert wait_finished(client, f"sizing-{i}")["status"]["phase"] == "Succeeded"

    table = up.cli("recommend")
    assert table.returncode == 0, table.stderr
    head, alloc_line, idle_line = table.stdout.splitlines()
    assert re.split(r"\s{2,}", head.strip()) == [
        "PIPELINE",
        "STEP",
        "RUNS",
        "CPU REQUEST",
        "CPU TARGET",
        "MEMORY REQUEST",
        "MEMORY TARGET",
        "NOTE",
    ]
    assert alloc_line.split()[:4] == ["sizing", "alloc", "3", "1"]
    assert idle_line.split()[:4] == ["sizing", "idle", "3", "-"]
    assert "memory over-provisioned" in alloc_line  # 1Gi asked, about 64Mi used

    listed = up.cli("recommend", "--pipeline", "sizing", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    alloc, idle = json.loads(listed.stdout)
    assert (alloc["pipeline"], alloc["step"], alloc["runs"]) == ("sizing", "alloc", 3)
    assert alloc["requests"] == {"cpu": "1", "memory": "1Gi"}
    target = alloc["target"]
    # It touched 64 MiB: the target is that peak plus the 15% margin, in 5% buckets.
    assert 64 * MiB < memory_bytes(target["memory"]) < 256 * MiB, target
    assert memory_bytes(alloc["lowerBound"]["memory"]) <= memory_bytes(target["memory"])
    assert memory_bytes(target["memory"]) <= memory_bytes(alloc["upperBound"]["memory"])
    assert idle["runs"] == 3 and idle["requests"] == {}
    assert up.cli("recommend", "--pipeline", "nothing", "-o", "json").stdout.strip() == "[]"
    empty = up.cli("recommend", "-n", "kube-system")
    assert (empty.returncode, empty.stderr.strip()) == (
        0,
        "No pipeline steps have run in kube-system namespace.",
    )


@pytest.mark.skipif(
    MemoryCgroups.open(None) is None,
    reason="needs a cgroup memory limit: under RLIMIT_AS a warm worker's address space alone "
    "outgrows small limits, so the attempts fail for the wrong reason",
)
def test_a_step_gets_more_memory_after_a_real_oom_kill(client: Client) -> None:
    hog = py(
        "hog",
        "allocate",
        inputs=[{"name": "megabytes", "value": 200}],
        resources={"memory": "64Mi"},
        retries={"limit": 3, "backoffSeconds": 0.1, "increaseMemoryOnOOM": True},
    )
    client.create(run_body("hungry", [hog], cache=False))
    run = wait_finished(client, "hungry")
    step = step_of(run, "hog")
    assert (step["phase"], run["status"]["phase"]) == ("Succeeded", "Succeeded"), step
    # 64Mi is killed, then 164Mi or more (VPA's +100Mi) is killed too, then 264Mi+ fits.
    assert step["oomKills"] == step["attempts"] - 1 >= 1, step
    assert step["memoryLimitBytes"] > 200 * MiB
    assert step["placement"]["memoryBytes"] == step["memoryLimitBytes"]
    assert step["outputs"][0]["value"] == 200 * MiB
