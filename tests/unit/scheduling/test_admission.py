import pytest

from mlkube.scheduling.admission import Snapshot, admit
from mlkube.scheduling.quota import FlavorOption, FlavorQuota, Ledger, PodSet, QueueQuota, Workload
from mlkube.testing.quota_specs import GPU, option, vector, workload


def q(name: str, cohort: str | None = None, **flavors: FlavorQuota) -> QueueQuota:
    return QueueQuota(name, flavors, cohort=cohort)


def wl(
    key: str,
    queue: str = "a",
    gpu: float = 1,
    *,
    count: int = 1,
    prio: int = 0,
    at: float = 0.0,
    options: tuple[tuple[str, float], ...] = (("f", 0),),
    admitted: str | None = None,
) -> Workload:
    """`options`: (flavor, GPUs per pod) pairs, 0 meaning `gpu`."""
    opts = (option(f, gpu=g or gpu) for f, g in options)
    return workload(key, queue, *opts, count=count, priority=prio, created=at, admitted=admitted)


SOLO = {"a": q("a", f=FlavorQuota(vector(gpu=4)))}
PAIR = {
    "a": q("a", "c", f=FlavorQuota(vector(gpu=4), borrowing_limit=vector(gpu=2))),
    "b": q("b", "c", f=FlavorQuota(vector(gpu=4), lending_limit=vector(gpu=1))),
}
OPEN = {
    "a": q("a", "c", f=FlavorQuota(vector(gpu=4), borrowing_limit=vector(gpu=2))),
    "b": q("b", "c", f=FlavorQuota(vector(gpu=4))),
}
FALLBACK = {"a": q("a", h100=FlavorQuota(vector(gpu=1)), a100=FlavorQuota(vector(gpu=4)))}
H100_ELSE_2_A100 = (("h100", 1), ("a100", 2))


@pytest.mark.parametrize(
    ("quotas", "admitted", "pending", "expected"),
    [
        pytest.param(SOLO, [], [wl("w", gpu=4)], {"w": ("f",)}, id="nominal fit"),
        pytest.param(SOLO, [], [wl("w", gpu=5)], {}, id="over nominal, no cohort"),
        pytest.param(
            SOLO,
            [],
            [wl(f"w{i}", gpu=0.25, at=i) for i in range(17)],
            {f"w{i}": ("f",) for i in range(16)},
            id="sixteen quarter GPUs fill four, the seventeenth waits",
        ),
        pytest.param(PAIR, [], [wl("w", gpu=5)], {"w": ("f",)}, id="borrows from the cohort"),
        pytest.param(OPEN, [], [wl("w", gpu=6)], {"w": ("f",)}, id="up to the borrowing limit"),
        pytest.param(OPEN, [], [wl("w", gpu=7)], {}, id="past the borrowing limit"),
        pytest.param(PAIR, [], [wl("w", gpu=6)], {}, id="past what the cohort lends"),
        pytest.param(
            PAIR, [], [wl("w", "b", gpu=5)], {"w": ("f",)}, id="b borrows from a's unused"
        ),
        pytest.param(
            PAIR,
            [wl("x", "a", gpu=4, admitted="f")],
            [wl("w", "a", gpu=1)],
            {"w": ("f",)},
            id="lending limit: b lends 1",
        ),
        pytest.param(
            PAIR,
            [wl("x", "a", gpu=5, admitted="f")],
            [wl("w", "a", gpu=1)],
            {},
            id="lending limit: b lends no more than 1",
        ),
        pytest.param(
            FALLBACK,
            [wl("x", gpu=1, options=(("h100", 0),), admitted="h100")],
            [wl("w", options=H100_ELSE_2_A100)],
            {"w": ("a100",)},
            id="fallback flavor when the first is full",
        ),
        pytest.param(
            FALLBACK,
            [],
            [wl("w", options=H100_ELSE_2_A100)],
            {"w": ("h100",)},
            id="preferred flavor when it has room",
        ),
        pytest.param(SOLO, [], [wl("w", gpu=1, count=5)], {}, id="gang: never 4 of 5 workers"),
        pytest.param(
            SOLO,
            [],
            [wl("old", gpu=3, at=1), wl("young", gpu=3, at=2, prio=5)],
            {"young": ("f",)},
            id="priority before age",
        ),
        pytest.param(
            SOLO,
            [],
            [wl("old", gpu=3, at=1), wl("young", gpu=3, at=2)],
            {"old": ("f",)},
            id="age among equals",
        ),
        pytest.param(
            SOLO,
            [],
            [wl("big", gpu=5, at=1), wl("small", gpu=1, at=2)],
            {"small": ("f",)},
            id="best effort FIFO: a big head does not block",
        ),
    ],
)
def test_admission(
    quotas: dict[str, QueueQuota],
    admitted: list[Workload],
    pending: list[Workload],
    expected: dict[str, tuple[str, ...]],
) -> None:
    decision = admit(Snapshot(quotas, admitted, pending), now=7.0)
    assert {a.key: a.flavors for a in decision.admitted} == expected
    assert set(decision.pending) == {w.key for w in pending} - set(expected)
    assert all(a.at == 7.0 for a in decision.admitted)


def test_strict_fifo_holds_the_queue_behind_its_head() -> None:
    strict = {"a": QueueQuota("a", {"f": FlavorQuota(vector(gpu=4))}, strategy="StrictFIFO")}
    decision = admit(
        Snapshot(strict, [], [wl("big", gpu=5, at=1), wl("small", gpu=1, at=2)]), now=0
    )
    assert decision.admitted == ()
    assert decision.pending["small"].message() == (
        "position 2 in queue a; waiting behind big (StrictFIFO)"
    )


def test_borrowing_is_flagged() -> None:
    decision = admit(Snapshot(PAIR, [], [wl("w", gpu=5)]), now=0)
    assert decision.admitted[0].borrows
    decision = admit(Snapshot(PAIR, [], [wl("w", gpu=4)]), now=0)
    assert not decision.admitted[0].borrows


def test_reason_names_the_borrowing_limit_and_the_amount_short() -> None:
    decision = admit(Snapshot(OPEN, [], [wl("w", gpu=7)]), now=0)
    reason = decision.pending["w"]
    assert reason.position == 1
    (short,) = reason.shortages
    assert (short.flavor, short.resource, short.limit, short.short_by) == (
        "f",
        GPU,
        "borrowing limit",
        1000,
    )
    assert reason.message() == (
        "position 1 in queue a; main: flavor f nvidia.com/gpu needs 7, "
        "6 available under the borrowing limit (short by 1)"
    )


def test_reason_lists_every_flavor_tried_and_positions_count_only_pending() -> None:
    admitted = [wl("x", gpu=1, options=(("h100", 0),), admitted="h100")]
    admitted.append(wl("y", gpu=3, options=(("a100", 0),), admitted="a100"))
    pending = [wl("tiny", gpu=0.5, at=0, options=(("a100", 0),))]
    pending.append(wl("w", at=1, options=H100_ELSE_2_A100))
    decision = admit(Snapshot(FALLBACK, admitted, pending), now=0)
    assert [a.key for a in decision.admitted] == ["tiny"]
    assert decision.pending["w"].message() == (
        "position 1 in queue a; "
        "main: flavor h100 nvidia.com/gpu needs 1, 0 available under the nominal quota "
        "(short by 1); "
        "main: flavor a100 nvidia.com/gpu needs 2, 500m available under the nominal quota "
        "(short by 1500m)"
    )


def test_fair_share_decides_who_borrows_the_last_capacity() -> None:
    three = {
        n: QueueQuota(n, {"f": FlavorQuota(vector(gpu=2))}, cohort="c", weight=w)
        for n, w in (("a", 1.0), ("b", 1.0), ("idle", 1.0))
    }
    # a already borrows 1 of idle's 2; b borrows nothing. b's older-or-not, it goes first.
    admitted = [wl("x", "a", gpu=3, admitted="f"), wl("y", "b", gpu=2, admitted="f")]
    pending = [wl("a2", "a", gpu=1, at=0, prio=9), wl("b2", "b", gpu=1, at=5)]
    decision = admit(Snapshot(three, admitted, pending), now=0)
    assert [a.key for a in decision.admitted] == ["b2"]
    plain = admit(Snapshot(three, admitted, pending, fair_sharing=False), now=0)
    assert [a.key for a in plain.admitted] == ["a2"]


def test_gang_with_two_pod_sets_is_admitted_whole_or_not_at_all() -> None:
    opts = (FlavorOption("f", vector(gpu=1)),)
    gang = Workload("g", "a", 0, 0.0, (PodSet("launcher", 1, opts), PodSet("workers", 4, opts)))
    decision = admit(Snapshot(SOLO, [], [gang]), now=0)
    assert decision.admitted == ()
    assert decision.pending["g"].shortages[0].pod_set == "workers"


def test_a_passed_ledger_gives_the_same_decision_and_then_holds_what_was_admitted() -> None:
    admitted = [wl("x", "a", gpu=3, admitted="f")]
    pending = [wl("w1", "a", gpu=2, at=1), wl("w2", "b", gpu=3, at=2), wl("w3", "a", gpu=9)]
    snapshot = Snapshot(OPEN, admitted, pending)
    ledger = Ledger(OPEN, admitted)
    assert admit(snapshot, now=3.0, ledger=ledger) == admit(snapshot, now=3.0)
    after = Ledger(OPEN, [*admitted, wl("w1", "a", gpu=2, admitted="f")])
    after.add("b", {("f", GPU): 3000})
    assert ledger.used == after.used
    assert ledger.pool_used == after.pool_used


def test_positions_follow_queue_order_across_interleaved_queues() -> None:
    pending = [wl(f"a{i}", "a", gpu=9, at=i) for i in range(3)]
    pending += [wl(f"b{i}", "b", gpu=9, at=i + 0.5, prio=i) for i in range(2)]
    decision = admit(Snapshot(OPEN, [], pending), now=0)
    positions = {k: r.position for k, r in decision.pending.items()}
    assert positions == {"a0": 1, "a1": 2, "a2": 3, "b1": 1, "b0": 2}
    assert list(decision.pending) == ["a0", "a1", "a2", "b1", "b0"]
