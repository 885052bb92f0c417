"""Every object the builders make is valid Kubernetes, for the oldest and newest versions we
support (as `mlkube install --kubernetes` is checked in tests/unit/install)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlkube.runtime.kubernetes import (
    ClusterSettings,
    StepAttemptJob,
    TeamNamespace,
    namespace_objects,
    serving_objects,
    step_job,
    training_objects,
)
from tests.unit.kube_objects.specs import (
    SETTINGS,
    STORE,
    attempt,
    binding,
    isvc,
    namespace,
    python_step,
    queue,
    quota,
    revision,
    run,
    training,
)

OLDEST = "1.29"
NEWEST = kubernetes_validate.latest_version()
LONG = "nightly-retraining-of-the-recommendation-model-for-the-europe-region.v2"
PRODUCTS = ClusterSettings(
    artifact_store=STORE,
    artifact_credentials_secret="s3",
    gpu_products={"A100": ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-PCIE-40GB")},
)


def _objects() -> list[dict[str, Any]]:
    gpu_step = python_step(
        "train",
        resources={"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 2, "gpuModel": "A100"},
        timeoutSeconds=90.5,
        workingDir="/app",
    )
    shared_step = {"name": "prep", "command": ["sh"], "resources": {"nvidia.com/gpu": 0.25}}
    queues = [queue("q", ["team-a"], [{"name": "cpu", "nominalQuota": "8"}], cohort="org")]
    team = TeamNamespace(
        namespace(team="ml"),
        queues=queues,
        quotas=[quota({"requests.storage": "1Ti", "count/pipelineruns.mlkube.io": "10"})],
        bindings=[
            binding("admin", {"kind": "User", "name": "a"}, {"kind": "ServiceAccount", "name": "b"})
        ],
    )
    the_run = run([python_step()], name=LONG, priorityClassName="high")
    assert the_run.spec.pipeline_spec is not None
    return [
        step_job(attempt(gpu_step, inputs={"x": {"value": [1, 2]}}), PRODUCTS),
        step_job(attempt(shared_step, attempt_number=4), SETTINGS),
        step_job(StepAttemptJob(the_run, the_run.spec.pipeline_spec.steps[0], 1, {}), SETTINGS),
        *training_objects(training(LONG, workers=16), SETTINGS, suspend=True),
        *training_objects(
            training(
                resources={"amd.com/gpu": 8, "gpuModel": "MI300X", "memory": "1Ti"},
                runPolicy={"activeDeadlineSeconds": 7200},
                priorityClassName="research",
            ),
            SETTINGS,
            suspend=False,
            start=3,
        ),
        *serving_objects(
            isvc(scaleMetric="rps", scaleTarget=12.5, minReplicas=0, maxReplicas=9),
            revision(),
            SETTINGS,
        ),
        *serving_objects(
            isvc(resources={"nvidia.com/gpu": 1, "gpuModel": "A100"}), revision(), PRODUCTS
        ),
        *namespace_objects(team),
    ]


OBJECTS = _objects()
VPAS = serving_objects(isvc(), revision(), SETTINGS, vpa=True)[-1:]


def _id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("obj", OBJECTS, ids=_id)
def test_validates_against_upstream_schema(obj: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(obj, version, strict=True)


def test_every_kind_we_build_is_covered() -> None:
    kinds = {o["kind"] for o in OBJECTS}
    assert kinds == {
        "Job",
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Namespace",
        "ResourceQuota",
        "RoleBinding",
    }


def test_the_vpa_has_the_structure_of_its_crd() -> None:
    # The VerticalPodAutoscaler is a CRD (autoscaling.k8s.io/v1), not in the upstream schemas
    # kubernetes-validate ships, so its structure is checked here against the CRD's fields.
    (vpa,) = VPAS
    assert set(vpa) == {"apiVersion", "kind", "metadata", "spec"}
    assert (vpa["apiVersion"], vpa["kind"]) == ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler")
    spec = vpa["spec"]
    assert set(spec) == {"targetRef", "updatePolicy", "resourcePolicy"}
    assert set(spec["targetRef"]) == {"apiVersion", "kind", "name"}
    assert spec["updatePolicy"]["updateMode"] in {"Off", "Initial", "Recreate", "Auto"}
    (policy,) = spec["resourcePolicy"]["containerPolicies"]
    assert set(policy) <= {
        "containerName",
        "mode",
        "minAllowed",
        "maxAllowed",
        "controlledResources",
        "controlledValues",
    }
    assert set(policy["controlledResources"]) <= {"cpu", "memory"}


@pytest.mark.parametrize("obj", [*OBJECTS, *VPAS], ids=_id)
def test_no_part_is_shared_so_yaml_needs_no_anchors(obj: dict[str, Any]) -> None:
    assert "&id" not in yaml.safe_dump(obj)


@pytest.mark.parametrize("obj", [o for o in OBJECTS if "template" in o.get("spec", {})], ids=_id)
def test_pods_meet_the_restricted_pod_security_standard(obj: dict[str, Any]) -> None:
    pod = obj["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert "hostPath" not in str(pod.get("volumes"))
