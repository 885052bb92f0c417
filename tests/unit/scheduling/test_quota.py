import pytest

from mlkube.scheduling.quota import (
    FlavorQuota,
    Ledger,
    PodSet,
    QueueQuota,
    ResourceVector,
    Workload,
    quota_errors,
    workload_errors,
)
from mlkube.testing.quota_specs import GPU, option, vector, workload


def wl(key: str, queue: str, gpu: float, *, flavor: str = "a100") -> Workload:
    return workload(key, queue, option(flavor, gpu=gpu), admitted=flavor)


@pytest.mark.parametrize(
    ("quantities", "expected"),
    [
        ({"cpu": "500m"}, {"cpu": 500}),
        ({"gpu": 0.25}, {GPU: 250}),
        ({"memory": "1Gi"}, {"memory": 2**30}),
        ({"cpu": 2, "storage": "10G"}, {"cpu": 2000, "storage": 10**10}),
        ({"cpu": 0}, {}),
    ],
)
def test_vector_parses_quantities_in_milli_units_and_bytes(
    quantities: dict[str, str], expected: dict[str, int]
) -> None:
    assert dict(vector(**quantities)) == expected


def test_vector_arithmetic_and_fit() -> None:
    a, b = vector(cpu=1, gpu=0.5), vector(cpu="500m", gpu=0.5)
    assert dict(a + b) == {"cpu": 1500, GPU: 1000}
    assert dict(a - b) == {"cpu": 500}
    assert dict(b.scaled(4)) == {"cpu": 2000, GPU: 2000}
    assert b.fits(a) and not a.fits(b)
    assert a.shortfall(b) == {"cpu": 500}
    assert a.dominant_share(vector(cpu=4, gpu=1)) == 0.5
    assert a == vector(gpu=0.5, cpu="1000m") and hash(a) == hash(vector(gpu=0.5, cpu=1))


def test_four_quarter_gpus_fill_one_gpu_of_quota() -> None:
    quotas = {"t": QueueQuota("t", {"a100": FlavorQuota(vector(gpu=1))})}
    ledger = Ledger(quotas, [wl(f"w{i}", "t", 0.25) for i in range(4)])
    assert ledger.used["t"][("a100", GPU)] == 1000
    assert ledger.shortages("t", {("a100", GPU): 250}) == {("a100", GPU): ("nominal quota", 250, 0)}


COHORT = {
    "a": QueueQuota(
        "a", {"f": FlavorQuota(vector(gpu=4), lending_limit=vector(gpu=1))}, cohort="c"
    ),
    "b": QueueQuota(
        "b", {"f": FlavorQuota(vector(gpu=4), borrowing_limit=vector(gpu=2))}, cohort="c"
    ),
    "solo": QueueQuota("solo", {"f": FlavorQuota(vector(gpu=2))}),
}


@pytest.mark.parametrize(
    ("admitted", "queue", "expected"),
    [
        # b may use its 4 plus a's lendable 1: a guarantees itself 3.
        ([], "b", (5000, "cohort c capacity")),
        # a may use its 4 plus all of b's 4 (b lends everything, a has no borrowing limit).
        ([], "a", (8000, "cohort c capacity")),
        # b is capped by nominal 4 + borrowing limit 2 once a lends more... a lends only 1.
        ([("x", "a", 4)], "b", (4000, "cohort c capacity")),
        # a's guarantee is its own even when b has borrowed all the pool.
        ([("x", "b", 5)], "a", (3000, "cohort c capacity")),
        ([("x", "solo", 1)], "solo", (1000, "nominal quota")),
    ],
)
def test_available_respects_lending_and_borrowing_limits(
    admitted: list[tuple[str, str, int]], queue: str, expected: tuple[int, str]
) -> None:
    ledger = Ledger(COHORT, [wl(k, q, g, flavor="f") for k, q, g in admitted])
    assert ledger.available(queue, ("f", GPU)) == expected


def test_borrowing_limit_binds_when_the_pool_is_bigger() -> None:
    quotas = {
        "a": QueueQuota("a", {"f": FlavorQuota(vector(gpu=8))}, cohort="c"),
        "b": QueueQuota(
            "b", {"f": FlavorQuota(vector(gpu=1), borrowing_limit=vector(gpu=2))}, cohort="c"
        ),
    }
    ledger = Ledger(quotas, [])
    assert ledger.available("b", ("f", GPU)) == (3000, "borrowing limit")


def test_ledger_tracks_borrowing_and_cohort_totals() -> None:
    ledger = Ledger(COHORT, [wl("x", "b", 5, flavor="f"), wl("y", "a", 1, flavor="f")])
    assert ledger.borrows("b") and not ledger.borrows("a")
    assert ledger.borrowed("b") == {("f", GPU): 1000}
    assert ledger.cohort_usage("c") == {("f", GPU): 6000}
    ledger.add("b", {("f", GPU): 5000}, -1)
    assert not ledger.borrows("b") and ledger.pool_used["c"][("f", GPU)] == 0


def test_quota_below_current_use_names_queue_flavor_resource_and_amounts() -> None:
    quota = QueueQuota("team-a", {"h100": FlavorQuota(vector(gpu=2))})
    assert quota_errors(quota, {("h100", GPU): 3000}) == [
        "queue team-a: new nominal quota 2 of nvidia.com/gpu in flavor h100 is below the 3 "
        "in use; wait for work to finish or lower it in steps"
    ]
    assert quota_errors(quota, {("h100", GPU): 2000}) == []


@pytest.mark.parametrize(
    ("quota", "fragment"),
    [
        (QueueQuota("q", {"f": FlavorQuota(vector(gpu=1))}, weight=-1), "weight -1 must not be"),
        (QueueQuota("q", {"f": FlavorQuota(ResourceVector({"cpu": -1}))}), "nominal cpu must not"),
        (
            QueueQuota("q", {"f": FlavorQuota(vector(gpu=1), borrowing_limit=vector(gpu=1))}),
            "without a cohort",
        ),
        (
            QueueQuota(
                "q", {"f": FlavorQuota(vector(gpu=1), lending_limit=vector(gpu=2))}, cohort="c"
            ),
            "lendingLimit nvidia.com/gpu 2 must be between 0 and the nominal quota 1",
        ),
    ],
)
def test_bad_quotas_are_refused_with_the_reason(quota: QueueQuota, fragment: str) -> None:
    assert any(fragment in e for e in quota_errors(quota)), quota_errors(quota)


def test_bad_workloads_are_refused_with_the_reason() -> None:
    bad = Workload("w", "nope", 0, 0.0, (PodSet("main", 0, ()),))
    assert workload_errors(bad, COHORT) == [
        "workload w: queue nope does not exist",
        "workload w: pod set main count 0 must be at least 1",
        "workload w: pod set main has no flavor options",
    ]


def test_usage_of_an_unadmitted_workload_needs_flavors() -> None:
    w = workload("w", "a", option("f", gpu=1), count=2)
    assert w.usage(("f",)) == {("f", GPU): 2000}
    with pytest.raises(ValueError, match="not admitted"):
        w.usage()
