import dataclasses

import pytest

from mlkube.scheduling.admission import Snapshot
from mlkube.scheduling.preemption import preemption_targets
from mlkube.scheduling.quota import FlavorQuota, Ledger, Preemption, QueueQuota, Workload
from mlkube.testing.quota_specs import option, vector, workload

DEFAULT = Preemption()


def wl(key: str, queue: str, gpu: float, *, prio: int = 0, at: float = 0.0) -> Workload:
    return workload(key, queue, option("f", gpu=gpu), priority=prio, created=at, admitted="f")


def pending(w: Workload) -> Workload:
    return dataclasses.replace(w, flavors=None)


def cohort(
    policy: Preemption = DEFAULT, names: tuple[str, ...] = ("a", "b")
) -> dict[str, QueueQuota]:
    return {
        n: QueueQuota(n, {"f": FlavorQuota(vector(gpu=4))}, cohort="c", preemption=policy)
        for n in names
    }


SOLO = {"a": QueueQuota("a", {"f": FlavorQuota(vector(gpu=4))})}


@pytest.mark.parametrize(
    ("quotas", "admitted", "incoming", "expected"),
    [
        pytest.param(SOLO, [], wl("p", "a", 4), [], id="fits already"),
        pytest.param(
            SOLO,
            [wl("low", "a", 2, prio=0, at=1), wl("lower", "a", 2, prio=-1, at=2)],
            wl("p", "a", 2, prio=5),
            ["lower"],
            id="within queue: lowest priority first, one is enough",
        ),
        pytest.param(
            SOLO,
            [wl("old", "a", 1, at=1), wl("young", "a", 1, at=2), wl("big", "a", 2, at=0)],
            wl("p", "a", 1, prio=5),
            ["young"],
            id="within queue: youngest first",
        ),
        pytest.param(
            SOLO,
            [wl("same", "a", 4, prio=5)],
            wl("p", "a", 1, prio=5),
            None,
            id="never equal priority within the queue",
        ),
        pytest.param(SOLO, [], wl("p", "a", 5, prio=5), None, id="cannot help: over quota"),
        pytest.param(
            cohort(),
            [
                wl("b1", "b", 4, at=1),
                wl("b2", "b", 2, at=2),
                wl("b3", "b", 1, at=3),
                wl("a1", "a", 1, at=0),
            ],
            wl("p", "a", 1, prio=-5),
            ["b3"],
            id="reclaim: borrowers preempted, any priority, minimal set",
        ),
        pytest.param(
            cohort(),
            [wl("b1", "b", 4, at=1), wl("b2", "b", 1, at=2), wl("b3", "b", 2, at=3)],
            wl("p", "a", 4),
            ["b3", "b2"],
            id="reclaim: as many borrowers as it takes",
        ),
        pytest.param(
            cohort(Preemption(reclaim_within_cohort="LowerPriority")),
            [wl("b1", "b", 4), wl("b2", "b", 4, prio=3, at=1)],
            wl("p", "a", 4, prio=1),
            ["b1"],
            id="reclaim LowerPriority takes the lower priority borrower",
        ),
        pytest.param(
            cohort(Preemption(reclaim_within_cohort="LowerPriority")),
            [wl("b1", "b", 4, prio=3), wl("b2", "b", 4, prio=3, at=1)],
            wl("p", "a", 4, prio=1),
            None,
            id="reclaim LowerPriority spares higher priority borrowers",
        ),
        pytest.param(
            cohort(Preemption(reclaim_within_cohort="Never")),
            [wl("b1", "b", 4), wl("b2", "b", 4, at=1)],
            wl("p", "a", 1),
            None,
            id="reclaim Never",
        ),
        pytest.param(
            cohort(names=("a", "b", "idle")),
            [wl("a1", "a", 4, prio=9), wl("b1", "b", 4, prio=-9), wl("b2", "b", 4, prio=-9, at=1)],
            wl("p", "a", 1, prio=5),
            None,
            id="no preemption to let a workload borrow",
        ),
        pytest.param(
            cohort(Preemption(borrow_within_cohort="LowerPriority"), names=("a", "b", "idle")),
            [wl("a1", "a", 4, prio=9), wl("b1", "b", 4, prio=-9), wl("b2", "b", 4, prio=-9, at=1)],
            wl("p", "a", 1, prio=5),
            ["b2"],
            id="borrowWithinCohort LowerPriority lets it borrow by preempting",
        ),
    ],
)
def test_preemption_targets(
    quotas: dict[str, QueueQuota],
    admitted: list[Workload],
    incoming: Workload,
    expected: list[str] | None,
) -> None:
    snapshot = Snapshot(quotas, admitted, [pending(incoming)])
    assert preemption_targets(snapshot, pending(incoming)) == expected


def test_a_shared_ledger_is_left_as_it_was() -> None:
    admitted = [wl("b1", "b", 4), wl("b2", "b", 2, at=2)]
    snapshot = Snapshot(cohort(), admitted, [])
    ledger = Ledger(snapshot.quotas, admitted)
    before = {q: dict(u) for q, u in ledger.used.items()}, dict(ledger.pool_used["c"])
    assert preemption_targets(snapshot, pending(wl("p", "a", 3)), ledger=ledger) == ["b2"]
    assert preemption_targets(snapshot, pending(wl("p", "a", 9)), ledger=ledger) is None
    assert ({q: dict(u) for q, u in ledger.used.items()}, dict(ledger.pool_used["c"])) == before


def test_only_the_preemptors_queue_and_cohort_are_searched() -> None:
    quotas = {
        **cohort(),
        "x": QueueQuota("x", {"f": FlavorQuota(vector(gpu=4))}, cohort="other"),
        "y": QueueQuota("y", {"f": FlavorQuota(vector(gpu=4))}, cohort="other"),
        "solo": QueueQuota("solo", {"f": FlavorQuota(vector(gpu=4))}),
    }
    # x borrows from y, solo is full, b borrows from a: only b's borrowing can be reclaimed.
    admitted = [wl("x1", "x", 8, at=1), wl("s1", "solo", 4, prio=-9), wl("b1", "b", 8, at=0)]
    snapshot = Snapshot(quotas, admitted, [])
    assert preemption_targets(snapshot, pending(wl("p", "a", 2))) == ["b1"]
    assert preemption_targets(snapshot, pending(wl("p", "solo", 1, prio=5))) == ["s1"]
    assert preemption_targets(snapshot, pending(wl("p", "y", 5))) is None
