import math

import pytest

from mlkube.scheduling.fairshare import dominant_share, order_by_share
from mlkube.scheduling.quota import FlavorQuota, Ledger, QueueQuota, Workload
from mlkube.testing.quota_specs import option, vector, workload


def held(key: str, queue: str, gpu: float, cpu: float = 0) -> Workload:
    return workload(key, queue, option("f", gpu=gpu, cpu=cpu), admitted="f")


def quotas(weights: dict[str, float]) -> dict[str, QueueQuota]:
    nominal = vector(gpu=4, cpu=16)
    return {
        n: QueueQuota(n, {"f": FlavorQuota(nominal)}, cohort="c", weight=w)
        for n, w in weights.items()
    }


@pytest.mark.parametrize(
    ("weights", "admitted", "expected"),
    [
        # Pool: 3 queues x (4 GPUs, 16 CPUs) = 12 GPUs, 48 CPUs.
        ({"a": 1, "b": 1, "c": 1}, [("a", 4, 0)], {"a": 0.0, "b": 0.0}),
        ({"a": 1, "b": 1, "c": 1}, [("a", 7, 0)], {"a": 0.25}),
        # Dominant resource: 24 extra CPUs of 48 (0.5) beats 3 extra GPUs of 12 (0.25).
        ({"a": 1, "b": 1, "c": 1}, [("a", 7, 40)], {"a": 0.5}),
        ({"a": 2, "b": 1, "c": 1}, [("a", 7, 0)], {"a": 0.125}),
        ({"a": 0, "b": 1, "c": 1}, [("a", 5, 0)], {"a": math.inf}),
        ({"a": 0, "b": 1, "c": 1}, [("a", 4, 0)], {"a": 0.0}),
    ],
)
def test_weighted_dominant_share(
    weights: dict[str, float],
    admitted: list[tuple[str, float, float]],
    expected: dict[str, float],
) -> None:
    ledger = Ledger(quotas(weights), [held(f"w{i}", *a) for i, a in enumerate(admitted)])
    assert {q: dominant_share(ledger, q) for q in expected} == expected


def test_lowest_share_first_and_weights_count() -> None:
    ledger = Ledger(
        quotas({"a": 1, "b": 2, "c": 1}),
        [held("x", "a", 6), held("y", "b", 6), held("z", "c", 4)],
    )
    # a borrows 2/12 at weight 1, b 2/12 at weight 2, c nothing.
    assert order_by_share(ledger, ["a", "b", "c"]) == ["c", "b", "a"]


def test_a_queue_outside_any_cohort_has_no_share() -> None:
    solo = {"s": QueueQuota("s", {"f": FlavorQuota(vector(gpu=1))})}
    assert dominant_share(Ledger(solo, [held("x", "s", 1)]), "s") == 0.0
