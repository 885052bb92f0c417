"""Weighted dominant-resource fair sharing among the queues of a cohort (Kueue's fair sharing).

A queue's share is what it borrows beyond its nominal quota, as a fraction of the cohort's
lendable pool, taking the largest fraction over all flavors and resources (the dominant one,
as in DRF), divided by the queue's weight. A queue within its nominal quota has share 0. When
queues compete for the pool, the lowest share goes first, so over time each gets borrowed
capacity in proportion to its weight. A weight of 0 makes the share infinite: such a queue
borrows only what nobody else wants.

With a usage half-life, the order also weighs what each queue used lately (its decayed
resource-seconds, `historical_share`), so a team that ran big jobs all night yields to one that
did not, even when neither borrows at this instant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mlkube.scheduling.quota import FlavorResource, Ledger, QueueQuota


def dominant_share(ledger: Ledger, queue: str) -> float:
    """The queue's weighted dominant share of its cohort's lendable pool (0 if not borrowing)."""
    quota = ledger.quotas[queue]
    if quota.cohort is None:
        return 0.0
    pool = ledger.pool[quota.cohort]
    share = 0.0
    for fr, amount in ledger.borrowed(queue).items():
        size = pool.get(fr, 0)
        # Borrowing from an empty pool can only come from a shrunk quota; count it as all of it.
        share = max(share, amount / size if size > 0 else 1.0)
    if share == 0.0:
        return 0.0
    return math.inf if quota.weight == 0 else share / quota.weight


def order_by_share(ledger: Ledger, queues: Iterable[str]) -> list[str]:
    """Queues from the lowest weighted dominant share to the highest; ties by name."""
    return sorted(queues, key=lambda q: (dominant_share(ledger, q), q))


# -- usage history (Kueue's admission fair sharing, Slurm's decay half-life) -------------------
#
# A queue's history is its resource-seconds (quota units x seconds) per flavor and resource,
# decayed so that what was used one half-life ago counts half. Holding `u` for ever converges to
# `u * half_life / ln 2`, so dividing by that (times the cohort's capacity) gives the average
# fraction of the cohort the queue used lately: the same scale as the instantaneous share.


@dataclass(frozen=True)
class UsageHistory:
    """A queue's decayed resource-seconds as of `at` (seconds since the epoch)."""

    amounts: Mapping[FlavorResource, float]
    at: float


def decay_factor(elapsed: float, half_life: float) -> float:
    """How much of a past amount is left after `elapsed` seconds; 0 when `half_life` is 0
    (no memory: Kueue's `usageHalfLifeTime: 0`)."""
    if half_life <= 0:
        return 0.0
    return float(0.5 ** (max(elapsed, 0.0) / half_life))


def advance(
    history: UsageHistory, held: Mapping[FlavorResource, int], *, now: float, half_life: float
) -> UsageHistory:
    """The history at `now`, given that `held` was held since `history.at`: the old amounts
    decay, and the holding adds its exact decayed integral. A `now` before `history.at` (a
    clock step back) changes nothing."""
    elapsed = now - history.at
    if elapsed <= 0:
        return history
    keep = decay_factor(elapsed, half_life)
    # Integral over the interval of u * 2^-(elapsed - t)/h dt = u * h/ln2 * (1 - 2^-elapsed/h).
    gain = (1.0 - keep) * half_life / math.log(2) if half_life > 0 else 0.0
    amounts = {fr: v * keep for fr, v in history.amounts.items()}
    for fr, u in held.items():
        amounts[fr] = amounts.get(fr, 0.0) + u * gain
    return UsageHistory({fr: v for fr, v in amounts.items() if v > 1e-9}, now)


def cohort_capacity(quotas: Mapping[str, QueueQuota], cohort: str) -> dict[FlavorResource, int]:
    """The sum of the nominal quotas of the cohort's queues, per flavor and resource."""
    total: dict[FlavorResource, int] = {}
    for quota in quotas.values():
        if quota.cohort != cohort:
            continue
        for flavor, fq in quota.flavors.items():
            for resource, amount in fq.nominal.items():
                total[(flavor, resource)] = total.get((flavor, resource), 0) + amount
    return total


def historical_share(
    history: UsageHistory,
    capacity: Mapping[FlavorResource, int],
    *,
    weight: float,
    half_life: float,
) -> float:
    """The weighted dominant share of the cohort's capacity the queue used lately: over
    resources, the largest `decayed resource-seconds / (capacity * half_life / ln 2)`, divided
    by the weight (a weight of 0 with any history: infinite). 0 without a half-life."""
    if half_life <= 0:
        return 0.0
    window = half_life / math.log(2)
    share = 0.0
    for fr, amount in history.amounts.items():
        size = capacity.get(fr, 0)
        if size > 0:
            share = max(share, amount / (size * window))
    if share == 0.0:
        return 0.0
    return math.inf if weight == 0 else share / weight


def historical_shares(
    quotas: Mapping[str, QueueQuota],
    histories: Mapping[str, UsageHistory],
    *,
    half_life: float,
) -> dict[str, float]:
    """Each queue in a cohort with a history: its `historical_share`. Queues outside any cohort
    compete with nobody, so they have none (as with `dominant_share`)."""
    capacities: dict[str, dict[FlavorResource, int]] = {}
    shares: dict[str, float] = {}
    for name, history in histories.items():
        quota = quotas.get(name)
        if quota is None or quota.cohort is None:
            continue
        if quota.cohort not in capacities:
            capacities[quota.cohort] = cohort_capacity(quotas, quota.cohort)
        shares[name] = historical_share(
            history, capacities[quota.cohort], weight=quota.weight, half_life=half_life
        )
    return shares
