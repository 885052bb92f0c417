"""One behaviour, three platforms: every scenario here runs on the embedded platform (`mlkube
up`: SQLite, local processes), on the operator against a fake cluster (fake kube-apiserver, its
kubelet running each step's pod as a local process), and on that operator with an S3 artifact
store (a real S3 API on loopback), where steps exchange invocations, results and artifacts
through the store as on a real cluster, through the same SDK client, and must pass on all.

The scenarios only use the public API (create, get) and files the steps themselves write, never
a platform's internals. Steps that must outlast a check wait for a file the test creates, so
no scenario depends on how fast either platform is.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from tests.integration.platform.conftest import py, run_body, step_of, wait_finished, wait_for

from mlkube.runtime.kubernetes.settings import ClusterSettings
from mlkube.sdk.client import Client
from mlkube.server.embedded import EmbeddedPlatform
from mlkube.server.operator import OperatorPlatform
from mlkube.testing.kube import FakeKubeCluster, FakeNode, fake_kube_cluster
from mlkube.testing.s3 import S3Server

TEAM = "team-a"


@dataclass
class Platform:
    """A running platform as its users see it: an API client (and its name, for test ids).
    `namespace_ready` runs after a team namespace is made (the S3 store's credentials Secret)."""

    kind: str
    client: Client
    namespace_ready: Callable[[str], None] = lambda name: None


def _embedded(tmp_path: Path) -> Iterator[Platform]:
    platform = EmbeddedPlatform(tmp_path / "data", port=0)
    platform.start()
    try:
        with Client(platform.url, platform.admin_token(), ca_data=platform.ca_pem) as client:
            yield Platform("embedded", client)
    finally:
        platform.stop()


def _operator(tmp_path: Path, s3: S3Server | None = None) -> Iterator[Platform]:
    workdir = tmp_path / "cluster"
    workdir.mkdir()
    nodes = [FakeNode("node-1", {"cpu": "2", "memory": "4Gi"})]
    settings = ClusterSettings()
    if s3 is not None:
        s3.create_bucket("lake")
        settings = ClusterSettings(
            artifact_store="s3://lake/mlkube", artifact_credentials_secret="s3"
        )
    with fake_kube_cluster(workdir, nodes=nodes) as kube:
        operator = OperatorPlatform(
            kube.configuration(),
            data_dir=tmp_path / "data",
            settings=settings,
            artifact_store_options=s3.options if s3 else None,
            health_host="127.0.0.1",
            health_port=0,
        )
        operator.start()
        try:
            # The fake API server asks for no credentials; the client sends a token anyway.
            with Client(kube.url, "unused") as client:
                if s3 is None:
                    yield Platform("operator", client)
                else:
                    yield Platform("operator-s3", client, _secret_maker(kube, s3))
        finally:
            operator.stop()


def _secret_maker(kube: FakeKubeCluster, s3: S3Server) -> Callable[[str], None]:
    """Puts the S3 credentials in a namespace's Secret, as a cluster admin would (through the
    official client: Secrets are not one of our kinds)."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in s3.env.items()}

    def make(namespace: str) -> None:
        with kube.api_client() as api:
            body = {"metadata": {"name": "s3"}, "data": data}
            kubernetes.client.CoreV1Api(api).create_namespaced_secret(namespace, body)

    return make


def _operator_s3(tmp_path: Path) -> Iterator[Platform]:
    with S3Server() as s3:
        yield from _operator(tmp_path, s3)


@pytest.fixture(params=["embedded", "operator", "operator-s3"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    starts = {"embedded": _embedded, "operator": _operator, "operator-s3": _operator_s3}
    yield from starts[request.param](tmp_path)


def namespace(platform: Platform, name: str = TEAM) -> None:
    platform.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    platform.namespace_ready(name)


def cluster_queue(name: str, namespaces: list[str], cpu: str) -> dict[str, Any]:
    flavor = {"name": "default", "resources": [{"name": "cpu", "nominalQuota": cpu}]}
    return {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {"namespaces": namespaces, "resourceGroups": [{"flavors": [flavor]}]},
    }


def shell(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "command": ["sh", "-c", script], **extra}


def wait_until(path: Path) -> str:
    """A script that waits for `path` to exist, so the test decides when the step ends."""
    return f"while [ ! -e {path} ]; do sleep 0.05; done"


def step_state(client: Client, run: str, step: str) -> dict[str, Any]:
    obj = client.get("pipelineruns", run, namespace=TEAM)
    steps = (obj.get("status") or {}).get("steps") or []
    return next((s for s in steps if s["name"] == step), {})


def test_an_output_is_passed_to_the_next_step(platform: Platform) -> None:
    client = platform.client
    namespace(platform)
    steps = [
        shell("first", "echo 21 > $MLKUBE_OUTPUTS_DIR/output"),
        py(
            "second",
            "add",
            inputs=[{"name": "a", "fromStep": "first"}, {"name": "b", "value": 21}],
        ),
    ]
    client.create(run_body("flow", steps, namespace=TEAM))
    run = wait_finished(client, "flow", namespace=TEAM)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert step_of(run, "first")["outputs"] == [{"name": "output", "value": 21}]
    assert step_of(run, "second")["outputs"] == [{"name": "output", "value": 42}]


def test_a_failing_step_is_retried_then_fails_with_its_error(platform: Platform) -> None:
    client = platform.client
    namespace(platform)
    boom = py(
        "boom",
        "fail",
        inputs=[{"name": "message", "value": "no such column"}],
        retries={"limit": 1, "backoffSeconds": 0.1},
    )
    client.create(run_body("broken", [boom], namespace=TEAM, cache=False))
    run = wait_finished(client, "broken", namespace=TEAM)
    step = step_of(run, "boom")
    assert run["status"]["phase"] == "Failed"
    assert (step["phase"], step["reason"], step["message"]) == (
        "Failed",
        "Error",
        "RuntimeError: no such column",
    )
    assert step["attempts"] == 2


def test_a_quota_holds_a_run_until_the_first_one_finishes(
    platform: Platform, tmp_path: Path
) -> None:
    client = platform.client
    namespace(platform)
    client.create(cluster_queue("team", [TEAM], "1"))
    release = tmp_path / "release"
    cpu1 = {"resources": {"cpu": "1"}}
    client.create(run_body("first", [shell("hold", wait_until(release), **cpu1)], namespace=TEAM))
    wait_for(lambda: step_state(client, "first", "hold").get("phase") == "Running", what="hold")
    client.create(run_body("second", [py("next", "noop", **cpu1)], namespace=TEAM))

    def held() -> dict[str, Any] | None:
        state = step_state(client, "second", "next")
        return state if state.get("phase") == "Waiting" and state.get("message") else None

    waiting = wait_for(held, what="the second run to wait for quota")
    assert waiting["message"].startswith("quota: position 1 in queue team"), waiting
    release.touch()
    assert wait_finished(client, "first", namespace=TEAM)["status"]["phase"] == "Succeeded"
    assert wait_finished(client, "second", namespace=TEAM)["status"]["phase"] == "Succeeded"


def test_a_higher_priority_run_preempts_and_the_lower_one_is_requeued(
    platform: Platform, tmp_path: Path
) -> None:
    client = platform.client
    namespace(platform)
    client.create(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "urgent"},
            "value": 1000,
        }
    )
    client.create(cluster_queue("team", [TEAM], "1"))
    started, release = tmp_path / "started", tmp_path / "release"
    cpu1 = {"resources": {"cpu": "1"}}
    # The first attempt runs until stopped; the one after the preemption ends at once.
    batch = shell("slow", f"[ -e {started} ] && exit 0; touch {started}; sleep 60", **cpu1)
    client.create(run_body("batch", [batch], namespace=TEAM, cache=False))
    wait_for(started.exists, what="the batch step to start")
    hotfix = shell("fast", wait_until(release), **cpu1)
    client.create(
        run_body("hotfix", [hotfix], namespace=TEAM, priorityClassName="urgent", cache=False)
    )

    def preempted() -> dict[str, Any] | None:
        state = step_state(client, "batch", "slow")
        return (
            state if (state.get("phase"), state.get("reason")) == ("Waiting", "Preempted") else None
        )

    wait_for(preempted, what="the batch step to be preempted")
    wait_for(lambda: step_state(client, "hotfix", "fast").get("phase") == "Running", what="fast")
    release.touch()
    assert wait_finished(client, "hotfix", namespace=TEAM)["status"]["phase"] == "Succeeded"
    batch_run = wait_finished(client, "batch", namespace=TEAM)
    assert batch_run["status"]["phase"] == "Succeeded", batch_run["status"]
    assert step_of(batch_run, "slow")["attempts"] == 1  # being preempted is not a failure


def test_a_two_worker_training_job_rendezvous_and_succeeds(
    platform: Platform, tmp_path: Path
) -> None:
    client = platform.client
    namespace(platform)
    record = tmp_path / "record.jsonl"
    # The workers meet in MLKUBE_JOB_DIR, a folder on this machine: that works on the fake
    # cluster only because its kubelet runs every pod as a local process (on a real cluster
    # the workers rendezvous over the network, through MASTER_ADDR / MASTER_PORT).
    job = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "ddp", "namespace": TEAM},
        "spec": {
            "workers": 2,
            "python": {"module": "mlkube.testing.gang", "function": "rendezvous"},
            "args": ["30", str(record)],
            "resources": {"cpu": "500m", "memory": "128Mi"},
        },
    }
    client.create(job)

    def finished() -> dict[str, Any] | None:
        status = client.get("trainingjobs", "ddp", namespace=TEAM).get("status") or {}
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    status = wait_for(finished, timeout=60, what="the training job to finish")
    assert status["phase"] == "Succeeded", status
    seen = [json.loads(line) for line in record.read_text().splitlines()]
    assert sorted(r["RANK"] for r in seen) == ["0", "1"]
    assert {(r["WORLD_SIZE"], r["MLKUBE_JOB_NAME"], r["MLKUBE_NAMESPACE"]) for r in seen} == {
        ("2", "ddp", TEAM)
    }
