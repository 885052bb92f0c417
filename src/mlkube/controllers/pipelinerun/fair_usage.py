"""Each ClusterQueue's decayed usage history, kept by the controller for fair sharing.

The arithmetic is the pure `mlkube.scheduling.fairshare` (decay with a half-life). This book only
remembers which workload has held what since when: a workload's resource-seconds are folded into
its queue's history when it stops being held, and counted as they accrue while it is held. It is
synced with what the node queue holds at every scheduling pass and status write, so a release is
seen at most one pass late.

It survives a restart through the ClusterQueues' `status.fairSharing` (written with the queue
statuses): `from_statuses` reads the history back; work that was running is re-run and counted
again from its new start.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from mlkube.api.queueing import ClusterQueueStatus, FairSharingStatus
from mlkube.scheduling.fairshare import (
    UsageHistory,
    advance,
    dominant_share,
    historical_shares,
)
from mlkube.scheduling.quota import FlavorResource, Ledger, QueueQuota, Workload, is_milli

log = logging.getLogger("mlkube.controllers")

DEFAULT_HALF_LIFE_SECONDS = 3600.0  # Kueue's examples use 1h; Slurm's default is 7 days
# Kueue reports a weight-0 queue that borrows as MaxInt64; JSON has no infinity.
INFINITE_SHARE = float(sys.maxsize)


@dataclass(frozen=True)
class _Holding:
    queue: str
    usage: Mapping[FlavorResource, int]
    since: float


class FairUsageBook:
    """Decayed usage per queue plus what is held now. Only the controller's worker thread
    changes it; status writes read it on the same thread."""

    def __init__(
        self, half_life: float, histories: Mapping[str, UsageHistory] | None = None
    ) -> None:
        if half_life < 0 or math.isnan(half_life):
            raise ValueError(f"usage half-life must be 0 or more seconds, got {half_life}")
        self.half_life = half_life
        self.histories: dict[str, UsageHistory] = dict(histories or {})
        self._holding: dict[str, _Holding] = {}

    @classmethod
    def from_statuses(cls, half_life: float, queues: Iterable[Mapping[str, Any]]) -> FairUsageBook:
        """A book holding the histories stored in these ClusterQueue objects' statuses (one
        that does not parse is skipped and logged: it only costs that queue its history)."""
        histories: dict[str, UsageHistory] = {}
        for obj in queues:
            name = str((obj.get("metadata") or {}).get("name") or "")
            try:
                status = ClusterQueueStatus.model_validate(obj.get("status") or {})
            except ValidationError as err:
                log.error("ignoring the fair-sharing status of ClusterQueue %s: %s", name, err)
                continue
            if status.fair_sharing is not None and status.fair_sharing.last_update is not None:
                histories[name] = history_of(status.fair_sharing)
        return cls(half_life, histories)

    def sync(self, held: Iterable[Workload], *, now: float) -> None:
        """Fold in what stopped being held since the last sync; start counting what is new."""
        current = {w.key: w for w in held}
        for key in [k for k in self._holding if k not in current]:
            self._fold(self._holding.pop(key), now)
        for key, workload in current.items():
            if key not in self._holding:
                self._holding[key] = _Holding(workload.queue, dict(workload.usage()), now)

    def history(self, queue: str, *, now: float) -> UsageHistory:
        """The queue's decayed resource-seconds at `now`, what it holds now included."""
        past = self.histories.get(queue, UsageHistory({}, now))
        total = dict(advance(past, {}, now=now, half_life=self.half_life).amounts)
        for holding in self._holding.values():
            if holding.queue == queue:
                accrued = advance(
                    UsageHistory({}, holding.since),
                    holding.usage,
                    now=now,
                    half_life=self.half_life,
                )
                for fr, amount in accrued.amounts.items():
                    total[fr] = total.get(fr, 0.0) + amount
        # A clock stepped back leaves the amounts as of `past.at` (see `_fold`).
        return UsageHistory(total, max(now, past.at))

    def shares(self, quotas: Mapping[str, QueueQuota], *, now: float) -> dict[str, float]:
        """Each queue's historical share (see `fairshare.historical_shares`) at `now`."""
        names = set(self.histories) | {h.queue for h in self._holding.values()}
        histories = {name: self.history(name, now=now) for name in names if name in quotas}
        return historical_shares(quotas, histories, half_life=self.half_life)

    def statuses(self, ledger: Ledger, *, now: float) -> dict[str, FairSharingStatus]:
        """What each queue's `status.fairSharing` shows: the share admission orders it by (what
        it borrows now plus what it used lately) and its decayed resource-seconds."""
        shares = self.shares(ledger.quotas, now=now)
        out = {}
        for queue in ledger.quotas:
            share = dominant_share(ledger, queue) + shares.get(queue, 0.0)
            consumed: dict[str, dict[str, float]] = {}
            history = self.history(queue, now=now)
            for (flavor, resource), amount in sorted(history.amounts.items()):
                unit = 1000 if is_milli(resource) else 1
                consumed.setdefault(flavor, {})[resource] = round(amount / unit, 3)
            out[queue] = FairSharingStatus(
                weighted_share=round(min(share, INFINITE_SHARE), 6),
                consumed_resource_seconds=consumed,
                # Read back after a restart and decayed from here: the amounts' own date.
                last_update=datetime.fromtimestamp(history.at, UTC),
            )
        return out

    def _fold(self, holding: _Holding, now: float) -> None:
        accrued = advance(
            UsageHistory({}, holding.since), holding.usage, now=now, half_life=self.half_life
        )
        past = self.histories.get(holding.queue, UsageHistory({}, now))
        past = advance(past, {}, now=now, half_life=self.half_life)
        amounts = dict(past.amounts)
        for fr, amount in accrued.amounts.items():
            amounts[fr] = amounts.get(fr, 0.0) + amount
        # After a clock step back the amounts are as of `past.at`, not `now`: dating them
        # earlier would decay them again over the stepped-back interval.
        self.histories[holding.queue] = UsageHistory(amounts, max(now, past.at))


def history_of(status: FairSharingStatus) -> UsageHistory:
    """The history a stored `status.fairSharing` describes, back in quota units."""
    assert status.last_update is not None
    amounts: dict[FlavorResource, float] = {}
    for flavor, resources in status.consumed_resource_seconds.items():
        for resource, seconds in resources.items():
            amounts[(flavor, resource)] = seconds * (1000 if is_milli(resource) else 1)
    return UsageHistory(amounts, status.last_update.timestamp())
