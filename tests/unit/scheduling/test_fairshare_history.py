"""Usage decay for fair sharing: pure functions driven by a virtual clock (plain numbers)."""

from __future__ import annotations

import math

import pytest

from mlkube.scheduling.admission import Snapshot, admit
from mlkube.scheduling.fairshare import (
    UsageHistory,
    advance,
    cohort_capacity,
    decay_factor,
    historical_share,
    historical_shares,
)
from mlkube.scheduling.quota import FlavorQuota, QueueQuota
from mlkube.testing.quota_specs import option, vector, workload

HOUR = 3600.0
CPU = ("f", "cpu")


@pytest.mark.parametrize(
    ("elapsed", "half_life", "left"),
    [
        (0, HOUR, 1.0),
        (HOUR, HOUR, 0.5),
        (2 * HOUR, HOUR, 0.25),
        (30 * 60, HOUR, 2**-0.5),
        (-5, HOUR, 1.0),  # a clock step back decays nothing
        (10, 0, 0.0),  # no half-life: no memory
    ],
)
def test_decay_factor(elapsed: float, half_life: float, left: float) -> None:
    assert decay_factor(elapsed, half_life) == pytest.approx(left)


@pytest.mark.parametrize(
    ("start", "held", "now", "expected"),
    [
        # Nothing held: the old amount halves every hour.
        ({CPU: 1000.0}, {}, HOUR, {CPU: 500.0}),
        # Held since the start: the exact decayed integral, u * h/ln2 * (1 - 2^-t/h).
        ({}, {CPU: 2000}, HOUR, {CPU: 2000 * HOUR / math.log(2) * 0.5}),
        # Both: the old amount decays and the holding adds.
        ({CPU: 1000.0}, {CPU: 2000}, HOUR, {CPU: 500.0 + 2000 * HOUR / math.log(2) * 0.5}),
        # Time did not move: nothing changes.
        ({CPU: 1000.0}, {CPU: 2000}, 0.0, {CPU: 1000.0}),
    ],
)
def test_advance(
    start: dict[tuple[str, str], float],
    held: dict[tuple[str, str], int],
    now: float,
    expected: dict[tuple[str, str], float],
) -> None:
    after = advance(UsageHistory(start, 0.0), held, now=now, half_life=HOUR)
    assert after.amounts == pytest.approx(expected)
    assert after.at == max(now, 0.0)


def test_holding_for_ever_converges_to_the_held_share() -> None:
    history = UsageHistory({}, 0.0)
    for tick in range(1, 200):  # 200 ticks of 10 minutes on a virtual clock
        history = advance(history, {CPU: 4000}, now=tick * 600.0, half_life=HOUR)
    share = historical_share(history, {CPU: 8000}, weight=1.0, half_life=HOUR)
    assert share == pytest.approx(0.5, rel=1e-6)  # 4 of the cohort's 8 CPUs, all the time


def test_a_night_of_work_fades_by_the_half_life() -> None:
    night = advance(UsageHistory({}, 0.0), {CPU: 8000}, now=8 * HOUR, half_life=HOUR)
    morning = historical_share(night, {CPU: 8000}, weight=1.0, half_life=HOUR)
    later = advance(night, {}, now=10 * HOUR, half_life=HOUR)
    assert historical_share(later, {CPU: 8000}, weight=1.0, half_life=HOUR) == pytest.approx(
        morning / 4
    )


@pytest.mark.parametrize(
    ("amounts", "weight", "half_life", "share"),
    [
        ({}, 1.0, HOUR, 0.0),
        ({CPU: 4000 * HOUR / math.log(2)}, 1.0, HOUR, 0.5),
        ({CPU: 4000 * HOUR / math.log(2)}, 2.0, HOUR, 0.25),  # weight 2: half the share
        ({CPU: 4000 * HOUR / math.log(2)}, 0.0, HOUR, math.inf),  # weight 0: always last
        ({CPU: 4000 * HOUR / math.log(2)}, 1.0, 0.0, 0.0),  # no half-life: history off
        # Dominant resource: GPUs (1 of 2) outweigh CPU (2 of 8).
        (
            {CPU: 2000 * HOUR / math.log(2), ("f", "nvidia.com/gpu"): 1000 * HOUR / math.log(2)},
            1.0,
            HOUR,
            0.5,
        ),
        ({("other", "cpu"): 1e9}, 1.0, HOUR, 0.0),  # a flavor the cohort has no quota of
    ],
)
def test_historical_share(
    amounts: dict[tuple[str, str], float], weight: float, half_life: float, share: float
) -> None:
    capacity = {CPU: 8000, ("f", "nvidia.com/gpu"): 2000}
    got = historical_share(UsageHistory(amounts, 0.0), capacity, weight=weight, half_life=half_life)
    assert got == pytest.approx(share)


def quotas() -> dict[str, QueueQuota]:
    nominal = vector(cpu=1)
    return {
        "a": QueueQuota("a", {"f": FlavorQuota(nominal)}, cohort="c"),
        "b": QueueQuota("b", {"f": FlavorQuota(nominal)}, cohort="c"),
        "solo": QueueQuota("solo", {"f": FlavorQuota(nominal)}),
    }


def test_cohort_capacity_and_shares_per_queue() -> None:
    assert cohort_capacity(quotas(), "c") == {CPU: 2000}
    used = {CPU: 1000 * HOUR / math.log(2)}
    shares = historical_shares(
        quotas(),
        {"a": UsageHistory(used, 0.0), "solo": UsageHistory(used, 0.0)},
        half_life=HOUR,
    )
    assert shares == {"a": pytest.approx(0.5)}  # a queue outside a cohort competes with nobody


def test_admission_puts_the_queue_with_history_behind() -> None:
    # The cohort has 2 CPUs; each queue's next workload needs both, so only one is admitted.
    older = workload("a-job", "a", option("f", cpu=2), created=1.0)
    younger = workload("b-job", "b", option("f", cpu=2), created=2.0)
    plain = admit(Snapshot(quotas(), pending=(older, younger)), now=10.0)
    assert [a.key for a in plain.admitted] == ["a-job"]  # no history: the older goes first
    history = Snapshot(quotas(), pending=(older, younger), history={"a": 0.3})
    decided = admit(history, now=10.0)
    assert [a.key for a in decided.admitted] == ["b-job"]
    assert decided.pending["a-job"].position == 1
    off = Snapshot(quotas(), pending=(older, younger), history={"a": 0.3}, fair_sharing=False)
    assert [a.key for a in admit(off, now=10.0).admitted] == ["a-job"]
