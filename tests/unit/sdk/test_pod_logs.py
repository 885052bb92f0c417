"""Choosing the pod whose log `mlkube logs` reads from a cluster: plain data in and out."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.errors import BadRequest, NotFound
from mlkube.sdk.pod_logs import (
    choose_pod,
    label_selector,
    log_params,
    pod_log_path,
    step_target,
    worker_target,
)


def pod(
    name: str, owner: str = "hello", kind: str = "PipelineRun", **labels: str
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {f"mlkube.io/{k}": v for k, v in labels.items()},
            "ownerReferences": [{"kind": kind, "name": owner, "uid": "u"}],
        },
        "spec": {"containers": [{"name": "workload"}]},
    }


STEP_PODS = [
    pod("hi-1", step="hi", attempt="1"),
    pod("hi-2", step="hi", attempt="2"),
    pod("hi-10", step="hi", attempt="10"),
    pod("other-run", owner="hello-2", step="hi", attempt="11"),
]


@pytest.mark.parametrize(
    ("step", "attempt", "chosen"),
    [
        ("hi", None, "hi-10"),  # the latest attempt, compared as numbers
        ("hi", 2, "hi-2"),
        (None, None, "hi-10"),  # a run of one step needs no step named
    ],
)
def test_the_pod_of_an_attempt(step: str | None, attempt: int | None, chosen: str) -> None:
    target = step_target("hello", step, attempt)
    assert choose_pod(target, STEP_PODS, "team-a")["metadata"]["name"] == chosen


def test_a_missing_attempt_is_not_found_naming_run_step_attempt_and_why() -> None:
    with pytest.raises(NotFound) as err:
        choose_pod(step_target("hello", "hi", 3), STEP_PODS, "team-a")
    assert str(err.value) == (
        "no pod of step 'hi' of PipelineRun 'hello' (attempt 3) in namespace 'team-a': it has "
        "not started yet, or its pod is gone (deleted by hand, or it ran before mlkube kept "
        "pods until their run or job is deleted)"
    )


def test_pods_of_another_owner_with_the_same_labels_are_not_chosen() -> None:
    with pytest.raises(NotFound, match=r"\(latest attempt\)"):
        choose_pod(step_target("hello", "hi", None), STEP_PODS[3:], "team-a")


def test_a_run_of_several_steps_needs_a_step_named() -> None:
    pods = [pod("a-1", step="a", attempt="1"), pod("b-1", step="b", attempt="1")]
    with pytest.raises(BadRequest, match="PipelineRun 'hello' has steps a, b: name one"):
        choose_pod(step_target("hello", None, None), pods, "team-a")


def test_the_latest_start_of_a_worker() -> None:
    kind = "TrainingJob"
    pods = [pod(f"w1-{s}", "mnist", kind, worker="1", start=str(s)) for s in (1, 2)]
    target = worker_target("mnist", 1, None)
    assert choose_pod(target, pods, "ns")["metadata"]["name"] == "w1-2"
    with pytest.raises(NotFound, match=r"^no pod of worker '1' of TrainingJob 'mnist' \(start 3\)"):
        choose_pod(worker_target("mnist", 1, 3), pods, "ns")


@pytest.mark.parametrize(
    ("target", "selector"),
    [
        (step_target("hello", "hi", 2), "mlkube.io/pipelinerun=hello,mlkube.io/step=hi"),
        (step_target("hello", None, None), "mlkube.io/pipelinerun=hello"),
        (worker_target("mnist", 0, 4), "mlkube.io/trainingjob=mnist,mlkube.io/worker=0"),
    ],
)
def test_the_selector_picks_every_attempt_of_the_target(target: Any, selector: str) -> None:
    assert label_selector(target) == selector


def test_the_log_request() -> None:
    one = pod("p", step="hi", attempt="1")
    assert pod_log_path("team a", one) == "/api/v1/namespaces/team%20a/pods/p/log"
    assert log_params(one, follow=False, tail_lines=None) == {}
    assert log_params(one, follow=True, tail_lines=5) == {"follow": "true", "tailLines": "5"}
    one["spec"]["containers"].insert(0, {"name": "istio-proxy"})
    assert log_params(one, follow=False, tail_lines=None) == {"container": "workload"}
