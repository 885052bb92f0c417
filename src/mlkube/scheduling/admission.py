"""Admission of pending workloads into team quotas, with borrowing, fallback flavors and gangs.

`admit` is a pure function of a `Snapshot` (quotas, admitted and pending workloads) and `now`:
no I/O, no clock. It admits what fits, in this order: across the queues of a cohort the lowest
weighted dominant share first (what each borrows now plus, with a usage history, what it used
lately; fairshare.py), then higher priority, then older. Within a queue, BestEffortFIFO lets a
workload that does not fit be passed by younger ones that do; StrictFIFO holds the whole queue
behind its head.

For each pod set the flavors are tried in the order the workload lists them (the fallback list);
the first flavor whose quota has room, within the nominal quota or by borrowing from the cohort,
is taken (Kueue's default flavor fungibility). A workload is admitted whole or not at all (gang):
every pod set, every pod. Each workload left pending gets a `PendingReason` naming what is short,
by how much, and its position in its queue, for `mlkube why`.

Preemption is not decided here; see preemption.py.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mlkube.scheduling.fairshare import dominant_share
from mlkube.scheduling.quota import (
    FlavorResource,
    Ledger,
    QueueQuota,
    Workload,
    format_amount,
)


@dataclass(frozen=True)
class Snapshot:
    """Everything admission looks at. Admitted workloads carry their flavors."""

    quotas: Mapping[str, QueueQuota]
    admitted: Sequence[Workload] = ()
    pending: Sequence[Workload] = ()
    fair_sharing: bool = True
    # Per queue, its share of the cohort used lately (fairshare.historical_shares), added to
    # what it borrows now; absent queues have no history.
    history: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Admitted:
    key: str
    flavors: tuple[str, ...]  # one per pod set
    borrows: bool  # the queue is above its nominal quota once this is admitted
    at: float


@dataclass(frozen=True)
class Short:
    """One flavor/resource a pod set could not get."""

    pod_set: str
    flavor: str
    resource: str
    requested: int
    available: int
    limit: str  # which limit binds: "nominal quota", "borrowing limit", "cohort X capacity"

    @property
    def short_by(self) -> int:
        return self.requested - self.available

    def describe(self) -> str:
        r = self.resource
        return (
            f"{self.pod_set}: flavor {self.flavor} {r} needs {format_amount(r, self.requested)}, "
            f"{format_amount(r, self.available)} available under the {self.limit} "
            f"(short by {format_amount(r, self.short_by)})"
        )


@dataclass(frozen=True)
class PendingReason:
    """Why a workload waits: what is short (for each flavor tried), or what it waits behind."""

    key: str
    queue: str
    position: int  # 1-based, among the workloads still pending in its queue
    shortages: tuple[Short, ...] = ()
    blocked_by: str | None = None  # StrictFIFO: the head it waits behind

    def message(self) -> str:
        where = f"position {self.position} in queue {self.queue}"
        if self.blocked_by is not None:
            return f"{where}; waiting behind {self.blocked_by} (StrictFIFO)"
        return f"{where}; " + "; ".join(s.describe() for s in self.shortages)


@dataclass(frozen=True)
class AdmissionDecision:
    admitted: tuple[Admitted, ...]
    pending: Mapping[str, PendingReason]


@dataclass(frozen=True)
class Assignment:
    flavors: tuple[str, ...]  # one per pod set
    usage: dict[FlavorResource, int]  # the whole workload's, per flavor and resource


def assign_flavors(ledger: Ledger, workload: Workload) -> Assignment | tuple[Short, ...]:
    """The first fitting flavor per pod set and the total usage, or what is short.

    Pod sets are assigned in order, each seeing what earlier ones took, so the gang fits as a
    whole. On failure, the shortages of every option of the first pod set that fits nowhere.
    """
    total: dict[FlavorResource, int] = {}
    chosen: list[str] = []
    for pod_set in workload.pod_sets:
        shorts: list[Short] = []
        for option in pod_set.options:
            need = dict(total)
            for resource, amount in option.per_pod.items():
                fr = (option.flavor, resource)
                need[fr] = need.get(fr, 0) + amount * pod_set.count
            missing = ledger.shortages(workload.queue, need)
            if not missing:
                total = need
                chosen.append(option.flavor)
                break
            shorts.extend(
                Short(pod_set.name, f, r, requested, free, limit)
                for (f, r), (limit, requested, free) in missing.items()
            )
        else:
            return tuple(shorts)
    return Assignment(tuple(chosen), total)


def admit(snapshot: Snapshot, *, now: float, ledger: Ledger | None = None) -> AdmissionDecision:
    """Admit what fits now; explain the rest. See the module docstring for the order.

    Cost: O(pending * log queues) fit checks of O(resources) each. A request identical to one
    that already failed in this pass is not checked again (usage only grows within a pass, so
    it fails again); its reason reports the amounts seen at that first check.

    A `ledger` holding exactly `snapshot.admitted` may be passed to save rebuilding it (a
    caller that keeps one across passes); the admitted workloads are added to it, so that it
    then holds the state after this decision.
    """
    book = ledger if ledger is not None else Ledger(snapshot.quotas, snapshot.admitted)
    queues: dict[str, list[Workload]] = {}
    for wl in snapshot.pending:
        queues.setdefault(wl.queue, []).append(wl)
    shares = _Shares(book, fair=snapshot.fair_sharing, history=snapshot.history)
    heap: list[tuple[float, int, float, str, str]] = []
    cursor: dict[str, int] = {}
    waiting: dict[str, list[PendingReason]] = {}
    for name, items in queues.items():
        items.sort(key=lambda w: (-w.priority, w.created, w.key))
        cursor[name] = 0
        waiting[name] = []
        head = items[0]
        heap.append((shares.of(name), -head.priority, head.created, head.key, name))
    heapq.heapify(heap)
    admitted: list[Admitted] = []
    failed: dict[object, tuple[Short, ...]] = {}
    head_blocked: dict[str, str] = {}
    while heap:
        name = heapq.heappop(heap)[4]
        items = queues[name]
        wl = items[cursor[name]]
        cursor[name] += 1
        # Items are taken in queue order, so the position it would wait at is known now.
        behind = waiting[name]
        outcome = _try(book, wl, failed, head_blocked, now=now, position=len(behind) + 1)
        if isinstance(outcome, Admitted):
            admitted.append(outcome)
            shares.changed(name)
        else:
            behind.append(outcome)
        if cursor[name] < len(items):
            nxt = items[cursor[name]]
            heapq.heappush(heap, (shares.of(name), -nxt.priority, nxt.created, nxt.key, name))
    pending = {r.key: r for reasons in waiting.values() for r in reasons}
    return AdmissionDecision(tuple(admitted), pending)


class _Shares:
    """Each queue's dominant share, recomputed only after that queue's usage changed (the pool
    a share is measured against is fixed)."""

    def __init__(self, ledger: Ledger, *, fair: bool, history: Mapping[str, float]) -> None:
        self._ledger = ledger
        self._fair = fair
        self._history = history
        self._cache: dict[str, float] = {}

    def of(self, queue: str) -> float:
        if not self._fair:
            return 0.0
        share = self._cache.get(queue)
        if share is None:
            share = dominant_share(self._ledger, queue) + self._history.get(queue, 0.0)
            self._cache[queue] = share
        return share

    def changed(self, queue: str) -> None:
        self._cache.pop(queue, None)


def _try(
    ledger: Ledger,
    wl: Workload,
    failed: dict[object, tuple[Short, ...]],
    head_blocked: dict[str, str],
    *,
    now: float,
    position: int,
) -> Admitted | PendingReason:
    """Admit `wl` into the ledger at `now`, or say why it waits at `position` in its queue."""
    blocker = head_blocked.get(wl.queue)
    if blocker is not None:
        return PendingReason(wl.key, wl.queue, position, blocked_by=blocker)
    shape = (wl.queue, wl.pod_sets)
    shorts = failed.get(shape)
    if shorts is None:
        result = assign_flavors(ledger, wl)
        if isinstance(result, Assignment):
            ledger.add(wl.queue, result.usage)
            return Admitted(wl.key, result.flavors, ledger.borrows(wl.queue), now)
        shorts = result
        failed[shape] = shorts
    if ledger.quotas[wl.queue].strategy == "StrictFIFO":
        head_blocked[wl.queue] = wl.key
    return PendingReason(wl.key, wl.queue, position, shortages=shorts)
