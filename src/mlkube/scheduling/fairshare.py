"""Weighted dominant-resource fair sharing among the queues of a cohort (Kueue's fair sharing).

A queue's share is what it borrows beyond its nominal quota, as a fraction of the cohort's
lendable pool, taking the largest fraction over all flavors and resources (the dominant one,
as in DRF), divided by the queue's weight. A queue within its nominal quota has share 0. When
queues compete for the pool, the lowest share goes first, so over time each gets borrowed
capacity in proportion to its weight. A weight of 0 makes the share infinite: such a queue
borrows only what nobody else wants.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from mlkube.scheduling.quota import Ledger


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
