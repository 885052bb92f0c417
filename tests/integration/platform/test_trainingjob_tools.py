"""TrainingJobs on the real platform, as their users see them: worker logs, `why`, `describe`,
usage kept after the job is gone, refusal at create, preemption of a running gang."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlkube.api.errors import Invalid, NotFound
from mlkube.sdk.client import Client
from mlkube.sdk.config import write_config
from mlkube.sdk.usage import usage_rows
from mlkube.server.embedded import EmbeddedPlatform
from tests.integration.platform.conftest import MLKUBE, process_alive, py, run_body, wait_for
from tests.integration.platform.test_queues import cluster_queue
from tests.integration.platform.test_trainingjobs import JOBS, job_body, job_status, wait_job

# Each rank prints a line, naps, prints another: something to follow while it runs.
CHATTY = (
    "import os, time; r = os.environ['RANK']; print('hello from', r, flush=True); "
    "time.sleep(1); print('bye from', r, flush=True)"
)
# The first start of each rank sleeps until stopped; a later start exits 0 at once.
ONCE_LONG = (
    "import os, sys, time; mark = os.path.join(sys.argv[1], os.environ['RANK']); "
    "first = not os.path.exists(mark); open(mark, 'a').close(); time.sleep(120 if first else 0)"
)


def command_job(name: str, script: str, *args: str, **spec: Any) -> dict[str, Any]:
    body = job_body(name, "unused", **spec)
    del body["spec"]["python"]
    body["spec"]["command"] = ["python3", "-c", script]
    body["spec"]["args"] = list(args)
    return body


def mlkube(config: Path, *args: str) -> tuple[int, str]:
    """The real `mlkube` command against the platform; (exit code, stdout and stderr)."""
    done = subprocess.run(
        [MLKUBE, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def config(platform: EmbeddedPlatform, tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "kubeconfig",
        server=platform.url,
        token=platform.admin_token(),
        ca_data=platform.ca_pem,
    )


def test_logs_follow_a_worker_and_the_cli_shows_logs_why_and_describe(
    client: Client, config: Path
) -> None:
    client.create(command_job("chat", CHATTY))
    wait_for(lambda: job_status(client, "chat").get("phase") == "Running", what="the gang to run")
    followed = "".join(client.worker_logs("chat", worker=1, follow=True))
    assert followed == "hello from 1\nbye from 1\n"  # followed until the worker ended
    assert wait_job(client, "chat")["phase"] == "Succeeded"
    code, output = mlkube(config, "logs", "tj/chat")
    assert (code, output) == (0, "hello from 0\nbye from 0\n")  # worker 0 by default
    code, output = mlkube(config, "logs", "tj/chat", "--worker", "1", "-f")
    assert (code, output) == (0, "hello from 1\nbye from 1\n")
    code, output = mlkube(config, "logs", "tj/chat", "--worker", "2")
    assert code != 0
    assert 'trainingjob "chat" has no worker 2 (workers: 0 to 1)' in output
    code, output = mlkube(config, "why", "tj/chat")
    assert code == 0
    assert output.splitlines()[0] == "trainingjob chat is Succeeded (priority 0)"
    code, output = mlkube(config, "describe", "tj/chat")
    assert code == 0, output
    assert ["Phase:", "Succeeded"] in [line.split() for line in output.splitlines()]
    rows = [line.split() for line in output.splitlines()]
    header = rows.index(["RANK", "PHASE", "PID", "EXIT", "CPUS", "REASON", "MESSAGE"])
    assert [r[:2] + r[3:4] for r in rows[header + 1 :]] == [
        ["0", "Succeeded", "0"],
        ["1", "Succeeded", "0"],
    ]
    with pytest.raises(NotFound):
        "".join(client.worker_logs("chat", start=5))


def test_why_tells_a_waiting_gang_its_place_and_that_quota_keeps_the_estimate_unknown(
    client: Client, config: Path
) -> None:
    client.create(cluster_queue("team", ["default"], "1"))
    # The queue covers cpu only, so the workers ask for cpu only.
    client.create(job_body("blocked", "rendezvous", resources={"cpu": "1"}))
    wait_for(lambda: job_status(client, "blocked").get("waitReason"), what="the gang to wait")
    code, output = mlkube(config, "why", "tj/blocked")
    assert code == 0
    lines = output.splitlines()
    assert lines[0] == "trainingjob blocked is Pending in queue team (priority 0)"
    assert lines[1].startswith("  waits for quota: ")
    assert "  position in queue: 1" in lines
    assert lines[-1] == (
        "  estimated start: unknown (the estimate does not weigh ClusterQueue quota for a gang yet)"
    )


def test_usage_of_workers_is_kept_after_the_job_is_deleted(client: Client) -> None:
    client.create(job_body("paid", "rendezvous", "30"))
    assert wait_job(client, "paid")["phase"] == "Succeeded"
    uid = client.get(JOBS, "paid")["metadata"]["uid"]
    client.delete(JOBS, "paid")
    wait_for(lambda: not client.list(JOBS), what="the job to go")
    mine = [r for r in client.usage_records("default") if r["run_uid"] == uid]
    assert sorted((r["step"], r["outcome"], r["cpu_millis"]) for r in mine) == [
        ("worker-0", "Succeeded", 1000),
        ("worker-1", "Succeeded", 1000),
    ]
    assert {(r["namespace"], r["user"], r["pipeline"]) for r in mine} == {
        ("default", "admin", "trainingjob:paid")
    }
    (row,) = usage_rows([], now=datetime.now(UTC), records=mine)
    assert (row.namespace, row.user, row.runs, row.steps) == ("default", "admin", 1, 2)
    assert row.cpu_hours > 0


def test_a_job_that_can_never_run_is_refused_at_create(
    client: Client, platform: EmbeddedPlatform
) -> None:
    cores = len(platform.manager.runs.node.cpus)
    with pytest.raises(Invalid) as info:
        client.create(job_body("huge", "rendezvous", workers=cores + 1))
    (cause,) = info.value.causes
    assert cause.field == "spec.workers"
    assert cause.message == (
        f"{cores + 1} workers \N{MULTIPLICATION SIGN} 1 cpu = {cores + 1} CPUs; "
        f"the node has {cores}"
    )
    with pytest.raises(Invalid) as info:
        client.create(job_body("vip", "rendezvous", priorityClassName="vip"))
    assert [(c.field, c.message) for c in info.value.causes] == [
        ("spec.priorityClassName", 'no PriorityClass named "vip"')
    ]
    assert client.list(JOBS) == []


def test_a_higher_priority_step_preempts_the_running_gang_which_then_succeeds(
    client: Client, tmp_path: Path
) -> None:
    client.create(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "urgent"},
            "value": 1000,
        }
    )
    client.create(cluster_queue("team", ["default"], "2"))
    marks = tmp_path / "marks"
    marks.mkdir()
    client.create(command_job("gang", ONCE_LONG, str(marks), resources={"cpu": "1"}))

    def running_pids() -> list[int] | None:
        status = job_status(client, "gang")
        pids = [w.get("pid") for w in status.get("workers") or []]
        return [int(p) for p in pids] if status.get("phase") == "Running" and all(pids) else None

    pids = wait_for(running_pids, what="both workers to run")
    # Both ranks are past their mark: a later start of theirs will exit at once.
    wait_for(lambda: len(list(marks.iterdir())) == 2, what="both workers to mark their start")
    step = py("fast", "sleep", inputs=[{"name": "seconds", "value": 0.5}], resources={"cpu": "1"})
    client.create(run_body("hotfix", [step], priorityClassName="urgent", cache=False))

    def requeued() -> dict[str, Any] | None:
        status = job_status(client, "gang")
        return status if status.get("starts") == 1 and status.get("phase") == "Pending" else None

    status = wait_for(requeued, timeout=15, what="the gang to be preempted")
    assert status["restarts"] == 0
    assert [w["phase"] for w in status["workers"]] == ["Preempted", "Preempted"]
    running = next(c for c in status["conditions"] if c["type"] == "Running")
    assert (running["status"], running["reason"]) == ("False", "Preempted")
    wait_for(lambda: not any(process_alive(p) for p in pids), what="every worker to stop")
    final = wait_job(client, "gang", timeout=30)
    assert (final["phase"], final["restarts"], final["starts"]) == ("Succeeded", 0, 2)
    assert client.get("pipelineruns", "hotfix")["status"]["phase"] == "Succeeded"
