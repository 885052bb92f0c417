"""A step attempt → a Job: the executor's contract as env, retries left to us, limits, labels."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from mlkube.runtime.kubernetes import ClusterSettings, TranslationError, dns_label, step_job
from tests.unit.kube_objects.specs import (
    SETTINGS,
    STORE,
    UID,
    attempt,
    container,
    env,
    pod,
    python_step,
)


def test_the_job_never_retries_and_is_owned_by_the_run() -> None:
    job = step_job(attempt(), SETTINGS)
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert pod(job)["restartPolicy"] == "Never"
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "mlkube.io/v1alpha1",
            "kind": "PipelineRun",
            "name": "train-1",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_labels_name_the_run_step_and_attempt_on_the_job_and_its_pods() -> None:
    job = step_job(attempt(attempt_number=3), SETTINGS)
    expected = {
        "app.kubernetes.io/name": "mlkube",
        "app.kubernetes.io/instance": "train-1",
        "app.kubernetes.io/component": "pipeline-step",
        "app.kubernetes.io/part-of": "mlkube",
        "app.kubernetes.io/managed-by": "mlkube-operator",
        "mlkube.io/pipelinerun": "train-1",
        "mlkube.io/step": "fit",
        "mlkube.io/attempt": "3",
    }
    assert job["metadata"]["labels"] == expected
    assert job["spec"]["template"]["metadata"]["labels"] == expected
    assert job["metadata"]["name"] == "train-1-fit-3"
    assert job["metadata"]["namespace"] == "team-a"


def test_a_long_run_name_is_shortened_in_names_and_labels_alike_every_time() -> None:
    long_run = "nightly-retraining-of-the-recommendation-model-for-the-europe-region.v2"
    job = step_job(attempt(name=long_run), SETTINGS)
    again = step_job(attempt(name=long_run), SETTINGS)
    assert job["metadata"]["name"] == again["metadata"]["name"] == dns_label(long_run, "fit", "1")
    assert len(job["metadata"]["name"]) <= 63
    label = job["metadata"]["labels"]["mlkube.io/pipelinerun"]
    assert len(label) <= 63 and label != long_run
    assert job["metadata"]["ownerReferences"][0]["name"] == long_run
    assert env(job)["MLKUBE_RUN"] == long_run


@pytest.mark.parametrize(
    ("timeout", "deadline"), [(None, None), (30, 30), (2.5, 3), (0.1, 1), (3600.0, 3600)]
)
def test_the_step_timeout_is_the_jobs_deadline_rounded_up(
    timeout: float | None, deadline: int | None
) -> None:
    fields = {} if timeout is None else {"timeoutSeconds": timeout}
    job = step_job(attempt(python_step(**fields)), SETTINGS)
    assert job["spec"].get("activeDeadlineSeconds") == deadline


@pytest.mark.parametrize(("priority", "expected"), [(None, None), ("high", "high")])
def test_the_runs_priority_class_is_the_pods(priority: str | None, expected: str | None) -> None:
    run_spec = {} if priority is None else {"priorityClassName": priority}
    job = step_job(attempt(**run_spec), SETTINGS)
    assert pod(job).get("priorityClassName") == expected


def test_a_python_step_runs_the_executor_with_its_invocation_in_the_environment() -> None:
    inputs = {
        "data": {"artifact": {"uri": f"{STORE}/sha256/ab/cd", "digest": "sha256:abcd", "size": 9}},
        "c": {"value": 0.5},
    }
    step = python_step(env=[{"name": "SEED", "value": "7"}, {"name": "MLKUBE_RUN", "value": "x"}])
    job = step_job(attempt(step, attempt_number=2, inputs=inputs), SETTINGS)
    main = container(job)
    assert main["image"] == "registry.example/mlkube:1"
    assert main["command"] == ["python", "-m", "mlkube.executor"]
    variables = env(job)
    assert json.loads(variables.pop("MLKUBE_INVOCATION")) == {
        "inputs": inputs,
        "outputs": ["output"],
        "python": {"module": "train.py", "function": "fit"},
    }
    assert variables == {
        "HOME": "/tmp",
        "SEED": "7",
        # The platform's own variables win over a step's, as on one machine.
        "MLKUBE_RUN": "train-1",
        "MLKUBE_NAMESPACE": "team-a",
        "MLKUBE_STEP": "fit",
        "MLKUBE_ATTEMPT": "2",
        "MLKUBE_ARTIFACT_STORE": STORE,
        "MLKUBE_RESULT_URI": f"{STORE}/attempts/team-a/train-1/{UID[:8]}/fit/2/result.json",
    }


def test_a_command_step_passes_its_command_and_args_to_the_executor() -> None:
    step = {"name": "prep", "command": ["sh", "-c"], "args": ["echo 1 > {{outputs.output}}"]}
    invocation = json.loads(env(step_job(attempt(step), SETTINGS))["MLKUBE_INVOCATION"])
    assert invocation["command"] == ["sh", "-c"]
    assert invocation["args"] == ["echo 1 > {{outputs.output}}"]
    assert "python" not in invocation


@pytest.mark.parametrize(
    ("resources", "memory_limit", "expected"),
    [
        (
            {"cpu": "2", "memory": "4Gi"},
            None,
            {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        ),
        (
            {"cpu": "500m", "memory": "1Gi"},
            6 * 2**30,
            {
                "requests": {"cpu": "500m", "memory": "6Gi"},
                "limits": {"cpu": "500m", "memory": "6Gi"},
            },
        ),
        ({}, None, {"requests": {"cpu": "100m", "memory": "128Mi"}}),
        (
            {"memory": "2Gi", "nvidia.com/gpu": 1},
            None,
            {
                "requests": {"cpu": "100m", "memory": "2Gi"},
                "limits": {"memory": "2Gi", "nvidia.com/gpu": "1"},
            },
        ),
    ],
)
def test_requests_and_limits(
    resources: dict[str, Any], memory_limit: int | None, expected: dict[str, Any]
) -> None:
    request = replace(attempt(python_step(resources=resources)), memory_limit_bytes=memory_limit)
    assert container(step_job(request, SETTINGS))["resources"] == expected


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    job = step_job(attempt(), SETTINGS)
    spec, main = pod(job), container(job)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert main["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert main["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert spec["volumes"] == [{"name": "tmp", "emptyDir": {}}]


def test_object_store_credentials_come_from_a_secret() -> None:
    settings = ClusterSettings(artifact_store=STORE, artifact_credentials_secret="s3-creds")
    main = container(step_job(attempt(), settings))
    assert main["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]


@pytest.mark.parametrize(
    ("settings", "request_", "field"),
    [
        (ClusterSettings(), attempt(), "artifactStore"),
        (SETTINGS, attempt(attempt_number=0), "attempt"),
    ],
)
def test_what_cannot_be_built_is_refused_by_field(
    settings: ClusterSettings, request_: Any, field: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        step_job(request_, settings)
    assert caught.value.field == field


def test_a_run_without_a_uid_cannot_own_its_jobs() -> None:
    request = attempt()
    request.run.metadata.uid = None
    with pytest.raises(TranslationError, match=r"^metadata\.uid: .*uid"):
        step_job(request, SETTINGS)


@pytest.mark.parametrize(
    ("store", "ok"), [("s3://b", True), ("s3://b/p/", True), ("s3://", False), ("/data", False)]
)
def test_the_artifact_store_must_be_an_object_store(store: str, ok: bool) -> None:
    if ok:
        assert ClusterSettings(artifact_store=store).store_root() == store.rstrip("/")
    else:
        with pytest.raises(TranslationError, match="artifactStore: must be s3://"):
            ClusterSettings(artifact_store=store)
