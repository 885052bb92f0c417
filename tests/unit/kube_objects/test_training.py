"""A TrainingJob → a headless Service and an Indexed Job: ranks, rendezvous, gang, suspend."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.runtime.kubernetes import TranslationError, training_objects
from tests.unit.kube_objects.specs import SETTINGS, UID, container, env, pod, training

INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def build(job: Any = None, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    options.setdefault("suspend", True)
    service, indexed = training_objects(job or training(), SETTINGS, **options)
    return service, indexed


def test_one_indexed_pod_per_worker_and_no_retries_of_its_own() -> None:
    _, job = build(training(workers=8))
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 8, 8)
    assert spec["backoffLimit"] == 0
    assert pod(job)["restartPolicy"] == "Never"


@pytest.mark.parametrize("suspend", [True, False])
def test_suspend_is_the_callers_choice(suspend: bool) -> None:
    _, job = build(suspend=suspend)
    assert job["spec"]["suspend"] is suspend


def test_torchrun_environment_with_rank_from_the_completion_index() -> None:
    service, job = build(training(workers=4, env=[{"name": "NCCL_DEBUG", "value": "WARN"}]))
    variables = env(job)
    index = {"fieldRef": {"fieldPath": INDEX}}
    assert variables["RANK"] == variables["NODE_RANK"] == index
    assert variables["WORLD_SIZE"] == "4"
    assert (variables["LOCAL_RANK"], variables["LOCAL_WORLD_SIZE"]) == ("0", "1")
    assert variables["MASTER_ADDR"] == f"{job['metadata']['name']}-0.{service['metadata']['name']}"
    assert variables["MASTER_ADDR"] == "ddp-s0-0.ddp"
    assert variables["MASTER_PORT"] == "29500"
    assert variables["NCCL_DEBUG"] == "WARN"
    assert (variables["MLKUBE_JOB_NAME"], variables["MLKUBE_NAMESPACE"]) == ("ddp", "team-a")


def test_the_headless_service_resolves_every_worker_ready_or_not() -> None:
    service, job = build()
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert pod(job)["subdomain"] == service["metadata"]["name"]
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/component": "training-worker",
        "mlkube.io/trainingjob": "ddp",
    }
    assert container(job)["ports"] == [
        {"name": "rendezvous", "containerPort": 29500, "protocol": "TCP"}
    ]


def test_each_gang_start_is_a_new_job_behind_the_same_service() -> None:
    service0, job0 = build(start=0)
    service2, job2 = build(start=2)
    assert service0 == service2
    assert (job0["metadata"]["name"], job2["metadata"]["name"]) == ("ddp-s0", "ddp-s2")
    assert env(job2)["MASTER_ADDR"] == "ddp-s2-0.ddp"


@pytest.mark.parametrize(
    ("program", "command"),
    [
        (
            {"python": {"module": "train.py", "function": "main"}, "args": ["--epochs", "3"]},
            ["python", "-m", "mlkube.runtime.local.entry", "train.py", "main", "--epochs", "3"],
        ),
        ({"command": ["torchrun", "train.py"], "args": ["-v"]}, ["torchrun", "train.py", "-v"]),
    ],
)
def test_the_program_runs_as_the_local_runtime_starts_it(
    program: dict[str, Any], command: list[str]
) -> None:
    args = program.pop("args")
    _, job = build(training(program=program, args=args))
    assert container(job)["command"] == command


@pytest.mark.parametrize(("deadline", "expected"), [(None, None), (3600, 3600), (59.5, 60)])
def test_the_run_policy_deadline_is_the_jobs(deadline: float | None, expected: int | None) -> None:
    policy = {} if deadline is None else {"activeDeadlineSeconds": deadline}
    _, job = build(training(runPolicy={"backoffLimit": 3, **policy}))
    assert job["spec"].get("activeDeadlineSeconds") == expected
    assert job["spec"]["backoffLimit"] == 0  # gang restarts are the controller's


def test_gpus_priority_and_owner() -> None:
    job_spec = {
        "resources": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 1, "gpuModel": "H100"},
        "priorityClassName": "research",
    }
    service, job = build(training(**job_spec))
    assert container(job)["resources"]["limits"] == {
        "cpu": "8",
        "memory": "32Gi",
        "nvidia.com/gpu": "1",
    }
    assert pod(job)["nodeSelector"] == {"nvidia.com/gpu.product": "H100"}
    assert pod(job)["priorityClassName"] == "research"
    for obj in (service, job):
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("TrainingJob", "ddp", UID)


def test_pod_hostnames_of_a_long_job_fit_a_dns_label() -> None:
    name = "distributed-pretraining-of-a-large-language-model-with-many-workers"
    service, job = build(training(name, workers=1024))
    hostname = f"{job['metadata']['name']}-1023"
    assert len(hostname) <= 63
    assert len(service["metadata"]["name"]) <= 63
    assert env(job)["MASTER_ADDR"] == f"{job['metadata']['name']}-0.{service['metadata']['name']}"


def test_a_negative_start_is_refused() -> None:
    with pytest.raises(TranslationError, match=r"^start: "):
        build(start=-1)
