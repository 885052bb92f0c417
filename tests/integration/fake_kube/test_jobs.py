"""The fake Job controller and kubelet through the official client: real processes, real logs."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from mlkube.testing.kube import FakeKubeCluster
from tests.integration.fake_kube.conftest import alive, job, pids_in, python, record_pid, wait_for

NS = "default"


def conditions(batch: client.BatchV1Api, name: str) -> dict[str, client.V1JobCondition]:
    status = batch.read_namespaced_job(name, NS).status
    return {c.type: c for c in status.conditions or [] if c.status == "True"}


def job_pods(core: client.CoreV1Api, name: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(NS, label_selector=f"batch.kubernetes.io/job-name={name}").items


def test_a_job_runs_its_pod_to_success_and_its_log_is_readable(api: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(NS, job("hello", python("print('hi')")))
    wait_for(lambda: "Complete" in conditions(batch, "hello"), what="the job to complete")
    done = batch.read_namespaced_job("hello", NS)
    assert done.status.succeeded == 1 and not done.status.active
    assert done.status.start_time and done.status.completion_time
    [pod] = job_pods(core, "hello")
    assert pod.status.phase == "Succeeded" and pod.spec.node_name == "fake-node-1"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert pod.metadata.owner_references[0].uid == done.metadata.uid
    assert core.read_namespaced_pod_log(pod.metadata.name, NS) == "hi\n"


def test_an_indexed_jobs_pods_see_their_index(api: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    code = "import os; print(os.environ['JOB_COMPLETION_INDEX'], os.environ['HOSTNAME'])"
    spec = job("shards", python(code), completions=3, parallelism=3, completionMode="Indexed")
    batch.create_namespaced_job(NS, spec)
    wait_for(lambda: "Complete" in conditions(batch, "shards"), what="the indexed job")
    assert batch.read_namespaced_job("shards", NS).status.completed_indexes == "0-2"
    logs = {}
    for pod in job_pods(core, "shards"):
        index = pod.metadata.annotations["batch.kubernetes.io/job-completion-index"]
        assert pod.metadata.labels["batch.kubernetes.io/job-completion-index"] == index
        assert pod.spec.hostname == f"shards-{index}"
        logs[index] = core.read_namespaced_pod_log(pod.metadata.name, NS)
    assert logs == {i: f"{i} shards-{i}\n" for i in ("0", "1", "2")}


def test_failing_pods_are_retried_up_to_the_backoff_limit(api: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(NS, job("flaky", python("raise SystemExit(3)"), backoffLimit=2))
    wait_for(lambda: "Failed" in conditions(batch, "flaky"), what="the job to fail")
    failed = conditions(batch, "flaky")["Failed"]
    assert (failed.reason, failed.message) == (
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )
    pods = job_pods(core, "flaky")
    assert len(pods) == 3 and batch.read_namespaced_job("flaky", NS).status.failed == 3
    for pod in pods:
        assert pod.status.phase == "Failed"
        assert pod.status.container_statuses[0].state.terminated.exit_code == 3


def test_a_suspended_job_has_no_pods_until_it_is_resumed(api: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    batch.create_namespaced_job(NS, job("later", python("print('resumed')"), suspend=True))
    wait_for(lambda: "Suspended" in conditions(batch, "later"), what="the suspended condition")
    assert job_pods(core, "later") == []
    batch.patch_namespaced_job("later", NS, {"spec": {"suspend": False}})
    wait_for(lambda: "Complete" in conditions(batch, "later"), what="the resumed job")
    [pod] = job_pods(core, "later")
    assert core.read_namespaced_pod_log(pod.metadata.name, NS) == "resumed\n"


def test_deleting_a_job_kills_its_running_pod(
    api: client.ApiClient, kube: FakeKubeCluster, tmp_path: Path
) -> None:
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    pids = tmp_path / "pids"
    batch.create_namespaced_job(NS, job("sleeper", record_pid(pids)))
    [pid] = wait_for(lambda: pids_in(pids), what="the pod's process")
    wait_for(lambda: job_pods(core, "sleeper")[0].status.phase == "Running", what="Running")
    batch.delete_namespaced_job("sleeper", NS, propagation_policy="Background")
    wait_for(lambda: not alive(pid), what="the process to be killed")
    wait_for(lambda: job_pods(core, "sleeper") == [], what="the pod to go")


def test_a_job_past_its_deadline_fails(api: client.ApiClient, tmp_path: Path) -> None:
    batch = client.BatchV1Api(api)
    pids = tmp_path / "pids"
    batch.create_namespaced_job(NS, job("slow", record_pid(pids), activeDeadlineSeconds=1))
    [pid] = wait_for(lambda: pids_in(pids), what="the pod's process")
    wait_for(lambda: "Failed" in conditions(batch, "slow"), what="the deadline")
    assert conditions(batch, "slow")["Failed"].reason == "DeadlineExceeded"
    wait_for(lambda: not alive(pid), what="the pod's process to be stopped")
