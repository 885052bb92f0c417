"""Create-time refusal of TrainingJobs: a missing priority class, a gang that can never fit."""

from __future__ import annotations

from typing import Any

import pytest

from mlkube.api.kinds import TRAINING_JOB
from mlkube.api.trainingjob import TrainingJob
from mlkube.controllers.admission import capacity_check, queue_checks
from mlkube.scheduling.node_fit import NodeCapacity
from mlkube.testing.memory_store import MemoryStore

NODE = NodeCapacity("node", (0, 1, 2, 3), 8 * 2**30, ())
TIMES = "\N{MULTIPLICATION SIGN}"


def job(workers: int = 2, **spec: Any) -> TrainingJob:
    return TrainingJob.model_validate(
        {
            "metadata": {"name": "tj", "namespace": "default"},
            "spec": {"workers": workers, "command": ["true"], **spec},
        }
    )


@pytest.mark.parametrize(
    ("workers", "resources", "field", "message"),
    [
        (5, {"cpu": "1"}, "spec.workers", f"5 workers {TIMES} 1 cpu = 5 CPUs; the node has 4"),
        (
            3,
            {"memory": "3Gi"},
            "spec.workers",
            f"3 workers {TIMES} 3Gi memory = 9Gi; the node has 8Gi",
        ),
        (1, {"cpu": "8"}, "spec.resources", None),
        (1, {"nvidia.com/gpu": 1}, "spec.resources", None),
    ],
)
def test_a_gang_that_can_never_fit_the_node_is_refused(
    workers: int, resources: dict[str, Any], field: str, message: str | None
) -> None:
    (cause,) = capacity_check(NODE)(TRAINING_JOB, job(workers, resources=resources), "CREATE")
    assert (cause.field, cause.reason) == (field, "Unschedulable")
    if message is None:
        assert cause.message.startswith("each worker ")
    else:
        assert cause.message == message


@pytest.mark.parametrize(
    ("workers", "resources"), [(4, {"cpu": "1"}), (2, {"memory": "4Gi"}), (8, {})]
)
def test_a_gang_that_fits_the_empty_node_is_admitted(
    workers: int, resources: dict[str, Any]
) -> None:
    assert capacity_check(NODE)(TRAINING_JOB, job(workers, resources=resources), "CREATE") == []


def test_a_missing_priority_class_is_refused_naming_the_field() -> None:
    store = MemoryStore()
    check = queue_checks(store, dict)
    (cause,) = check(TRAINING_JOB, job(priorityClassName="vip"), "CREATE")
    assert (cause.field, cause.message) == (
        "spec.priorityClassName",
        'no PriorityClass named "vip"',
    )
    store.create(
        "priorityclasses.scheduling.k8s.io",
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "vip"},
            "value": 10,
        },
    )
    assert check(TRAINING_JOB, job(priorityClassName="vip"), "CREATE") == []
    assert check(TRAINING_JOB, job(), "CREATE") == []
