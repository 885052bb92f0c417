"""Validation in the fake apiserver: upstream schemas, upstream's code-only checks, our CRDs."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.errors import Invalid
from mlkube.testing.kube.defaults import defaulted
from mlkube.testing.kube.jobs import _ranges
from mlkube.testing.kube.resources import DEPLOYMENT, JOB, POD, by_kind
from mlkube.testing.kube.validation import DEFAULT_KUBERNETES_VERSION, field_path, validate


def job(**spec: Any) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": template, **spec},
    }


def causes(served: Any, obj: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as caught:
        validate(served, obj, version=DEFAULT_KUBERNETES_VERSION)
    return [(c.field, c.reason) for c in caught.value.causes]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (job(parallelism=-1), [("spec.parallelism", "FieldValueInvalid")]),
        (
            job(completionMode="Indexed", parallelism=2),
            [("spec.completions", "FieldValueRequired")],  # required when parallelism is set
        ),
        (job(parallelism="2"), [("spec.parallelism", "FieldValueInvalid")]),
        (job(surprise=True), [("spec.surprise", "FieldValueInvalid")]),
    ],
)
def test_bad_jobs(obj: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert causes(JOB, defaulted("Job", obj)) == expected


def test_a_job_pod_may_not_restart_always() -> None:
    obj = job()
    del obj["spec"]["template"]["spec"]["restartPolicy"]  # defaulted to Always
    assert causes(JOB, defaulted("Job", obj)) == [
        ("spec.template.spec.restartPolicy", "FieldValueNotSupported")
    ]


def test_a_deployment_selector_must_match_its_template() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {
                "metadata": {"labels": {"app": "b"}},
                "spec": {"containers": [{"name": "c"}]},
            },
        },
    }
    assert causes(DEPLOYMENT, obj) == [("spec.template.metadata.labels", "FieldValueInvalid")]


def test_a_missing_required_field_is_named() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"image": "i"}]},
    }
    assert causes(POD, obj) == [("spec.containers[0].name", "FieldValueRequired")]


def test_a_bad_name_is_refused() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "Not_A_Name"},
        "spec": {"containers": [{"name": "c"}]},
    }
    assert causes(POD, obj) == [("metadata.name", "FieldValueInvalid")]


def test_custom_resources_are_validated_by_our_models() -> None:
    pipeline = by_kind("mlkube.io/v1alpha1", "Pipeline")
    assert pipeline is not None and pipeline.crd is not None
    obj = {
        "apiVersion": "mlkube.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "p", "namespace": "d"},
    }
    obj["spec"] = {"steps": [{"name": "s", "command": ["true"], "surprise": 1}]}
    assert [f for f, _ in causes(pipeline, obj)] == ["spec.steps[0].surprise"]


def test_defaults_make_a_minimal_job_valid() -> None:
    stored = validate(JOB, defaulted("Job", job()), version=DEFAULT_KUBERNETES_VERSION)
    assert stored["spec"]["completions"] == stored["spec"]["parallelism"] == 1
    assert stored["spec"]["backoffLimit"] == 6
    assert stored["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/job-name": "j"}}


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (["spec", "containers", 0, "image"], "spec.containers[0].image"),
        (["metadata"], "metadata"),
        ([], ""),
    ],
)
def test_field_path(parts: list[Any], text: str) -> None:
    assert field_path(parts) == text


@pytest.mark.parametrize(
    ("indexes", "text"),
    [([], ""), ([0], "0"), ([0, 1, 2], "0-2"), ([0, 1, 2, 5, 7, 8], "0-2,5,7-8")],
)
def test_completed_indexes(indexes: list[int], text: str) -> None:
    assert _ranges(indexes) == text
