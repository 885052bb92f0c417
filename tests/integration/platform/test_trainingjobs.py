"""TrainingJobs on the real platform: real worker processes, SQLite, HTTP on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import Invalid, NotFound
from mlkube.sdk.client import Client
from mlkube.server.embedded import EmbeddedPlatform
from tests.integration.platform.conftest import (
    process_alive,
    py,
    run_body,
    wait_for,
)
from tests.integration.platform.test_queues import cluster_queue

GANG = "mlkube.testing.gang"
JOBS = "trainingjobs"


def job_body(name: str, function: str, *args: str, workers: int = 2, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "workers": workers,
            "python": {"module": GANG, "function": function},
            "args": list(args),
            "resources": {"cpu": "1", "memory": "256Mi"},
            **spec,
        },
    }


def job_status(client: Client, name: str) -> dict[str, Any]:
    status: dict[str, Any] = client.get(JOBS, name).get("status") or {}
    return status


def wait_job(client: Client, name: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status = job_status(client, name)
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    result: dict[str, Any] = wait_for(done, timeout=timeout, what=f"job {name} to finish")
    return result


def records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_two_workers_rendezvous_and_the_job_succeeds(client: Client, tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    client.create(job_body("ddp", "rendezvous", "30", str(record)))
    status = wait_job(client, "ddp")
    assert status["phase"] == "Succeeded", status
    seen = records(record)
    assert sorted(r["RANK"] for r in seen) == ["0", "1"]
    assert {(r["WORLD_SIZE"], r["MASTER_ADDR"], r["MLKUBE_JOB_NAME"]) for r in seen} == {
        ("2", "127.0.0.1", "ddp")
    }
    assert {r["MASTER_PORT"] for r in seen} == {str(status["masterPort"])}
    assert {w["pid"] for w in status["workers"]} == {r["pid"] for r in seen}
    assert all(w["phase"] == "Succeeded" and w["exitCode"] == 0 for w in status["workers"])
    assert all(w["usage"]["samples"] >= 0 and w["placement"]["cpus"] for w in status["workers"])
    assert condition(status, "Succeeded")["status"] == "True"


def test_a_gang_waits_while_a_step_holds_cpus_and_starts_only_when_all_fit(
    client: Client, platform: EmbeddedPlatform, tmp_path: Path
) -> None:
    cores = len(platform.manager.runs.node.cpus)
    marker = tmp_path / "hog.pid"
    # The step leaves less than one whole core free per worker: no worker may start.
    hog = py(
        "hog",
        "sleep",
        inputs=[{"name": "seconds", "value": 60}, {"name": "marker", "value": str(marker)}],
        resources={"cpu": f"{cores * 1000 - 500}m"},
    )
    client.create(run_body("busy", [hog], cache=False))
    wait_for(marker.exists, what="the step to start")
    record = tmp_path / "record.jsonl"
    client.create(job_body("gang", "rendezvous", "30", str(record), workers=cores))

    def waiting() -> str | None:
        return job_status(client, "gang").get("waitReason")

    reason = wait_for(waiting, what="the gang's wait reason")
    assert reason.startswith("waiting for CPU"), reason
    assert job_status(client, "gang")["phase"] == "Pending"
    assert records(record) == []  # not one worker ran while the gang did not fit
    client.delete("pipelineruns", "busy")
    status = wait_job(client, "gang")
    assert status["phase"] == "Succeeded", status
    assert sorted(r["RANK"] for r in records(record)) == [str(r) for r in range(cores)]


def test_a_failing_worker_restarts_the_gang_then_fails_the_job(
    client: Client, tmp_path: Path
) -> None:
    record = tmp_path / "record.jsonl"
    client.create(job_body("flaky", "fail_rank", "1", str(record), runPolicy={"backoffLimit": 1}))
    status = wait_job(client, "flaky")
    assert status["phase"] == "Failed"
    assert (status["restarts"], status["starts"]) == (1, 2)
    failed = condition(status, "Failed")
    assert failed["reason"] == "Error"
    assert "worker 1 exit code 1" in failed["message"]
    assert "loss is NaN" in failed["message"]  # the tail of the worker's log
    seen = records(record)
    # Rank 1 ran in both starts; rank 0 may have been stopped before it got as far as writing.
    assert [r["RANK"] for r in seen].count("1") == 2
    assert not any(process_alive(r["pid"]) for r in seen if r["RANK"] == "0")
    assert [w["phase"] for w in status["workers"]] == ["Stopped", "Failed"]


def test_quota_holds_the_whole_gang_until_it_is_raised(client: Client, tmp_path: Path) -> None:
    client.create(cluster_queue("team", ["default"], "1500m"))
    record = tmp_path / "record.jsonl"
    # The queue covers cpu only, so the workers ask for cpu only.
    client.create(job_body("quota", "rendezvous", "30", str(record), resources={"cpu": "1"}))

    def waiting() -> str | None:
        return job_status(client, "quota").get("waitReason")

    reason = wait_for(waiting, what="the gang to wait for quota")
    assert reason.startswith("quota: "), reason
    assert records(record) == []
    raised = client.get("clusterqueues", "team")
    raised["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = "2"
    client.update(raised)
    assert wait_job(client, "quota")["phase"] == "Succeeded"
    assert len(records(record)) == 2


def test_delete_stops_every_worker(client: Client, tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    client.create(job_body("long", "sleep", "120", str(record)))

    def running() -> list[int] | None:
        status = job_status(client, "long")
        pids = [w.get("pid") for w in status.get("workers") or []]
        return [int(p) for p in pids] if status.get("phase") == "Running" and all(pids) else None

    pids = wait_for(running, what="both workers to run")
    assert all(process_alive(p) for p in pids)
    client.delete(JOBS, "long")

    def gone() -> bool:
        try:
            client.get(JOBS, "long")
        except NotFound:
            return True
        return False

    wait_for(gone, timeout=30, what="the job to be deleted")
    assert not any(process_alive(p) for p in pids)


def test_bad_input_is_refused_and_changes_nothing(client: Client) -> None:
    cases = [
        ({"workers": 0}, "spec.workers"),
        ({"replicas": 2}, "spec.replicas"),
        ({"env": [{"name": "RANK", "value": "3"}]}, "spec.env"),
        ({"runPolicy": {"backoffLimit": -1}}, "spec.runPolicy.backoffLimit"),
    ]
    for extra, field in cases:
        body = job_body("bad", "rendezvous")
        body["spec"].update(extra)
        with pytest.raises(Invalid) as info:
            client.create(body)
        assert field in [c.field for c in info.value.causes], info.value.causes
    both = job_body("bad", "rendezvous")
    both["spec"]["command"] = ["python", "-c", "pass"]
    with pytest.raises(Invalid, match="set exactly one of python or command"):
        client.create(both)
    assert client.list(JOBS) == []


def test_a_command_job_runs_with_its_arguments(client: Client, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    script = "import os, sys; open(os.path.join(sys.argv[1], os.environ['RANK']), 'w').close()"
    body = job_body("cmd", "unused")
    del body["spec"]["python"]
    body["spec"]["command"] = ["python3", "-c", script]
    body["spec"]["args"] = [str(out)]
    client.create(body)
    assert wait_job(client, "cmd")["phase"] == "Succeeded"
    assert sorted(p.name for p in out.iterdir()) == ["0", "1"]
