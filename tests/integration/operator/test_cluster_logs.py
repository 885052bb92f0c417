"""`mlkube logs` against a cluster: the real CLI with `--kubeconfig`, the operator running the
work on the fake cluster, the logs read from the pods it keeps until their run or job is
deleted (then Kubernetes' garbage collector deletes them)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from kubernetes import client

from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster
from tests.integration.operator.test_cli_against_cluster import mlkube
from tests.integration.operator.test_operator import (
    GROUP,
    MLKUBE,
    TEAM,
    VERSION,
    create_run,
    create_team,
    finished,
    get_run,
    shell,
    steps_of,
)
from tests.integration.platform.conftest import wait_for

FLAKY = 'echo attempt $MLKUBE_ATTEMPT; [ "$MLKUBE_ATTEMPT" = 2 ]'


def pods_of(api: client.ApiClient, selector: str) -> list[client.V1Pod]:
    return list(client.CoreV1Api(api).list_namespaced_pod(TEAM, label_selector=selector).items)


def logs(kube: FakeKubeCluster, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return mlkube("logs", *args, "-n", TEAM, "--kubeconfig", str(kube.kubeconfig_path), home=home)


def test_finished_and_retried_steps_logs_are_read_from_pods_kept_until_the_run_goes(
    kube: FakeKubeCluster, operator: OperatorPlatform, api: client.ApiClient, tmp_path: Path
) -> None:
    create_team(api)
    retry = {"retries": {"limit": 1, "backoffSeconds": 0}}
    create_run(
        api, "hello", [shell("hi", "echo hello from $MLKUBE_STEP"), shell("flaky", FLAKY, **retry)]
    )
    run = finished(api, "hello")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert steps_of(run)["flaky"]["attempts"] == 2
    # Every attempt's pod is kept, labelled, and owned by the run.
    pods = pods_of(api, "mlkube.io/pipelinerun=hello")
    assert sorted(
        (p.metadata.labels["mlkube.io/step"], p.metadata.labels["mlkube.io/attempt"]) for p in pods
    ) == [
        ("flaky", "1"),
        ("flaky", "2"),
        ("hi", "1"),
    ]
    owners = {
        (r.kind, r.name, r.uid, r.controller) for p in pods for r in p.metadata.owner_references
    }
    assert owners == {("PipelineRun", "hello", run["metadata"]["uid"], True)}

    assert (logs(kube, tmp_path, "hello", "--step", "hi").stdout) == "hello from hi\n"
    assert logs(kube, tmp_path, "hello", "--step", "flaky").stdout == "attempt 2\n"
    assert (
        logs(kube, tmp_path, "hello", "--step", "flaky", "--attempt", "1").stdout == "attempt 1\n"
    )
    several = logs(kube, tmp_path, "hello")
    assert (several.returncode, several.stderr) == (
        1,
        "Error from server (BadRequest): PipelineRun 'hello' has steps flaky, hi: name one\n",
    )
    missing = logs(kube, tmp_path, "hello", "--step", "flaky", "--attempt", "3")
    assert missing.returncode == 1
    assert missing.stderr.startswith(
        "Error from server (NotFound): no pod of step 'flaky' of PipelineRun 'hello' (attempt 3) "
        f"in namespace '{TEAM}': it has not started yet, or its pod is gone"
    )

    client.CustomObjectsApi(api).delete_namespaced_custom_object(
        GROUP, VERSION, TEAM, "pipelineruns", "hello"
    )
    wait_for(lambda: not pods_of(api, "mlkube.io/pipelinerun=hello"), what="the run's pods to go")
    gone = logs(kube, tmp_path, "hello", "--step", "hi")
    assert gone.returncode == 1
    # No pod, and no run either: the run's own NotFound says which is missing.
    assert gone.stderr == 'Error from server (NotFound): pipelineruns.mlkube.io "hello" not found\n'


def test_follow_streams_a_running_steps_log_until_it_ends(
    kube: FakeKubeCluster, operator: OperatorPlatform, api: client.ApiClient, tmp_path: Path
) -> None:
    create_team(api)
    started, release = tmp_path / "started", tmp_path / "release"
    script = (
        f"echo begun; touch {started}; while [ ! -e {release} ]; do sleep 0.05; done; echo done"
    )
    create_run(api, "long", [shell("wait", script)])
    wait_for(started.exists, what="the step to start")
    command = [MLKUBE, "logs", "long", "--step", "wait", "-f", "-n", TEAM]
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    with subprocess.Popen(
        [*command, "--kubeconfig", str(kube.kubeconfig_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as follower:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "begun\n"  # streamed while the step still runs
        assert get_run(api, "long")["status"]["phase"] == "Running"
        release.touch()
        rest, errors = follower.communicate(timeout=60)
    assert (follower.returncode, rest, errors) == (0, "done\n", "")
    assert finished(api, "long")["status"]["phase"] == "Succeeded"


def training_job(name: str, script: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {
            "workers": 2,
            "command": ["sh", "-c", script],
            "resources": {"cpu": "500m", "memory": "128Mi"},
        },
    }


def test_a_training_workers_log_is_read_from_its_pod(
    kube: FakeKubeCluster, operator: OperatorPlatform, api: client.ApiClient, tmp_path: Path
) -> None:
    create_team(api)
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, TEAM, "trainingjobs", training_job("ddp", "echo rank $RANK of $WORLD_SIZE")
    )

    def done() -> dict[str, Any] | None:
        job = custom.get_namespaced_custom_object(GROUP, VERSION, TEAM, "trainingjobs", "ddp")
        phase = (job.get("status") or {}).get("phase")
        return job if phase in ("Succeeded", "Failed") else None

    job = wait_for(done, timeout=60, what="the training job to finish")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert logs(kube, tmp_path, "tj/ddp").stdout == "rank 0 of 2\n"
    assert logs(kube, tmp_path, "tj/ddp", "--worker", "1").stdout == "rank 1 of 2\n"
    pods = pods_of(api, "mlkube.io/trainingjob=ddp,mlkube.io/start=1")
    assert sorted(p.metadata.labels["mlkube.io/worker"] for p in pods) == ["0", "1"]
    assert {r.uid for p in pods for r in p.metadata.owner_references} == {job["metadata"]["uid"]}
